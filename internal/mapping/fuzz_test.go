// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package mapping

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/pricing"
	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
)

// FuzzMapEvent maps any event that validates and checks the spans: ids
// never zero, strings within the limit and valid UTF-8 (the OTLP protobuf
// a backend decodes), payload depth and arrays bounded.
func FuzzMapEvent(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, in := range inputs {
		body, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		var c goldenCase
		if err := json.Unmarshal(body, &c); err != nil {
			f.Fatal(err)
		}
		for _, e := range c.Events {
			f.Add([]byte(e), uint8(16))
		}
	}
	prices, err := pricing.Load(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte, limit uint8) {
		ev, err := wire.DecodeEvent(raw, "run")
		if err != nil {
			return
		}
		// The limit applies to client strings; our fixed names (event types,
		// operation names) are shorter than 32 bytes.
		cfg := Config{CaptureContent: true, MaxAttributeLength: int(limit) + 32, MaxArrayLength: 4, Prices: prices}
		run := Run{Project: "p", ID: "run", Agent: "a", Metadata: ev.Metadata}
		b := NewBuilder(&cfg, &run)
		pending := NewPending()
		b.Add(&ev, raw, &pending, false)
		b.FlushPending(&pending, run.ID)
		sum := NewSummary()
		sum.Count(&ev)
		sum.Widen(b)
		b.AddRoot(&sum, time.Unix(0, 0), "analyze")

		td := b.Traces()
		body, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(body); err != nil {
			t.Fatalf("a backend could not decode our spans: %v", err)
		}
		rs := td.ResourceSpans().At(0)
		checkAttributes(t, &cfg, rs.Resource().Attributes())
		spans := rs.ScopeSpans().At(0).Spans()
		for i := 0; i < spans.Len(); i++ {
			s := spans.At(i)
			if s.TraceID().IsEmpty() || s.SpanID().IsEmpty() {
				t.Fatalf("zero id on %q", s.Name())
			}
			if len(s.Name()) > cfg.MaxAttributeLength || !utf8.ValidString(s.Name()) {
				t.Fatalf("span name %q", s.Name())
			}
			checkAttributes(t, &cfg, s.Attributes())
			for j := 0; j < s.Events().Len(); j++ {
				checkAttributes(t, &cfg, s.Events().At(j).Attributes())
			}
		}
	})
}

func checkAttributes(t *testing.T, cfg *Config, attrs pcommon.Map) {
	attrs.Range(func(k string, v pcommon.Value) bool {
		if !utf8.ValidString(k) {
			t.Fatalf("attribute key %q is not UTF-8", k)
		}
		switch v.Type() {
		case pcommon.ValueTypeStr:
			if !utf8.ValidString(v.Str()) {
				t.Fatalf("%s is not UTF-8", k)
			}
			if len(v.Str()) > cfg.MaxAttributeLength {
				t.Fatalf("%s is %d bytes, over %d", k, len(v.Str()), cfg.MaxAttributeLength)
			}
		case pcommon.ValueTypeSlice:
			if v.Slice().Len() > cfg.MaxArrayLength {
				t.Fatalf("%s has %d items", k, v.Slice().Len())
			}
			for i := 0; i < v.Slice().Len(); i++ {
				if e := v.Slice().At(i).AsString(); !utf8.ValidString(e) || len(e) > cfg.MaxAttributeLength {
					t.Fatalf("%s[%d] = %q", k, i, e)
				}
			}
		case pcommon.ValueTypeMap:
			t.Fatalf("%s: nested maps are flattened or rendered as JSON", k)
		case pcommon.ValueTypeDouble:
			if d := v.Double(); k == conventions.AttrCostUSD && (d < 0 || math.IsInf(d, 0) || math.IsNaN(d)) {
				t.Fatalf("%s = %v", k, d)
			}
		}
		return true
	})
}
