// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentmetricsconnector

import (
	"context"
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/promptetheus/otelcol-promptetheus/connector/agentmetricsconnector/internal/metadatatest"
	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
)

var update = flag.Bool("update", false, "rewrite the expected metrics in testdata/metrics")

// clock is a settable time for the connector under test.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

type harness struct {
	c     *agentMetricsConnector
	sink  *consumertest.MetricsSink
	tel   *componenttest.Telemetry
	clock *clock
}

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	set.BuildInfo.Version = "test"
	sink := new(consumertest.MetricsSink)
	c, err := newConnector(cfg, set, sink)
	require.NoError(t, err)
	h := &harness{c: c, sink: sink, tel: tel, clock: &clock{t: t0}}
	c.now = h.clock.now
	return h
}

func readTraces(t *testing.T, name string) ptrace.Traces {
	t.Helper()
	td, err := readTracesFile(name)
	require.NoError(t, err)
	return td
}

func readTracesFile(name string) (ptrace.Traces, error) {
	return golden.ReadTraces(filepath.Join("testdata", "traces", name+".yaml"))
}

func TestGolden(t *testing.T) {
	for _, name := range []string{"promptetheus_runs", "otlp_dialects"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, nil)
			require.NoError(t, h.c.ConsumeTraces(context.Background(), readTraces(t, name)))
			h.clock.t = t0.Add(15 * time.Second)
			got := h.c.build()
			path := filepath.Join("testdata", "metrics", name+".yaml")
			if *update {
				golden.WriteMetrics(t, path, got)
			}
			want, err := golden.ReadMetrics(path)
			require.NoError(t, err)
			require.NoError(t, pmetrictest.CompareMetrics(want, got, pmetrictest.IgnoreMetricDataPointsOrder(),
				pmetrictest.IgnoreTimestamp(), pmetrictest.IgnoreStartTimestamp())) // timestamps: TestCumulativeAcrossFlushes
		})
	}
}

// point finds the data point of a metric whose attributes are exactly attrs.
func point(t *testing.T, md pmetric.Metrics, name string, attrs map[string]any) (pmetric.NumberDataPoint, pmetric.HistogramDataPoint, bool) {
	t.Helper()
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		m := ms.At(i)
		if m.Name() != name {
			continue
		}
		switch m.Type() {
		case pmetric.MetricTypeSum:
			for j := 0; j < m.Sum().DataPoints().Len(); j++ {
				if dp := m.Sum().DataPoints().At(j); assert.ObjectsAreEqual(attrs, dp.Attributes().AsRaw()) {
					return dp, pmetric.NewHistogramDataPoint(), true
				}
			}
		case pmetric.MetricTypeHistogram:
			for j := 0; j < m.Histogram().DataPoints().Len(); j++ {
				if dp := m.Histogram().DataPoints().At(j); assert.ObjectsAreEqual(attrs, dp.Attributes().AsRaw()) {
					return pmetric.NewNumberDataPoint(), dp, true
				}
			}
		}
	}
	return pmetric.NewNumberDataPoint(), pmetric.NewHistogramDataPoint(), false
}

// TestRunsFindingsAndCalls states what the golden files hold for the
// receiver's runs, so a wrong golden file cannot pass unnoticed.
func TestRunsFindingsAndCalls(t *testing.T) {
	h := newHarness(t, nil)
	require.NoError(t, h.c.ConsumeTraces(context.Background(), readTraces(t, "promptetheus_runs")))
	md := h.c.build()

	booking := func(kv ...any) map[string]any {
		m := map[string]any{"gen_ai.agent.name": "booking-agent", "promptetheus.project.id": "proj_acmemeet"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	for outcome, agent := range map[string]string{"passed": "booking-agent", "failed": "booking-agent", "unknown": "support-agent"} {
		dp, _, ok := point(t, md, "promptetheus.agent.runs", map[string]any{
			"gen_ai.agent.name": agent, "promptetheus.project.id": "proj_acmemeet", "promptetheus.run.outcome": outcome,
		})
		require.True(t, ok, outcome)
		assert.EqualValues(t, 1, dp.IntValue(), outcome)
	}
	_, run, ok := point(t, md, "promptetheus.agent.run.duration", booking("promptetheus.run.outcome", "failed"))
	require.True(t, ok)
	assert.EqualValues(t, 1, run.Count())
	assert.InDelta(t, 95.0, run.Sum(), 1e-9)
	assert.Equal(t, []uint64{0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, run.BucketCounts().AsRaw(), "95 s is in (60, 120]")

	loop, _, ok := point(t, md, "promptetheus.agent.findings", map[string]any{
		"gen_ai.agent.name": "support-agent", "promptetheus.project.id": "proj_acmemeet",
		"promptetheus.finding.rule_id": "loop", "promptetheus.finding.severity": "medium",
	})
	require.True(t, ok)
	assert.EqualValues(t, 1, loop.IntValue())

	cost, _, ok := point(t, md, "promptetheus.agent.cost", booking("gen_ai.request.model", "gpt-5", "gen_ai.provider.name", "openai"))
	require.True(t, ok)
	assert.InDelta(t, 0.0074, cost.DoubleValue(), 1e-12, "the two priced calls; the run's own total is not counted again")
	_, _, ok = point(t, md, "promptetheus.agent.cost", booking("gen_ai.request.model", "my-finetune", "gen_ai.provider.name", "openai"))
	assert.False(t, ok, "an unpriced model has no cost")

	_, in, ok := point(t, md, "gen_ai.client.token.usage", map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.token.type": "input", "gen_ai.request.model": "gpt-5",
	})
	require.True(t, ok)
	assert.EqualValues(t, 2, in.Count())
	assert.InDelta(t, 5240.0, in.Sum(), 0)
	assert.Equal(t, tokenUsageBounds, in.ExplicitBounds().AsRaw())
	assert.Equal(t, []uint64{0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, in.BucketCounts().AsRaw(), "240 in (64, 256], 5000 in (4096, 16384]")

	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		for _, a := range pointAttrs(ms.At(i)) {
			assert.NotContains(t, a, "checkout-web", "the web trace yields nothing")
			assert.NotContains(t, a, "payments.internal", "the web trace yields nothing")
		}
	}
}

// pointAttrs lists the attributes of every data point of a sum or histogram.
func pointAttrs(m pmetric.Metric) []map[string]any {
	var out []map[string]any
	switch m.Type() {
	case pmetric.MetricTypeSum:
		for j := 0; j < m.Sum().DataPoints().Len(); j++ {
			out = append(out, m.Sum().DataPoints().At(j).Attributes().AsRaw())
		}
	case pmetric.MetricTypeHistogram:
		for j := 0; j < m.Histogram().DataPoints().Len(); j++ {
			out = append(out, m.Histogram().DataPoints().At(j).Attributes().AsRaw())
		}
	}
	return out
}

func TestOTLPDialects(t *testing.T) {
	h := newHarness(t, nil)
	require.NoError(t, h.c.ConsumeTraces(context.Background(), readTraces(t, "otlp_dialects")))
	md := h.c.build()

	dp, _, ok := point(t, md, "promptetheus.agent.runs", map[string]any{"gen_ai.agent.name": "travel-planner", "promptetheus.run.outcome": "unknown"})
	require.True(t, ok, "the agent's name from its root span; no project on OTLP runs")
	assert.EqualValues(t, 1, dp.IntValue())
	_, _, ok = point(t, md, "promptetheus.agent.runs", map[string]any{"gen_ai.agent.name": "rag-service", "promptetheus.run.outcome": "passed"})
	assert.True(t, ok, "service.name when the root names no agent")

	_, failed, ok := point(t, md, "gen_ai.client.operation.duration", map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
		"server.address": "api.openai.com", "server.port": int64(443), "error.type": "timeout",
	})
	require.True(t, ok)
	assert.InDelta(t, 30.0, failed.Sum(), 1e-9)
	assert.Equal(t, operationDurationBounds, failed.ExplicitBounds().AsRaw())

	_, oi, ok := point(t, md, "gen_ai.client.token.usage", map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.token.type": "output", "gen_ai.request.model": "claude-sonnet-4",
	})
	require.True(t, ok, "OpenInference LLM span")
	assert.InDelta(t, 120.0, oi.Sum(), 0)

	_, completion, ok := point(t, md, "gen_ai.client.token.usage", map[string]any{
		"gen_ai.operation.name": "text_completion", "gen_ai.provider.name": "openai", "gen_ai.token.type": "input", "gen_ai.request.model": "gpt-3.5-turbo-instruct",
	})
	require.True(t, ok, "OpenLLMetry completion")
	assert.InDelta(t, 15.0, completion.Sum(), 0)

	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		if ms.At(i).Name() == "gen_ai.client.token.usage" {
			var total float64
			for j := 0; j < ms.At(i).Histogram().DataPoints().Len(); j++ {
				total += ms.At(i).Histogram().DataPoints().At(j).Sum()
			}
			assert.InDelta(t, 1200+300+900+120+15+30+20+4, total, 0, "embeddings are no inference: their 40 and 8 tokens are not counted")
		}
	}
}

func TestPlainWebTraceYieldsNothing(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MetricsFlushInterval = time.Hour })
	td := readTraces(t, "promptetheus_runs")
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		name, _ := rs.Resource().Attributes().Get(conventions.AttrServiceName)
		return name.Str() != "checkout-web"
	})
	require.Equal(t, 2, td.SpanCount())
	require.NoError(t, h.c.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, h.c.ConsumeTraces(context.Background(), td))
	require.NoError(t, h.c.Shutdown(context.Background()))
	assert.Empty(t, h.sink.AllMetrics(), "no metric, not even an empty batch")
}

func TestCumulativeAcrossFlushes(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	td := readTraces(t, "promptetheus_runs")
	require.NoError(t, h.c.ConsumeTraces(ctx, td))
	h.clock.t = t0.Add(15 * time.Second)
	h.c.flush(ctx)

	// The same runs again under other span ids: new runs of the same agents.
	again := ptrace.NewTraces()
	td.CopyTo(again)
	rewriteIDs(again, 0x7f)
	h.clock.t = t0.Add(20 * time.Second)
	require.NoError(t, h.c.ConsumeTraces(ctx, again))
	h.clock.t = t0.Add(30 * time.Second)
	h.c.flush(ctx)

	all := h.sink.AllMetrics()
	require.Len(t, all, 2)
	passed := map[string]any{"gen_ai.agent.name": "booking-agent", "promptetheus.project.id": "proj_acmemeet", "promptetheus.run.outcome": "passed"}
	first, _, ok := point(t, all[0], "promptetheus.agent.runs", passed)
	require.True(t, ok)
	second, _, ok := point(t, all[1], "promptetheus.agent.runs", passed)
	require.True(t, ok)
	assert.EqualValues(t, 1, first.IntValue())
	assert.EqualValues(t, 2, second.IntValue())
	assert.Equal(t, pcommon.NewTimestampFromTime(t0), first.StartTimestamp())
	assert.Equal(t, first.StartTimestamp(), second.StartTimestamp(), "the start of a cumulative series stays")
	assert.Equal(t, pcommon.NewTimestampFromTime(t0.Add(15*time.Second)), first.Timestamp())
	assert.Equal(t, pcommon.NewTimestampFromTime(t0.Add(30*time.Second)), second.Timestamp())
	for _, md := range all {
		sum := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum()
		assert.Equal(t, pmetric.AggregationTemporalityCumulative, sum.AggregationTemporality())
		assert.True(t, sum.IsMonotonic())
	}
}

// rewriteIDs gives every span of td other ids, as another run would have.
func rewriteIDs(td ptrace.Traces, b byte) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		for j := 0; j < rss.At(i).ScopeSpans().Len(); j++ {
			spans := rss.At(i).ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				tid := s.TraceID()
				tid[0] = b
				s.SetTraceID(tid)
			}
		}
	}
}

func TestRedeliveredSpansCountOnce(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	td := readTraces(t, "promptetheus_runs")
	require.NoError(t, h.c.ConsumeTraces(ctx, td))
	require.NoError(t, h.c.ConsumeTraces(ctx, td)) // a retried batch
	md := h.c.build()
	dp, _, ok := point(t, md, "promptetheus.agent.runs", map[string]any{
		"gen_ai.agent.name": "booking-agent", "promptetheus.project.id": "proj_acmemeet", "promptetheus.run.outcome": "passed",
	})
	require.True(t, ok)
	assert.EqualValues(t, 1, dp.IntValue())
	// 3 roots, 3 findings, 3 chat spans measured the first time.
	metadatatest.AssertEqualConnectorAgentMetricsSpansDuplicate(t, h.tel, []metricdata.DataPoint[int64]{{Value: 9}},
		metricdatatest.IgnoreTimestamp())
}

func TestCardinalityLimit(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AggregationCardinalityLimit = 3 })
	td := ptrace.NewTraces()
	for i := range 5 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr(conventions.AttrServiceName, fmt.Sprintf("agent-%d", i))
		for j := range i + 1 {
			root := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			root.SetTraceID(pcommon.TraceID{byte(i), byte(j), 1})
			root.SetSpanID(pcommon.SpanID{1})
			root.Attributes().PutInt(conventions.AttrFindingCount, 0)
		}
	}
	require.NoError(t, h.c.ConsumeTraces(context.Background(), td))
	md := h.c.build()

	for i, want := range []int64{1, 2} {
		dp, _, ok := point(t, md, "promptetheus.agent.runs", map[string]any{"gen_ai.agent.name": fmt.Sprintf("agent-%d", i), "promptetheus.run.outcome": "unknown"})
		require.True(t, ok)
		assert.Equal(t, want, dp.IntValue())
	}
	overflow, _, ok := point(t, md, "promptetheus.agent.runs", map[string]any{"otel.metric.overflow": true})
	require.True(t, ok)
	assert.EqualValues(t, 3+4+5, overflow.IntValue(), "agents 2, 3 and 4 in one series")
	runs := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
	assert.Equal(t, 3, runs.Sum().DataPoints().Len(), "the limit counts the overflow series")

	runsAttr := attribute.NewSet(attribute.String("metric", "promptetheus.agent.runs"))
	metadatatest.AssertEqualConnectorAgentMetricsOverflow(t, h.tel, []metricdata.DataPoint[int64]{
		{Attributes: runsAttr, Value: 12},
	}, metricdatatest.IgnoreTimestamp())
	got, err := h.tel.GetMetric("otelcol_connector_agent_metrics_series")
	require.NoError(t, err)
	series := map[string]int64{}
	for _, dp := range got.Data.(metricdata.Gauge[int64]).DataPoints {
		v, _ := dp.Attributes.Value("metric")
		series[v.AsString()] = dp.Value
	}
	assert.Equal(t, int64(3), series["promptetheus.agent.runs"])
	assert.Equal(t, int64(0), series["gen_ai.client.token.usage"])
}

func TestBadValuesAreIgnored(t *testing.T) {
	h := newHarness(t, nil)
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr(conventions.AttrServiceName, strings.Repeat("é", 300))
	spans := rs.ScopeSpans().AppendEmpty().Spans()

	root := spans.AppendEmpty()
	root.SetTraceID(pcommon.TraceID{1})
	root.SetSpanID(pcommon.SpanID{1})
	root.Attributes().PutStr(conventions.AttrFindingCount, "2") // not an int: no verdict
	root.Attributes().PutStr(conventions.AttrGoalPassed, "true")

	judged := spans.AppendEmpty()
	judged.SetTraceID(pcommon.TraceID{2})
	judged.SetSpanID(pcommon.SpanID{2})
	judged.Attributes().PutInt(conventions.AttrFindingCount, 0)
	judged.Attributes().PutStr(conventions.AttrGoalPassed, "true") // not a bool: unknown
	judged.SetStartTimestamp(10)
	judged.SetEndTimestamp(5) // ends before it starts: no duration

	chat := spans.AppendEmpty()
	chat.SetTraceID(pcommon.TraceID{2})
	chat.SetSpanID(pcommon.SpanID{3})
	chat.SetParentSpanID(pcommon.SpanID{2})
	chat.SetStartTimestamp(1e9)
	chat.SetEndTimestamp(2e9)
	chat.Attributes().PutStr(conventions.AttrGenAIOperationName, "chat")
	chat.Attributes().PutInt(conventions.AttrGenAIInputTokens, -5)
	chat.Attributes().PutDouble(conventions.AttrGenAIOutputTokens, math.NaN())
	chat.Attributes().PutDouble(conventions.AttrCostUSD, math.Inf(1))

	finding := spans.AppendEmpty()
	finding.SetTraceID(pcommon.TraceID{2})
	finding.SetSpanID(pcommon.SpanID{4})
	finding.SetName("rule_finding loop")
	finding.Attributes().PutStr(conventions.AttrFindingRuleID, "loop") // no severity

	require.NoError(t, h.c.ConsumeTraces(context.Background(), td))
	md := h.c.build()
	names := map[string]int{}
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		names[ms.At(i).Name()] = len(pointAttrs(ms.At(i)))
	}
	assert.Equal(t, map[string]int{"promptetheus.agent.runs": 1, "gen_ai.client.operation.duration": 1}, names)

	runs := ms.At(0).Sum().DataPoints().At(0)
	agent, _ := runs.Attributes().Get("gen_ai.agent.name")
	assert.LessOrEqual(t, len(agent.Str()), maxValueBytes)
	assert.True(t, utf8.ValidString(agent.Str()), "cut at a character boundary")
	assert.Equal(t, strings.Repeat("é", maxValueBytes/2), agent.Str())
	outcome, _ := runs.Attributes().Get("promptetheus.run.outcome")
	assert.Equal(t, "unknown", outcome.Str())
}

func TestFlushOnTickAndShutdown(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MetricsFlushInterval = 20 * time.Millisecond })
	ctx := context.Background()
	require.NoError(t, h.c.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, h.c.ConsumeTraces(ctx, readTraces(t, "promptetheus_runs")))
	require.Eventually(t, func() bool { return len(h.sink.AllMetrics()) >= 2 }, 10*time.Second, 5*time.Millisecond,
		"emitted on every tick, unchanged values included")
	require.NoError(t, h.c.Shutdown(ctx))
	n := len(h.sink.AllMetrics())
	last := h.sink.AllMetrics()[n-1]
	assert.Equal(t, 16, last.DataPointCount())
	time.Sleep(60 * time.Millisecond)
	assert.Len(t, h.sink.AllMetrics(), n, "nothing after shutdown")
}

func TestShutdownEmitsLastValues(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MetricsFlushInterval = time.Hour })
	ctx := context.Background()
	require.NoError(t, h.c.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, h.c.ConsumeTraces(ctx, readTraces(t, "promptetheus_runs")))
	assert.Empty(t, h.sink.AllMetrics())
	require.NoError(t, h.c.Shutdown(ctx))
	require.Len(t, h.sink.AllMetrics(), 1)
	assert.Equal(t, 16, h.sink.AllMetrics()[0].DataPointCount())
}

func TestAppendKeyIsUnambiguous(t *testing.T) {
	sets := [][]attr{
		{{key: "a", str: "b\x00c"}},
		{{key: "a", str: "b"}, {key: "c", str: ""}},
		{{key: "a\x00b", str: "c"}},
		{{key: "server.port", num: 443, isNum: true}},
		{{key: "server.port", str: "443"}},
		{},
	}
	seen := map[string]int{}
	for i, s := range sets {
		k := string(appendKey(nil, s))
		prev, dup := seen[k]
		assert.False(t, dup, "sets %d and %d encode alike", prev, i)
		seen[k] = i
	}
}

func TestRecentSpansForgetsOldest(t *testing.T) {
	r := newRecentSpans(2)
	a, b, c := spanKey{1}, spanKey{2}, spanKey{3}
	assert.True(t, r.add(a))
	assert.True(t, r.add(b))
	assert.False(t, r.add(a))
	assert.True(t, r.add(c)) // forgets a
	assert.Len(t, r.set, 2)
	assert.True(t, r.add(a))
	assert.False(t, r.add(c))
}
