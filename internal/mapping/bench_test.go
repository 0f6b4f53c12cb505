// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package mapping

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/promptetheus/otelcol-promptetheus/internal/pricing"
	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
)

// BenchmarkMapBatch measures mapping 50 decoded llm_call events to spans,
// without and with the price table (a cost lookup per call).
func BenchmarkMapBatch(b *testing.B) {
	var raws []json.RawMessage
	var events []wire.Event
	for i := range 50 {
		raw := json.RawMessage(fmt.Sprintf(`{"type":"llm_call","session_id":"r","timestamp":"2026-06-12T12:34:56.123456Z","seq":%d,"idempotency_key":"r:n:%d","payload":{"model":"gpt-5","prompt_ref":"p1","input_tokens":240,"output_tokens":80,"latency_ms":1260}}`, i, i))
		ev, err := wire.DecodeEvent(raw, "r")
		if err != nil {
			b.Fatal(err)
		}
		raws, events = append(raws, raw), append(events, ev)
	}
	prices, err := pricing.Load(nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		prices *pricing.Table
	}{{"no_prices", nil}, {"prices", prices}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := Config{CaptureContent: true, MaxAttributeLength: 2048, MaxArrayLength: 128, Prices: bc.prices}
			run := Run{Project: "p", ID: "r", Agent: "agent"}
			b.ReportAllocs()
			for range b.N {
				bld := NewBuilder(&cfg, &run)
				pending := NewPending()
				for i := range events {
					bld.Add(&events[i], raws[i], &pending, false)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*50), "ns/event")
		})
	}
}
