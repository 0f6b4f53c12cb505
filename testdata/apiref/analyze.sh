curl -sS -X POST http://127.0.0.1:4318/api/traces/trace_curl_1/analyze \
-H "Authorization: Bearer pt_console_token"
