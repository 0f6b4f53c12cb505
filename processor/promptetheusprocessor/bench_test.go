// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusprocessor

import (
	"context"
	"fmt"
	"testing"
	"unsafe"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

// benchAgentTrace is an agent run of n steps (LLM calls and tool calls in
// turn) in batches of 50 spans, then its invoke_agent root.
func benchAgentTrace(n int) (batches []ptrace.Traces, root ptrace.Traces) {
	b := traceBuilder{traceID: pcommon.TraceID{0xbe, 1}, base: base}
	for i := 0; i < n; i += 50 {
		td, spans := b.batch("travel-agent")
		for k := i; k < min(i+50, n); k++ {
			attrs := map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10}
			name := "chat gpt-4o"
			if k%2 == 1 {
				attrs = map[string]any{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search", "gen_ai.tool.call.arguments": fmt.Sprint(k % 7)}
				name = "execute_tool search"
			}
			s := b.span(spans, 0, 1, name, k, attrs)
			s.SetSpanID(pcommon.SpanID{2, byte(k >> 16), byte(k >> 8), byte(k)})
		}
		batches = append(batches, td)
	}
	root, spans := b.batch("travel-agent")
	b.span(spans, 1, 0, "invoke_agent travel", 0, map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "travel"})
	return batches, root
}

// factsBytes estimates the memory a trace's facts hold.
func factsBytes(f *traceFacts) int {
	b := int(unsafe.Sizeof(*f))
	for _, s := range f.steps {
		b += int(unsafe.Sizeof(s)) + len(s.Name) + len(s.ArgsHash)
		if s.Detail != nil {
			d := s.Detail
			b += int(unsafe.Sizeof(*d)) + len(d.Text) + len(d.Target) + len(d.URL) + len(d.Value) + len(d.ErrorText) + len(d.Status)
		}
	}
	b += len(f.seen) * 2 * int(unsafe.Sizeof(pcommon.SpanID{})) // its entry in the seen set
	return b
}

// BenchmarkConsumeSpans measures the cost per span of streaming an agent
// trace through the processor, the verdict included, and reports the
// state kept per trace while it is open.
func BenchmarkConsumeSpans(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("spans=%d", n), func(b *testing.B) {
			p := newTestProcessor(b, func(c *Config) { c.MaxStepsPerTrace = 20000 })
			p.next = discard{}
			batches, root := benchAgentTrace(n)
			var stateBytes int
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for _, td := range batches {
					_ = p.ConsumeTraces(context.Background(), cloneTraces(td))
				}
				b.StopTimer()
				p.facts.mu.Lock()
				stateBytes = factsBytes(p.facts.byID[pcommon.TraceID{0xbe, 1}])
				p.facts.mu.Unlock()
				clone := cloneTraces(root)
				b.StartTimer()
				_ = p.ConsumeTraces(context.Background(), clone)
				b.StopTimer()
				p.facts = newFactStore(p.cfg)
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(n+1)), "ns/span")
			b.ReportMetric(float64(stateBytes), "state-bytes/trace")
			b.ReportMetric(float64(stateBytes)/float64(n), "state-bytes/span")
		})
	}
}

// BenchmarkPassThrough measures what a trace that is not an agent's costs:
// a web request of 20 spans through the processor, against the same
// batches handed on directly (the baseline: copying the input).
func BenchmarkPassThrough(b *testing.B) {
	td := ptrace.NewTraces()
	for i := range 20 {
		w := webTrace()
		w.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetTraceID(pcommon.TraceID{0xaa, byte(i)})
		w.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	b.Run("baseline", func(b *testing.B) {
		for range b.N {
			_ = discard{}.ConsumeTraces(context.Background(), cloneTraces(td))
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*td.SpanCount()), "ns/span")
	})
	b.Run("processor", func(b *testing.B) {
		p := newTestProcessor(b, nil)
		p.next = discard{}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			_ = p.ConsumeTraces(context.Background(), cloneTraces(td))
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*td.SpanCount()), "ns/span")
		if p.facts.len() != 0 {
			b.Fatal("a web trace left state")
		}
	})
}

// BenchmarkEvaluate measures the trace rules alone over n steps.
func BenchmarkEvaluate(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprintf("steps=%d", n), func(b *testing.B) {
			steps := make([]rules.Step, n)
			for i := range steps {
				steps[i] = rules.Step{Seq: int64(i), Kind: rules.KindToolCall, Name: "search", ArgsHash: fmt.Sprint(i % 7), SpanID: rules.SpanRef{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 1}}
			}
			e := rules.NewEngine(rules.DefaultConfig())
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				_ = e.Evaluate(rules.Run{UserGoal: "Book Tuesday at 2pm, stop at confirmation"}, steps)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/step")
		})
	}
}

type discard struct{}

func (discard) ConsumeTraces(context.Context, ptrace.Traces) error { return nil }
func (discard) Capabilities() consumer.Capabilities                { return consumer.Capabilities{} }
