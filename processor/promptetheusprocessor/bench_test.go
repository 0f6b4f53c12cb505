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

// benchTrace is a run of n steps: LLM calls and tool calls in turn, then the
// root, in batches of 50 spans as the receiver emits them.
func benchTrace(n int) (batches []ptrace.Traces, root ptrace.Traces) {
	children, r := genAITrace()
	proto := children.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < n; i += 50 {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "travel-agent")
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for k := i; k < min(i+50, n); k++ {
			s := spans.AppendEmpty()
			proto.At(k % proto.Len()).CopyTo(s)
			s.SetSpanID(pcommon.SpanID([8]byte{1, byte(k >> 16), byte(k >> 8), byte(k)}))
			s.Attributes().PutInt("promptetheus.event.seq", int64(k))
		}
		batches = append(batches, td)
	}
	return batches, r
}

// factsBytes estimates the memory a trace's facts hold.
func factsBytes(f *traceFacts) int {
	b := int(unsafe.Sizeof(*f))
	for _, s := range f.steps {
		// Kind strings are constants; names and hashes are the step's own.
		b += int(unsafe.Sizeof(s)) + len(s.Name) + len(s.ArgsHash)
		if s.Detail != nil {
			d := s.Detail
			b += int(unsafe.Sizeof(*d)) + len(d.Text) + len(d.Target) + len(d.URL) + len(d.Value) + len(d.ErrorText) + len(d.Status)
		}
		b += 2 * int(unsafe.Sizeof(s.SpanID)) // its entry in the span id set
	}
	return b
}

// BenchmarkConsumeSpans measures the cost per span of streaming a trace
// through the processor, trace rules at the root included, and reports the
// per-trace state kept while the trace is open.
func BenchmarkConsumeSpans(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("spans=%d", n), func(b *testing.B) {
			p, _ := newTestProcessor(b, nil)
			p.next = discard{}
			batches, root := benchTrace(n)
			var stateBytes int
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for _, td := range batches {
					clone := ptrace.NewTraces()
					td.CopyTo(clone)
					_ = p.ConsumeTraces(context.Background(), clone)
				}
				b.StopTimer()
				tid := root.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID()
				p.facts.mu.Lock()
				stateBytes = factsBytes(p.facts.byID[tid])
				p.facts.mu.Unlock()
				clone := ptrace.NewTraces()
				root.CopyTo(clone)
				b.StartTimer()
				_ = p.ConsumeTraces(context.Background(), clone)
				b.StopTimer()
				p.facts = newFactStore(p.cfg.NumTraces)
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/span")
			b.ReportMetric(float64(stateBytes), "state-bytes/trace")
			b.ReportMetric(float64(stateBytes)/float64(n), "state-bytes/span")
		})
	}
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
