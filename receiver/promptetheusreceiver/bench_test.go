// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/metadata"
)

// benchEvent is event seq of a run, a mix like an agent's (the e2e
// side-by-side benchmark's): LLM calls, tool calls with their results,
// messages.
func benchEvent(run string, seq int) string {
	head := fmt.Sprintf(`"session_id":%q,"timestamp":"2026-06-12T12:34:56.%06dZ","seq":%d,"idempotency_key":"%s:n:%d"`, run, seq, seq, run, seq)
	switch seq % 4 {
	case 0:
		return `{"type":"llm_call",` + head + `,"payload":{"model":"gpt-5","prompt_ref":"planner_v3","input_tokens":1200,"output_tokens":300,"latency_ms":1500}}`
	case 1:
		return `{"type":"tool_call",` + head + fmt.Sprintf(`,"payload":{"tool_name":"calendar.search","arguments":{"day":"tuesday"},"call_id":"c%d"}}`, seq)
	case 2:
		return `{"type":"tool_result",` + head + fmt.Sprintf(`,"payload":{"call_id":"c%d","result":{"slots":["14:00","15:00"]}}}`, seq-1)
	}
	return `{"type":"agent_message",` + head + `,"payload":{"content":"I found two free slots on Tuesday afternoon."}}`
}

// BenchmarkAppendBatch measures the receiver's whole request path for an
// SDK batch of 50 events (auth, decode, dedup, mapping, steps, and with
// file_storage the write before the spans go out), without the network,
// into a consumer that discards.
func BenchmarkAppendBatch(b *testing.B) {
	for _, mode := range []string{"memory", "file_storage"} {
		b.Run(mode, func(b *testing.B) {
			cfg := testReceiverConfig(&testing.T{})
			cfg.Artifacts.Directory = b.TempDir()
			cfg.Sessions.MaxRuns = 1 << 20
			cfg.Sessions.MaxBytes = 1 << 40
			host := component.Host(componenttest.NewNopHost())
			if mode == "file_storage" {
				st := openStorage(&testing.T{}, b.TempDir())
				defer func() { _ = st.Shutdown(context.Background()) }()
				cfg.Storage = &storageID
				host = storageHost{Host: host, exts: map[component.ID]component.Component{storageID: st}}
			}
			r, err := NewFactory().CreateTraces(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			if err := r.Start(context.Background(), host); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = r.Shutdown(context.Background()) }()
			handler := r.(*promptetheusReceiver).routes()

			// Each generation is 100 fresh runs of 10 batches, so that every
			// request appends new events (a replay would only measure dedup).
			const runs, batches = 100, 10
			type request struct {
				id   string
				body []byte
			}
			var reqs []request
			newGeneration := func(gen int) {
				reqs = reqs[:0]
				for bt := range batches {
					for n := range runs {
						id := fmt.Sprintf("bench%d_%04d", gen, n)
						var events []string
						for seq := bt * 50; seq < (bt+1)*50; seq++ {
							events = append(events, benchEvent(id, seq))
						}
						reqs = append(reqs, request{id, []byte(`{"events":[` + strings.Join(events, ",") + `]}`)})
					}
				}
			}
			newGeneration(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				k := i % len(reqs)
				if k == 0 && i > 0 {
					b.StopTimer()
					newGeneration(i / len(reqs))
					b.StartTimer()
				}
				req := httptest.NewRequest(http.MethodPost, "/api/traces/"+reqs[k].id+"/events", bytes.NewReader(reqs[k].body))
				req.Header.Set("Authorization", "Bearer "+testKey)
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !bytes.HasPrefix(rec.Body.Bytes(), []byte(`{"accepted":50,"rejected":[]}`)) {
					b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*50), "ns/event")
		})
	}
}
