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

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/metadata"
)

// BenchmarkAppendBatch measures the receiver's whole request path for an
// SDK batch of 50 events (auth, decode, dedup, mapping, steps), without the
// network, into a consumer that discards.
func BenchmarkAppendBatch(b *testing.B) {
	cfg := testReceiverConfig(&testing.T{})
	cfg.Artifacts.Directory = b.TempDir()
	cfg.Sessions.MaxRuns = 1 << 20
	r, err := NewFactory().CreateTraces(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = r.Shutdown(context.Background()) }()
	handler := r.(*promptetheusReceiver).routes()

	// Each generation is 1000 fresh runs, so that every request appends
	// new events (a replay would only measure dedup).
	const runs = 1000
	ids := make([]string, runs)
	bodies := make([][]byte, runs)
	newGeneration := func(gen int) {
		for n := range runs {
			ids[n] = fmt.Sprintf("bench%d_%04d", gen, n)
			var events []string
			for seq := range 50 {
				events = append(events, fmt.Sprintf(`{"type":"llm_call","session_id":%q,"timestamp":"2026-06-12T12:34:56.123456Z","seq":%d,"idempotency_key":"%s:n:%d","payload":{"model":"gpt-5","prompt_ref":"p","input_tokens":1200,"output_tokens":300,"latency_ms":1500}}`, ids[n], seq, ids[n], seq))
			}
			bodies[n] = []byte(`{"events":[` + strings.Join(events, ",") + `]}`)
		}
	}
	newGeneration(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		n := i % runs
		if n == 0 && i > 0 {
			b.StopTimer()
			newGeneration(i / runs)
			b.StartTimer()
		}
		req := httptest.NewRequest(http.MethodPost, "/api/traces/"+ids[n]+"/events", bytes.NewReader(bodies[n]))
		req.Header.Set("Authorization", "Bearer "+testKey)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !bytes.HasPrefix(rec.Body.Bytes(), []byte(`{"accepted":50,"rejected":[]}`)) {
			b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*50), "ns/event")
}
