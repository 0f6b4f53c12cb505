// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentmetricsconnector

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
)

// benchBatch is one batch of the golden receiver runs (agent spans and a web
// request), or only web requests of the same span count.
func benchBatch(b *testing.B, webOnly bool) ptrace.Traces {
	td, err := readTracesFile("promptetheus_runs")
	require.NoError(b, err)
	if !webOnly {
		return td
	}
	web := ptrace.NewTraces()
	for web.SpanCount() < td.SpanCount() {
		td.ResourceSpans().At(2).CopyTo(web.ResourceSpans().AppendEmpty())
	}
	return web
}

// renumber gives the batch's spans fresh trace ids, as the next runs have.
func renumber(td ptrace.Traces, n uint64) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		for j := 0; j < rss.At(i).ScopeSpans().Len(); j++ {
			spans := rss.At(i).ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				id := spans.At(k).TraceID()
				for x := range 8 {
					id[8+x] = byte(n >> (8 * x))
				}
				spans.At(k).SetTraceID(id)
			}
		}
	}
}

// BenchmarkConsumeTraces measures the connector per batch of agent runs and
// per batch of web requests it measures nothing of, against contrib's
// spanmetrics connector (default configuration) on the same batch.
func BenchmarkConsumeTraces(b *testing.B) {
	for _, tc := range []struct {
		name    string
		factory connector.Factory
		webOnly bool
	}{
		{"spanmetrics/agent_runs", spanmetricsconnector.NewFactory(), false},
		{"agent_metrics/agent_runs", NewFactory(), false},
		{"agent_metrics/web_requests", NewFactory(), true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			td := benchBatch(b, tc.webOnly)
			set := connectortest.NewNopSettings(tc.factory.Type())
			c, err := tc.factory.CreateTracesToMetrics(context.Background(), set, tc.factory.CreateDefaultConfig(), consumertest.NewNop())
			require.NoError(b, err)
			require.NoError(b, c.Start(context.Background(), componenttest.NewNopHost()))
			defer func() { require.NoError(b, c.Shutdown(context.Background())) }()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				renumber(td, uint64(i))
				if err := c.ConsumeTraces(context.Background(), td); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*td.SpanCount()), "ns/span")
		})
	}
}

// BenchmarkSeriesMemory measures the heap a series of promptetheus.agent.runs
// holds (agent, project and outcome attributes) and the cost of a flush.
func BenchmarkSeriesMemory(b *testing.B) {
	const agents = 10000
	cfg := createDefaultConfig().(*Config)
	cfg.AggregationCardinalityLimit = agents + 1
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr(conventions.AttrProjectID, "proj_acmemeet")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := range agents {
		s := spans.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{byte(i), byte(i >> 8), 1})
		s.SetSpanID(pcommon.SpanID{1})
		s.Attributes().PutStr(conventions.AttrGenAIAgentName, fmt.Sprintf("agent-%05d", i))
		s.Attributes().PutInt(conventions.AttrFindingCount, 0)
	}
	b.ReportAllocs()
	var perSeries float64
	for b.Loop() {
		c, err := newConnector(cfg, connectortest.NewNopSettings(NewFactory().Type()), consumertest.NewNop())
		require.NoError(b, err)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		require.NoError(b, c.ConsumeTraces(context.Background(), td))
		runtime.GC()
		runtime.ReadMemStats(&after)
		perSeries = float64(after.HeapAlloc-before.HeapAlloc) / agents
		_ = c.build()
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perSeries, "B/series")
}
