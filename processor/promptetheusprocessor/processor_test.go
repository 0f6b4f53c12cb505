// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusprocessor

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/judge"
	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
	"github.com/promptetheus/otelcol-promptetheus/internal/testutil"
	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
	"github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor/internal/metadata"
)

func newTestProcessor(t testing.TB, tune func(*Config)) (*promptetheusProcessor, *consumertest.TracesSink) {
	t.Helper()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if tune != nil {
		tune(cfg)
	}
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.TracesSink)
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p.(*promptetheusProcessor), sink
}

// promptetheusRun maps events the way the receiver does: children in one
// batch, the root in another.
func promptetheusRun(t *testing.T, goal string, events ...string) (children, root ptrace.Traces) {
	t.Helper()
	cfg := mapping.Config{CaptureContent: true, MaxAttributeLength: 2048, MaxArrayLength: 128}
	run := mapping.Run{Project: "proj", ID: "run_1", Agent: "browser-agent", UserGoal: goal}
	b := mapping.NewBuilder(&cfg, &run)
	sum := mapping.NewSummary()
	pending := mapping.NewPending()
	for i, e := range events {
		raw := json.RawMessage(fmt.Sprintf(`{"session_id":"run_1","timestamp":"2026-01-01T00:00:%02dZ","seq":%d,"idempotency_key":"k%d",%s}`, i, i, i, e))
		ev, err := wire.DecodeEvent(raw, run.ID)
		require.NoError(t, err, e)
		sum.Count(&ev)
		b.Add(&ev, raw, &pending, false)
	}
	b.FlushPending(&pending, run.ID)
	sum.Widen(b)
	rb := mapping.NewBuilder(&cfg, &run)
	rb.AddRoot(&sum, time.Time{}, "session_end")
	return b.Traces(), rb.Traces()
}

func findingSpans(sink *consumertest.TracesSink) map[string]ptrace.Span {
	out := map[string]ptrace.Span{}
	for _, s := range testutil.SpansOf(sink) {
		if v, ok := s.Attributes().Get(conventions.AttrFindingRuleID); ok {
			out[v.Str()] = s
		}
	}
	return out
}

func rootOf(t *testing.T, sink *consumertest.TracesSink) ptrace.Span {
	for _, s := range testutil.SpansOf(sink) {
		if s.ParentSpanID().IsEmpty() {
			return s
		}
	}
	t.Fatal("no root span")
	return ptrace.Span{}
}

const pythonGoal = "Book Tuesday at 2pm Pacific, but stop at confirmation"

func TestVerdictOnPromptetheusRun(t *testing.T) {
	p, sink := newTestProcessor(t, nil)
	children, root := promptetheusRun(t, pythonGoal,
		`"type":"user_message","payload":{"content":"`+pythonGoal+`"}`,
		`"type":"goal_check","payload":{"passed":false,"mismatches":["Selected 2:00 AM instead of 2:00 PM"]}`,
	)
	require.NoError(t, p.ConsumeTraces(context.Background(), children))
	// The receiver hands its durable steps over with the root.
	require.NoError(t, p.ConsumeTraces(withSteps(t, children, pythonGoal), root))
	held, _ := p.facts.snapshot(mapping.TraceID("proj", "run_1"))
	assert.Empty(t, held, "the receiver's steps are not held twice")

	r := rootOf(t, sink)
	assert.Equal(t, ptrace.StatusCodeError, r.Status().Code())
	assert.Equal(t, "Selected 2:00 AM instead of 2:00 PM", r.Status().Message())
	passed, _ := r.Attributes().Get(conventions.AttrGoalPassed)
	assert.False(t, passed.Bool())
	labels, _ := r.Attributes().Get(conventions.AttrAnalysisLabels)
	assert.Equal(t, []any{rules.RuleBrowserGoalMismatch}, labels.Slice().AsRaw())
	maxSev, _ := r.Attributes().Get(conventions.AttrFindingMaxSeverity)
	assert.Equal(t, "high", maxSev.Str())
	require.Equal(t, 1, r.Events().Len())
	assert.Equal(t, conventions.EventGenAIEvaluationResult, r.Events().At(0).Name())

	findings := findingSpans(sink)
	mismatch, ok := findings[rules.RuleBrowserGoalMismatch]
	require.True(t, ok, "a rule_finding span per finding")
	assert.Equal(t, "rule_finding browser_goal_mismatch", mismatch.Name())
	goalCheckID := mapping.EventSpanID("proj", "run_1", "k1")
	assert.Equal(t, goalCheckID, mismatch.ParentSpanID(), "parented to the span it flags")
	conf, _ := mismatch.Attributes().Get(conventions.AttrFindingConfidence)
	assert.Equal(t, 0.9, conf.Double())
	count, _ := r.Attributes().Get(conventions.AttrFindingCount)
	assert.Equal(t, int64(len(findings)), count.Int())

	// Analyze through the registry gives the same findings, same span ids.
	j, ok := judge.Lookup(p.id)
	require.True(t, ok)
	var steps []rules.Step
	for _, s := range testutil.SpansOf(sink) {
		if st, ok := rules.StepFromSpan(s); ok {
			steps = append(steps, st)
		}
	}
	res := j.Analyze(r.TraceID(), rules.Run{ID: "run_1", UserGoal: pythonGoal}, steps)
	assert.Len(t, res.Findings, len(findings))
	for _, f := range res.Findings {
		span, ok := findings[f.RuleID]
		require.True(t, ok, f.RuleID)
		flagged, _ := spanIDFromHex(f.SpanID)
		if f.SpanID == "" {
			flagged = r.SpanID()
		}
		assert.Equal(t, mapping.FindingSpanID(r.TraceID(), flagged, f.RuleID), span.SpanID())
	}
}

// withSteps carries the steps of children as the receiver does.
func withSteps(t *testing.T, children ptrace.Traces, goal string) context.Context {
	var steps []rules.Step
	spans := children.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		if st, ok := rules.StepFromSpan(spans.At(i)); ok {
			steps = append(steps, st)
		}
	}
	return judge.WithTrajectory(context.Background(), &judge.Trajectory{
		TraceID: mapping.TraceID("proj", "run_1"), Run: rules.Run{ID: "run_1", Agent: "browser-agent", UserGoal: goal}, Steps: steps,
	})
}

func TestReceiverTrajectoryWinsOverFactsInMemory(t *testing.T) {
	p, sink := newTestProcessor(t, nil)
	children, root := promptetheusRun(t, "Book Tuesday",
		`"type":"goal_check","payload":{"passed":true}`)
	// The processor restarted and never saw the children; the receiver
	// carries the durable steps along with the root.
	require.NoError(t, p.ConsumeTraces(withSteps(t, children, "Book Tuesday"), root))
	r := rootOf(t, sink)
	passed, ok := r.Attributes().Get(conventions.AttrGoalPassed)
	require.True(t, ok)
	assert.True(t, passed.Bool())
	_, missing := findingSpans(sink)[rules.RuleMissingGoalCheck]
	assert.False(t, missing, "the goal_check the processor never saw still counts")
}

// genAITrace is an OpenLLMetry-instrumented agent: a workflow root, LLM
// calls with legacy token attributes and the same tool called three times.
func genAITrace() (children, root ptrace.Traces) {
	traceID := pcommon.TraceID([16]byte{1, 2, 3})
	rootID := pcommon.SpanID([8]byte{9})
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	children = ptrace.NewTraces()
	rs := children.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "travel-agent")
	ss := rs.ScopeSpans().AppendEmpty()
	add := func(i int, name string, kind ptrace.SpanKind, attrs map[string]any) {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(traceID)
		s.SetSpanID(pcommon.SpanID([8]byte{byte(i + 1)}))
		s.SetParentSpanID(rootID)
		s.SetName(name)
		s.SetKind(kind)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Second)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i)*time.Second + 500*time.Millisecond)))
		for _, k := range slices.Sorted(maps.Keys(attrs)) { // a stable input order
			_ = s.Attributes().PutEmpty(k).FromRaw(attrs[k])
		}
	}
	add(0, "openai.chat", ptrace.SpanKindClient, map[string]any{"llm.request.type": "chat", "gen_ai.system": "openai",
		"gen_ai.request.model": "gpt-4o", "gen_ai.usage.prompt_tokens": 40000, "gen_ai.usage.completion_tokens": 100})
	for i := 1; i <= 3; i++ {
		add(i, "get_weather.tool", ptrace.SpanKindInternal, map[string]any{"traceloop.span.kind": "tool",
			"traceloop.entity.name": "get_weather", "traceloop.entity.input": `{"args":["Paris"]}`})
	}
	add(4, "chat gpt-4o", ptrace.SpanKindClient, map[string]any{"gen_ai.operation.name": "chat",
		"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5})

	root = ptrace.NewTraces()
	rrs := root.ResourceSpans().AppendEmpty()
	rrs.Resource().Attributes().PutStr("service.name", "travel-agent")
	r := rrs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	r.SetTraceID(traceID)
	r.SetSpanID(rootID)
	r.SetName("trip_planner.workflow")
	r.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
	r.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(5 * time.Second)))
	r.Attributes().PutStr("traceloop.span.kind", "workflow")
	return children, root
}

func TestGenAITraceFromOtherInstrumentation(t *testing.T) {
	p, sink := newTestProcessor(t, nil)
	children, root := genAITrace()
	require.NoError(t, p.ConsumeTraces(context.Background(), children))
	findings := findingSpans(sink)
	require.Contains(t, findings, rules.RuleTokenBudget, "a span rule fires as the span passes")
	assert.Equal(t, pcommon.SpanID([8]byte{1}), findings[rules.RuleTokenBudget].ParentSpanID())
	assert.NotContains(t, findings, rules.RuleLoop, "trace rules wait for the root")

	require.NoError(t, p.ConsumeTraces(context.Background(), root))
	findings = findingSpans(sink)
	require.Contains(t, findings, rules.RuleLoop)
	loop := findings[rules.RuleLoop]
	assert.Equal(t, pcommon.SpanID([8]byte{4}), loop.ParentSpanID(), "flags the third identical call")
	require.Contains(t, findings, rules.RuleMissingGoalCheck)
	assert.Equal(t, pcommon.SpanID([8]byte{9}), findings[rules.RuleMissingGoalCheck].ParentSpanID())

	r := rootOf(t, sink)
	count, _ := r.Attributes().Get(conventions.AttrFindingCount)
	assert.Equal(t, int64(3), count.Int())
	assert.Equal(t, ptrace.StatusCodeUnset, r.Status().Code(), "medium findings stay under error_severity=high")
}

func TestErrorSeverityThreshold(t *testing.T) {
	p, sink := newTestProcessor(t, func(c *Config) { c.ErrorSeverity = rules.SeverityMedium })
	children, root := genAITrace()
	require.NoError(t, p.ConsumeTraces(context.Background(), children))
	require.NoError(t, p.ConsumeTraces(context.Background(), root))
	r := rootOf(t, sink)
	assert.Equal(t, ptrace.StatusCodeError, r.Status().Code())
	errType, _ := r.Attributes().Get(conventions.AttrErrorType)
	assert.Contains(t, []string{rules.RuleLoop, rules.RuleTokenBudget}, errType.Str())
}

func TestUserRules(t *testing.T) {
	p, sink := newTestProcessor(t, func(c *Config) {
		c.UserRules = []UserRuleConfig{{
			ID: "weather_tool", Severity: rules.SeverityLow, Message: "weather tool used",
			Condition: `span.attributes["traceloop.entity.name"] == "get_weather"`,
		}}
	})
	children, root := genAITrace()
	require.NoError(t, p.ConsumeTraces(context.Background(), children))
	var hits int
	for _, s := range testutil.SpansOf(sink) {
		if v, ok := s.Attributes().Get(conventions.AttrFindingRuleID); ok && v.Str() == "weather_tool" {
			hits++
		}
	}
	assert.Equal(t, 3, hits, "one finding per matching span, none for the others")
	require.NoError(t, p.ConsumeTraces(context.Background(), root))
	count, _ := rootOf(t, sink).Attributes().Get(conventions.AttrFindingCount)
	assert.Equal(t, int64(6), count.Int(), "three user findings, token budget, loop, missing goal_check")
	res := p.Analyze(pcommon.TraceID([16]byte{1, 2, 3}), rules.Run{}, nil)
	assert.Len(t, res.Findings, 4, "analyze adds the recorded user findings")
}

func TestBadUserRuleFailsValidation(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.UserRules = []UserRuleConfig{{ID: "broken", Severity: rules.SeverityLow, Condition: `attributes["x"] ==`}}
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "user_rules[0] (broken):")
	assert.Contains(t, err.Error(), "condition has invalid syntax")
}

func TestIdleTraceWithoutRootIsJudged(t *testing.T) {
	p, sink := newTestProcessor(t, func(c *Config) { c.TraceIdleTimeout = time.Hour })
	children, _ := genAITrace()
	require.NoError(t, p.ConsumeTraces(context.Background(), children))
	p.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	p.sweepIdle(context.Background())
	findings := findingSpans(sink)
	require.Contains(t, findings, rules.RuleLoop)
	assert.Equal(t, 0, p.facts.len())
}

func TestNumTracesBound(t *testing.T) {
	p, _ := newTestProcessor(t, func(c *Config) { c.NumTraces = 2 })
	for i := range 5 {
		td := ptrace.NewTraces()
		s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID([16]byte{byte(i + 1)}))
		s.SetSpanID(pcommon.SpanID([8]byte{1}))
		s.SetParentSpanID(pcommon.SpanID([8]byte{2}))
		require.NoError(t, p.ConsumeTraces(context.Background(), td))
	}
	assert.Equal(t, 2, p.facts.len())
}

func TestDeterministicOutput(t *testing.T) {
	run := func() []byte {
		p, sink := newTestProcessor(t, nil)
		children, root := genAITrace()
		require.NoError(t, p.ConsumeTraces(context.Background(), children))
		require.NoError(t, p.ConsumeTraces(context.Background(), root))
		var all []byte
		m := ptrace.ProtoMarshaler{}
		for _, td := range sink.AllTraces() {
			b, err := m.MarshalTraces(td)
			require.NoError(t, err)
			all = append(all, b...)
		}
		return all
	}
	assert.Equal(t, run(), run())
}

var _ processor.Traces = (*promptetheusProcessor)(nil)
