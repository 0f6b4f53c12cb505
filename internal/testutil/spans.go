// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package testutil holds helpers shared by this module's tests.
package testutil // import "github.com/promptetheus/otelcol-promptetheus/internal/testutil"

import (
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// SpansOf returns every span the sink received, in the order received.
func SpansOf(sink *consumertest.TracesSink) []ptrace.Span {
	var out []ptrace.Span
	for _, td := range sink.AllTraces() {
		out = append(out, SpansOfTraces(td)...)
	}
	return out
}

// SpansOfTraces returns the spans of td in order.
func SpansOfTraces(td ptrace.Traces) []ptrace.Span {
	var out []ptrace.Span
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		ss := td.ResourceSpans().At(i).ScopeSpans()
		for j := 0; j < ss.Len(); j++ {
			for k := 0; k < ss.At(j).Spans().Len(); k++ {
				out = append(out, ss.At(j).Spans().At(k))
			}
		}
	}
	return out
}
