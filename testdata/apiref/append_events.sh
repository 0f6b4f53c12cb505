curl -sS -X POST http://127.0.0.1:4318/api/traces/trace_curl_1/events \
-H "Authorization: Bearer pt_dev_key" \
-H "Content-Type: application/json" \
-d '{
"events": [{
"type": "user_message",
"session_id": "trace_curl_1",
"timestamp": "2026-01-01T00:00:00Z",
"seq": 0,
"idempotency_key": "trace_curl_1:dev:0",
"payload": {"content": "Book Tuesday"}
}]
}'
