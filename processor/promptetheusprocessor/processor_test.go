// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusprocessor

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
	"github.com/promptetheus/otelcol-promptetheus/internal/testutil"
	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
	"github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor/internal/metadata"
)

type testProcessor struct {
	*promptetheusProcessor
	sink  *consumertest.TracesSink
	clock *testutil.Clock
}

// newTestProcessor starts a processor on a fake clock; its ticker never
// sees a deadline pass unless the test moves the clock.
func newTestProcessor(t testing.TB, tune func(*Config)) *testProcessor {
	t.Helper()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.DecisionWait = 0
	if tune != nil {
		tune(cfg)
	}
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.TracesSink)
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	clock := testutil.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	p.(*promptetheusProcessor).now = clock.Now
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return &testProcessor{promptetheusProcessor: p.(*promptetheusProcessor), sink: sink, clock: clock}
}

func (p *testProcessor) consume(t *testing.T, td ptrace.Traces) {
	t.Helper()
	require.NoError(t, p.ConsumeTraces(context.Background(), td))
}

func findingSpans(sink *consumertest.TracesSink) map[string][]ptrace.Span {
	out := map[string][]ptrace.Span{}
	for _, s := range testutil.SpansOf(sink) {
		if v, ok := s.Attributes().Get(conventions.AttrFindingRuleID); ok {
			out[v.Str()] = append(out[v.Str()], s)
		}
	}
	return out
}

func spanByID(t *testing.T, sink *consumertest.TracesSink, id pcommon.SpanID) ptrace.Span {
	t.Helper()
	for _, s := range testutil.SpansOf(sink) {
		if s.SpanID() == id {
			return s
		}
	}
	t.Fatalf("span %s not received", id)
	return ptrace.Span{}
}

// traceBuilder writes spans of one trace under one resource.
type traceBuilder struct {
	traceID pcommon.TraceID
	base    time.Time
}

func (b traceBuilder) batch(service string) (ptrace.Traces, ptrace.SpanSlice) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("instrumentation")
	return td, ss.Spans()
}

func (b traceBuilder) span(spans ptrace.SpanSlice, id, parent byte, name string, at int, attrs map[string]any) ptrace.Span {
	s := spans.AppendEmpty()
	s.SetTraceID(b.traceID)
	s.SetSpanID(pcommon.SpanID{id})
	if parent != 0 {
		s.SetParentSpanID(pcommon.SpanID{parent})
	}
	s.SetName(name)
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(b.base.Add(time.Duration(at) * time.Second)))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(b.base.Add(time.Duration(at)*time.Second + 500*time.Millisecond)))
	for _, k := range slices.Sorted(maps.Keys(attrs)) { // a stable input order
		_ = s.Attributes().PutEmpty(k).FromRaw(attrs[k])
	}
	return s
}

var base = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// webTrace is a plain web request of a checkout service: no agent in it.
func webTrace() ptrace.Traces {
	b := traceBuilder{traceID: pcommon.TraceID{0xaa, 1}, base: base}
	td, spans := b.batch("checkout-web")
	root := b.span(spans, 1, 0, "GET /cart", 0, map[string]any{"http.request.method": "GET", "url.path": "/cart", "http.response.status_code": 200})
	root.SetKind(ptrace.SpanKindServer)
	b.span(spans, 2, 1, "SELECT cart", 0, map[string]any{"db.system.name": "postgresql", "db.query.text": "SELECT * FROM cart"})
	errSpan := b.span(spans, 3, 1, "GET /prices", 0, map[string]any{"http.request.method": "GET", "server.address": "prices"})
	errSpan.SetKind(ptrace.SpanKindClient)
	errSpan.Status().SetCode(ptrace.StatusCodeError)
	errSpan.Status().SetMessage("timeout")
	return td
}

func TestNonAgentTracePassesUnchanged(t *testing.T) {
	for _, wait := range []time.Duration{0, 5 * time.Second} {
		t.Run(fmt.Sprintf("decision_wait=%s", wait), func(t *testing.T) {
			p := newTestProcessor(t, func(c *Config) { c.DecisionWait = wait })
			sent := webTrace()
			p.consume(t, cloneTraces(sent))
			require.Len(t, p.sink.AllTraces(), 1, "passed on at once")
			require.NoError(t, ptracetest.CompareTraces(sent, p.sink.AllTraces()[0]))
			assert.Equal(t, 0, p.facts.len(), "no state for a trace that is not an agent's")
			p.clock.Advance(time.Hour)
			p.judgeDue(context.Background())
			assert.Len(t, p.sink.AllTraces(), 1, "nothing added later either")
		})
	}
}

// receiverRun maps events the way our receiver does, root included.
func receiverRun(t *testing.T, events ...string) ptrace.Traces {
	t.Helper()
	cfg := mapping.Config{CaptureContent: true, MaxAttributeLength: 2048, MaxArrayLength: 128}
	run := mapping.Run{Project: "proj", ID: "run_1", Agent: "browser-agent", UserGoal: "Book Tuesday"}
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
	b.AddRoot(&sum, time.Time{}, "session_end")
	return b.Traces()
}

func TestReceiverRunsPassUnchanged(t *testing.T) {
	p := newTestProcessor(t, nil)
	sent := receiverRun(t,
		`"type":"llm_call","payload":{"model":"gpt-5","input_tokens":40000,"output_tokens":10}`,
		`"type":"tool_call","payload":{"tool_name":"search","call_id":"c1","arguments":{"q":1}}`,
		`"type":"tool_result","payload":{"call_id":"c1","result":"ok"}`,
	)
	p.consume(t, cloneTraces(sent))
	require.Len(t, p.sink.AllTraces(), 1)
	require.NoError(t, ptracetest.CompareTraces(sent, p.sink.AllTraces()[0]), "the receiver judged its run already")
	assert.Equal(t, 0, p.facts.len())
}

// agentTrace is an agent instrumented with the GenAI semantic conventions:
// an invoke_agent span under a web request, an LLM call and the same tool
// called three times with the same arguments.
func agentTrace() (children, roots ptrace.Traces) {
	b := traceBuilder{traceID: pcommon.TraceID{0xbb, 1}, base: base}
	children, spans := b.batch("travel-agent")
	b.span(spans, 3, 2, "chat gpt-4o", 1, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
		"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5}).SetKind(ptrace.SpanKindClient)
	for i := range 3 {
		b.span(spans, byte(4+i), 2, "execute_tool get_weather", 2+i, map[string]any{"gen_ai.operation.name": "execute_tool",
			"gen_ai.tool.name": "get_weather", "gen_ai.tool.call.arguments": `{"city":"Paris"}`})
	}
	roots, spans = b.batch("travel-agent")
	b.span(spans, 2, 1, "invoke_agent travel", 0, map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "travel"})
	b.span(spans, 1, 0, "POST /plan", 0, map[string]any{"http.request.method": "POST"}).SetKind(ptrace.SpanKindServer)
	return children, roots
}

func cloneTraces(td ptrace.Traces) ptrace.Traces {
	out := ptrace.NewTraces()
	td.CopyTo(out)
	return out
}

func TestAgentTraceJudged(t *testing.T) {
	p := newTestProcessor(t, nil)
	children, roots := agentTrace()
	p.consume(t, cloneTraces(children))
	require.Len(t, p.sink.AllTraces(), 1, "steps pass on at once")
	require.NoError(t, ptracetest.CompareTraces(children, p.sink.AllTraces()[0]), "and unchanged")
	assert.Empty(t, findingSpans(p.sink), "the verdict waits for the root")

	p.consume(t, cloneTraces(roots))
	findings := findingSpans(p.sink)
	require.Contains(t, findings, rules.RuleLoop)
	loop := findings[rules.RuleLoop][0]
	assert.Equal(t, pcommon.SpanID{6}, loop.ParentSpanID(), "flags the third identical call")
	ids, ok := loop.Attributes().Get(conventions.AttrFindingEvidenceSpans)
	require.True(t, ok)
	assert.Equal(t, []any{"0400000000000000", "0500000000000000", "0600000000000000"}, ids.Slice().AsRaw(), "evidence by span id")
	_, hasSeqs := loop.Attributes().Get(conventions.AttrFindingEvidence)
	assert.False(t, hasSeqs, "no seqs outside Promptetheus runs")
	_, hasCritical := loop.Attributes().Get(conventions.AttrFindingCritical)
	assert.False(t, hasCritical)

	agent := spanByID(t, p.sink, pcommon.SpanID{2})
	require.Contains(t, findings, rules.RuleMissingGoalCheck)
	assert.Equal(t, agent.SpanID(), findings[rules.RuleMissingGoalCheck][0].ParentSpanID(), "run findings hang off the agent span")
	count, ok := agent.Attributes().Get(conventions.AttrFindingCount)
	require.True(t, ok, "the verdict is on the outermost agent span")
	assert.Equal(t, int64(2), count.Int())

	sentWeb := roots.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(1)
	require.NoError(t, ptracetest.CompareSpan(sentWeb, spanByID(t, p.sink, pcommon.SpanID{1})), "the web request's root is not the agent's: unchanged")
	assert.Equal(t, 0, p.facts.len())
}

func TestDecisionWaitTakesLateSpans(t *testing.T) {
	p := newTestProcessor(t, func(c *Config) { c.DecisionWait = 10 * time.Second })
	children, roots := agentTrace()
	p.consume(t, cloneTraces(children))
	p.consume(t, cloneTraces(roots))
	require.Len(t, p.sink.AllTraces(), 2, "the web root passes; the agent span is held")
	assert.Equal(t, 1, p.sink.AllTraces()[1].SpanCount())
	assert.Empty(t, findingSpans(p.sink))

	// A fourth identical call arrives late, from another batch.
	b := traceBuilder{traceID: pcommon.TraceID{0xbb, 1}, base: base}
	late, spans := b.batch("travel-agent")
	b.span(spans, 7, 2, "execute_tool get_weather", 5, map[string]any{"gen_ai.operation.name": "execute_tool",
		"gen_ai.tool.name": "get_weather", "gen_ai.tool.call.arguments": `{"city":"Paris"}`})
	p.clock.Advance(5 * time.Second)
	p.consume(t, late)
	p.judgeDue(context.Background())
	assert.Empty(t, findingSpans(p.sink), "not yet due")

	p.clock.Advance(5 * time.Second)
	p.judgeDue(context.Background())
	loop := findingSpans(p.sink)[rules.RuleLoop]
	require.Len(t, loop, 1)
	ids, _ := loop[0].Attributes().Get(conventions.AttrFindingEvidenceSpans)
	assert.Len(t, ids.Slice().AsRaw(), 4, "the late call is evidence too")
	msg, _ := loop[0].Attributes().Get(conventions.AttrFindingMessage)
	assert.Contains(t, msg.Str(), "repeated 4 times")
	_, ok := spanByID(t, p.sink, pcommon.SpanID{2}).Attributes().Get(conventions.AttrFindingCount)
	assert.True(t, ok)

	// Spans after the verdict pass untouched and start nothing.
	again, spans := b.batch("travel-agent")
	b.span(spans, 8, 2, "execute_tool get_weather", 6, map[string]any{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"})
	sent := cloneTraces(again)
	p.consume(t, again)
	last := p.sink.AllTraces()[len(p.sink.AllTraces())-1]
	require.NoError(t, ptracetest.CompareTraces(sent, last))
	assert.Equal(t, 0, p.facts.len())
}

// openInferenceTrace is a LangGraph-style run: a root CHAIN with nested
// CHAIN nodes, LLM calls and a tool called again and again, children first.
func openInferenceTrace() ptrace.Traces {
	b := traceBuilder{traceID: pcommon.TraceID{0xcc, 1}, base: base}
	td, spans := b.batch("langgraph-agent")
	at := 1
	for i := range 4 {
		node := byte(10 + 2*i)
		b.span(spans, node+1, node, "ChatFake", at, map[string]any{"openinference.span.kind": "LLM", "llm.model_name": "fake",
			"llm.token_count.prompt": 12, "llm.token_count.completion": 3})
		b.span(spans, node, 1, "agent", at, map[string]any{"openinference.span.kind": "CHAIN"})
		b.span(spans, byte(40+i), 1, "search", at+1, map[string]any{"openinference.span.kind": "TOOL", "tool.name": "search",
			"input.value": `{"query":"weather in Paris"}`})
		at += 2
	}
	b.span(spans, 1, 0, "LangGraph", 0, map[string]any{"openinference.span.kind": "CHAIN"})
	return td
}

func TestOpenInferenceRunJudgedOnOutermostChain(t *testing.T) {
	p := newTestProcessor(t, nil)
	sent := openInferenceTrace()
	p.consume(t, cloneTraces(sent))
	loop := findingSpans(p.sink)[rules.RuleLoop]
	require.Len(t, loop, 1)
	assert.Equal(t, pcommon.SpanID{42}, loop[0].ParentSpanID(), "the third identical tool call")
	root := spanByID(t, p.sink, pcommon.SpanID{1})
	_, ok := root.Attributes().Get(conventions.AttrFindingCount)
	assert.True(t, ok, "the verdict is on the outermost chain")
	for i := range 4 {
		node := spanByID(t, p.sink, pcommon.SpanID{byte(10 + 2*i)})
		_, judged := node.Attributes().Get(conventions.AttrFindingCount)
		assert.False(t, judged, "nested chains stay as they were")
	}
	var received int
	for _, s := range testutil.SpansOf(p.sink) {
		if _, finding := s.Attributes().Get(conventions.AttrFindingRuleID); !finding {
			received++
		}
	}
	assert.Equal(t, sent.SpanCount(), received, "every span sent is passed on once")
}

func TestOpenLLMetryWorkflow(t *testing.T) {
	p := newTestProcessor(t, func(c *Config) { c.Rules = nil })
	b := traceBuilder{traceID: pcommon.TraceID{0xdd, 1}, base: base}
	td, spans := b.batch("travel-agent")
	b.span(spans, 2, 1, "openai.chat", 1, map[string]any{"llm.request.type": "chat", "gen_ai.system": "openai",
		"gen_ai.request.model": "gpt-4o", "gen_ai.usage.prompt_tokens": 40000, "gen_ai.usage.completion_tokens": 100})
	for i := range 3 {
		b.span(spans, byte(3+i), 1, "get_weather.tool", 2+i, map[string]any{"traceloop.span.kind": "tool",
			"traceloop.entity.name": "get_weather", "traceloop.entity.input": `{"args":["Paris"]}`})
	}
	b.span(spans, 1, 0, "trip_planner.workflow", 0, map[string]any{"traceloop.span.kind": "workflow"})
	p.consume(t, td)
	findings := findingSpans(p.sink)
	assert.Contains(t, findings, rules.RuleLoop)
	require.Contains(t, findings, rules.RuleTokenBudget, "legacy token attributes are read")
	assert.Equal(t, pcommon.SpanID{2}, findings[rules.RuleTokenBudget][0].ParentSpanID())
}

func TestLLMOnlyTraceIsNotAnAgentRun(t *testing.T) {
	p := newTestProcessor(t, nil)
	b := traceBuilder{traceID: pcommon.TraceID{0xee, 1}, base: base}
	td, spans := b.batch("chatbot")
	b.span(spans, 2, 1, "chat gpt-4o", 1, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"})
	b.span(spans, 1, 0, "POST /chat", 0, map[string]any{"http.request.method": "POST"})
	sent := cloneTraces(td)
	p.consume(t, td)
	require.NoError(t, ptracetest.CompareTraces(sent, p.sink.AllTraces()[0]))
	assert.Empty(t, findingSpans(p.sink))
	assert.Equal(t, 0, p.facts.len(), "forgotten once its root came: no agent ran")
}

func TestRootElsewhereJudgedWhenIdle(t *testing.T) {
	p := newTestProcessor(t, func(c *Config) { c.TraceIdleTimeout = time.Minute })
	children, roots := agentTrace()
	roots.ResourceSpans().At(0).ScopeSpans().At(0).Spans().RemoveIf(func(s ptrace.Span) bool { return s.ParentSpanID().IsEmpty() })
	p.consume(t, children)
	p.consume(t, roots) // the invoke_agent span; its parent was exported by another service
	p.clock.Advance(30 * time.Second)
	p.judgeDue(context.Background())
	assert.Empty(t, findingSpans(p.sink))
	p.clock.Advance(31 * time.Second)
	p.judgeDue(context.Background())
	assert.Contains(t, findingSpans(p.sink), rules.RuleLoop)
	_, ok := spanByID(t, p.sink, pcommon.SpanID{2}).Attributes().Get(conventions.AttrFindingCount)
	assert.True(t, ok)
}

func TestRetriedBatchCountsOnce(t *testing.T) {
	p := newTestProcessor(t, func(c *Config) { c.DecisionWait = time.Second })
	children, roots := agentTrace()
	p.consume(t, cloneTraces(children))
	p.consume(t, cloneTraces(children)) // a client retry
	p.consume(t, cloneTraces(roots))
	p.consume(t, cloneTraces(roots))
	p.clock.Advance(time.Second)
	p.judgeDue(context.Background())
	loop := findingSpans(p.sink)[rules.RuleLoop]
	require.Len(t, loop, 1)
	msg, _ := loop[0].Attributes().Get(conventions.AttrFindingMessage)
	assert.Contains(t, msg.Str(), "repeated 3 times")
	agents := 0
	for _, s := range testutil.SpansOf(p.sink) {
		if s.SpanID() == (pcommon.SpanID{2}) {
			agents++
		}
	}
	assert.Equal(t, 1, agents, "the held agent span goes out once")
}

func TestBounds(t *testing.T) {
	p := newTestProcessor(t, func(c *Config) {
		c.NumTraces = 2
		c.MaxStepsPerTrace = 2
		c.DecisionWait = time.Minute
	})
	for i := range 3 {
		b := traceBuilder{traceID: pcommon.TraceID{0xf0, byte(i)}, base: base}
		td, spans := b.batch("agent")
		b.span(spans, 1, 0, "invoke_agent a", 0, map[string]any{"gen_ai.operation.name": "invoke_agent"})
		for k := range 3 {
			b.span(spans, byte(2+k), 1, "execute_tool t", 1+k, map[string]any{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"})
		}
		p.consume(t, td)
	}
	assert.Equal(t, 2, p.facts.len())
	released := 0
	for _, s := range testutil.SpansOf(p.sink) {
		if s.Name() == "invoke_agent a" {
			released++
			_, judged := s.Attributes().Get(conventions.AttrFindingCount)
			assert.False(t, judged, "an evicted trace's held span goes out unjudged, not lost")
		}
	}
	assert.Equal(t, 1, released)
	p.facts.mu.Lock()
	for _, f := range p.facts.byID {
		assert.Len(t, f.steps, 2)
		assert.Equal(t, 1, f.stepsDropped)
	}
	p.facts.mu.Unlock()
}

func TestShutdownJudgesHeldTraces(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	sink := new(consumertest.TracesSink)
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	children, roots := agentTrace()
	require.NoError(t, p.ConsumeTraces(context.Background(), children))
	require.NoError(t, p.ConsumeTraces(context.Background(), roots))
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Contains(t, findingSpans(sink), rules.RuleLoop)
	assert.Equal(t, 6+len(findingSpans(sink)[rules.RuleLoop])+len(findingSpans(sink)[rules.RuleMissingGoalCheck]), sink.SpanCount())
}

func TestRulesExtensionByID(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	id := component.MustNewIDWithName("agent_rules", "missing")
	cfg.Rules = &id
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	assert.ErrorContains(t, p.Start(context.Background(), componenttest.NewNopHost()), `rules: extension "agent_rules/missing" not found`)
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestDeterministicOutput(t *testing.T) {
	run := func() []byte {
		p := newTestProcessor(t, nil)
		children, roots := agentTrace()
		p.consume(t, children)
		p.consume(t, roots)
		var all []byte
		m := ptrace.ProtoMarshaler{}
		for _, td := range p.sink.AllTraces() {
			b, err := m.MarshalTraces(td)
			require.NoError(t, err)
			all = append(all, b...)
		}
		return all
	}
	assert.Equal(t, run(), run())
}

var _ processor.Traces = (*promptetheusProcessor)(nil)

func TestChainsWithoutStepsAreNotAnAgentRun(t *testing.T) {
	p := newTestProcessor(t, nil)
	b := traceBuilder{traceID: pcommon.TraceID{0xef, 1}, base: base}
	td, spans := b.batch("summarizer")
	b.span(spans, 2, 1, "format_prompt", 1, map[string]any{"openinference.span.kind": "CHAIN"})
	b.span(spans, 1, 0, "RunnableSequence", 0, map[string]any{"openinference.span.kind": "CHAIN"})
	sent := cloneTraces(td)
	p.consume(t, td)
	require.Equal(t, sent.SpanCount(), p.sink.SpanCount(), "held chains are given back")
	assert.Empty(t, findingSpans(p.sink))
	sentSpans := sent.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	require.Equal(t, 2, sentSpans.Len())
	for i := 0; i < sentSpans.Len(); i++ {
		require.NoError(t, ptracetest.CompareSpan(sentSpans.At(i), spanByID(t, p.sink, sentSpans.At(i).SpanID())))
	}
}

// TestInstrumentedLibraries judges the OTLP that real instrumentation
// libraries sent (testdata/instrumented, recorded by the e2e tests): the
// loop each agent runs is flagged on its repeated tool spans, and the web
// request passes as it came.
func TestInstrumentedLibraries(t *testing.T) {
	tests := []struct {
		file      string
		loop      bool
		toolCalls func(ptrace.Span) bool
	}{
		{file: "langgraph_openinference.json", loop: true, toolCalls: func(s ptrace.Span) bool {
			return str(s.Attributes(), "openinference.span.kind") == "TOOL"
		}},
		{file: "openai_genai.json", loop: true, toolCalls: func(s ptrace.Span) bool {
			return str(s.Attributes(), conventions.AttrGenAIOperationName) == conventions.OperationExecuteTool
		}},
		{file: "checkout_web_http.json"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "instrumented", tt.file))
			require.NoError(t, err)
			sent, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(body)
			require.NoError(t, err)
			p := newTestProcessor(t, nil)
			p.consume(t, cloneTraces(sent))
			var tools []any
			for _, s := range testutil.SpansOfTraces(sent) {
				if tt.toolCalls != nil && tt.toolCalls(s) {
					tools = append(tools, s.SpanID().String())
				}
			}
			findings := findingSpans(p.sink)
			if !tt.loop {
				require.NoError(t, ptracetest.CompareTraces(sent, p.sink.AllTraces()[0]))
				assert.Equal(t, 0, p.facts.len())
				return
			}
			require.Len(t, findings[rules.RuleLoop], 1)
			ids, _ := findings[rules.RuleLoop][0].Attributes().Get(conventions.AttrFindingEvidenceSpans)
			assert.Equal(t, tools, ids.Slice().AsRaw(), "every repeated call is evidence, by span id")
			assert.Equal(t, sent.SpanCount()+len(findings[rules.RuleLoop])+len(findings[rules.RuleMissingGoalCheck]), p.sink.SpanCount(),
				"every span sent, and the findings")
			judged := 0
			for _, s := range testutil.SpansOf(p.sink) {
				if _, ok := s.Attributes().Get(conventions.AttrFindingCount); ok {
					judged++
					assert.True(t, s.ParentSpanID().IsEmpty(), "the verdict is on the trace's root agent span")
				}
			}
			assert.Equal(t, 1, judged)
		})
	}
}
