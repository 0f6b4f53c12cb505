curl -sS -X POST http://127.0.0.1:4318/api/traces \
-H "Authorization: Bearer pt_dev_key" \
-H "Content-Type: application/json" \
-d '{"user_goal":"Book a room for Tuesday","agent":"demo-agent","id":"trace_curl_1"}'
