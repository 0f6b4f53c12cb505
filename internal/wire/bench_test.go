// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"fmt"
	"strings"
	"testing"
)

// sdkBatch is a batch of n events as the SDK sends them (50 per request).
func sdkBatch(n int) []byte {
	var parts []string
	for i := range n {
		switch i % 3 {
		case 0:
			parts = append(parts, fmt.Sprintf(`{"type":"llm_call","session_id":"01J9XQABCDEFGHJKMNPQRSTVW","timestamp":"2026-06-12T12:34:56.123456Z","seq":%d,"idempotency_key":"01J9XQABCDEFGHJKMNPQRSTVW:a1b2c3d4:%d","payload":{"model":"gpt-5","prompt_ref":"p1","input_tokens":240,"output_tokens":80,"latency_ms":1260}}`, i, i))
		case 1:
			parts = append(parts, fmt.Sprintf(`{"type":"tool_call","session_id":"01J9XQABCDEFGHJKMNPQRSTVW","timestamp":"2026-06-12T12:34:56.123456Z","seq":%d,"idempotency_key":"01J9XQABCDEFGHJKMNPQRSTVW:a1b2c3d4:%d","payload":{"tool_name":"calendar.search","arguments":{"day":"tuesday","tz":"PT"},"call_id":"c%d"}}`, i, i, i))
		default:
			parts = append(parts, fmt.Sprintf(`{"type":"agent_message","session_id":"01J9XQABCDEFGHJKMNPQRSTVW","timestamp":"2026-06-12T12:34:56.123456Z","seq":%d,"idempotency_key":"01J9XQABCDEFGHJKMNPQRSTVW:a1b2c3d4:%d","payload":{"content":"I found two slots on Tuesday afternoon."}}`, i, i))
		}
	}
	return []byte(`{"events":[` + strings.Join(parts, ",") + `]}`)
}

// BenchmarkDecodeBatch measures splitting and validating an SDK batch.
func BenchmarkDecodeBatch(b *testing.B) {
	body := sdkBatch(50)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for range b.N {
		eb, err := DecodeEventBody(body, "run", 1000)
		if err != nil {
			b.Fatal(err)
		}
		for i := range eb.Events {
			if _, err := eb.Event(i); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*50), "ns/event")
}
