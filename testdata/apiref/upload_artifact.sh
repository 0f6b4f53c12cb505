curl -sS -X POST http://127.0.0.1:4318/api/traces/trace_curl_1/artifacts \
-H "Authorization: Bearer pt_dev_key" \
-H "Content-Type: image/png" \
-H "X-Promptetheus-Filename: screenshot.png" \
-H "X-Promptetheus-Artifact-Type: screenshot" \
--data-binary @screenshot.png
