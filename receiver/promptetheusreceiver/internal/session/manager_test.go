// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/promptetheus/otelcol-promptetheus/extension/agentrulesextension"
	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
	"github.com/promptetheus/otelcol-promptetheus/internal/testutil"
	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func testConfig() Config {
	return testConfigWith(nil)
}

// testConfigWith judges runs with the default rules and the user rules given.
func testConfigWith(userRules []agentrulesextension.UserRuleConfig) Config {
	rulesCfg := agentrulesextension.NewFactory().CreateDefaultConfig().(*agentrulesextension.Config)
	rulesCfg.UserRules = userRules
	judge, err := agentrulesextension.NewJudge(rulesCfg, componenttest.NewNopTelemetrySettings())
	if err != nil {
		panic(err)
	}
	return Config{
		IdleTimeout:     time.Minute,
		Retention:       time.Hour,
		MaxRuns:         100,
		MaxEventsPerRun: 1000,
		Mapping:         mapping.Config{CaptureContent: true, MaxAttributeLength: 2048, MaxArrayLength: 128},
		Judge:           judge,
	}
}

func runInfo(id string) mapping.Run {
	return mapping.Run{Project: "proj_a", Workspace: "ws", ID: id}
}

// event builds one raw event of a run.
func event(run, typ string, seq int, key string, payload string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"type":%q,"session_id":%q,"timestamp":"2026-03-01T10:00:%02dZ","seq":%d,"idempotency_key":%q,"payload":%s}`,
		typ, run, seq%60, seq, key, payload))
}

func incoming(run string, raws ...json.RawMessage) []Incoming {
	out := make([]Incoming, len(raws))
	for i, raw := range raws {
		ev, err := wire.DecodeEvent(raw, run)
		out[i] = Incoming{Raw: raw, Err: err}
		if err == nil {
			out[i].Event = &ev
		}
	}
	return out
}

// spanNames lists the names of every span the sink received.
func spanNames(sink *consumertest.TracesSink) []string {
	var names []string
	for _, span := range testutil.SpansOf(sink) {
		names = append(names, span.Name())
	}
	return names
}

func rootSpan(t *testing.T, sink *consumertest.TracesSink) ptrace.Span {
	t.Helper()
	for _, td := range sink.AllTraces() {
		spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for k := 0; k < spans.Len(); k++ {
			if spans.At(k).ParentSpanID().IsEmpty() {
				return spans.At(k)
			}
		}
	}
	t.Fatal("no root span emitted")
	return ptrace.Span{}
}

func TestAppendDeduplicatesReplays(t *testing.T) {
	sink := new(consumertest.TracesSink)
	m := NewManager(testConfig(), nil, sink, zap.NewNop())
	batch := incoming("r1",
		event("r1", "user_message", 0, "r1:n:0", `{"content":"hi"}`),
		event("r1", "agent_message", 1, "r1:n:1", `{"content":"hello"}`),
	)
	res, err := m.Append(context.Background(), runInfo("r1"), batch, t0)
	require.NoError(t, err)
	assert.Equal(t, AppendResult{Accepted: 2, Spans: 2, Rejected: nil}, res)

	res, err = m.Append(context.Background(), runInfo("r1"), batch, t0)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Accepted)
	assert.Equal(t, 2, res.Duplicates)
	assert.Equal(t, 0, res.Spans)
	assert.Equal(t, []string{"user_message", "agent_message"}, spanNames(sink))
}

func TestAppendRejectsSeqConflictKeepingSiblings(t *testing.T) {
	sink := new(consumertest.TracesSink)
	m := NewManager(testConfig(), nil, sink, zap.NewNop())
	_, err := m.Append(context.Background(), runInfo("r1"), incoming("r1",
		event("r1", "user_message", 0, "r1:n:0", `{"content":"hi"}`)), t0)
	require.NoError(t, err)

	res, err := m.Append(context.Background(), runInfo("r1"), incoming("r1",
		event("r1", "user_message", 0, "r1:other:0", `{"content":"hi"}`),
		event("r1", "not_a_type", 1, "r1:n:1", `{}`),
		event("r1", "agent_message", 2, "r1:n:2", `{"content":"ok"}`),
		event("r1", "agent_message", 2, "r1:n:2b", `{"content":"same seq in one batch"}`),
	), t0)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Accepted)
	require.Len(t, res.Rejected, 3)
	assert.Equal(t, Rejection{Index: 0, IdempotencyKey: "r1:other:0", Reason: "seq 0 already recorded with a different idempotency_key", Kind: RejectSeqConflict}, res.Rejected[0])
	assert.Equal(t, Rejection{Index: 1, IdempotencyKey: "r1:n:1", Reason: "unknown event type: 'not_a_type'", Kind: RejectInvalid}, res.Rejected[1])
	assert.Equal(t, RejectSeqConflict, res.Rejected[2].Kind)
	assert.Equal(t, 3, res.Rejected[2].Index)
	assert.Equal(t, []string{"user_message", "agent_message"}, spanNames(sink))
}

func TestToolPairAcrossBatchesBecomesOneSpan(t *testing.T) {
	sink := new(consumertest.TracesSink)
	m := NewManager(testConfig(), nil, sink, zap.NewNop())
	res, err := m.Append(context.Background(), runInfo("r1"), incoming("r1",
		event("r1", "tool_call", 0, "k0", `{"tool_name":"search","call_id":"c1","arguments":{"q":1}}`)), t0)
	require.NoError(t, err)
	assert.Equal(t, 0, res.Spans, "a tool call waits for its result")

	_, err = m.Append(context.Background(), runInfo("r1"), incoming("r1",
		event("r1", "tool_result", 1, "k1", `{"call_id":"c1","result":"ok"}`)), t0)
	require.NoError(t, err)
	assert.Equal(t, []string{"execute_tool search"}, spanNames(sink))
	span := sink.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	assert.Equal(t, time.Second, span.EndTimestamp().AsTime().Sub(span.StartTimestamp().AsTime()))
}

func TestSessionEndFinalisesOnce(t *testing.T) {
	sink := new(consumertest.TracesSink)
	m := NewManager(testConfig(), nil, sink, zap.NewNop())
	_, err := m.Create(context.Background(), mapping.Run{Project: "proj_a", ID: "r1", Agent: "agent-x", UserGoal: "g"}, t0)
	require.NoError(t, err)
	_, err = m.Append(context.Background(), runInfo("r1"), incoming("r1",
		event("r1", "tool_call", 0, "k0", `{"tool_name":"search","call_id":"c1"}`),
		event("r1", "goal_check", 1, "k1", `{"passed":true}`),
		event("r1", "session_end", 2, "k2", `{"status":"completed"}`),
	), t0)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"goal_check", "session_end", "execute_tool search", "invoke_agent agent-x",
		"rule_finding unmatched_tool_call"}, spanNames(sink), "the verdict is emitted with the root")
	root := rootSpan(t, sink)
	passed, _ := root.Attributes().Get(conventions.AttrGoalPassed)
	assert.True(t, passed.Bool())
	count, _ := root.Attributes().Get(conventions.AttrFindingCount)
	assert.Equal(t, int64(1), count.Int())
	by, _ := root.Attributes().Get(conventions.AttrFinalizedBy)
	assert.Equal(t, "session_end", by.Str())

	snap, err := m.Finalize(context.Background(), "proj_a", "r1", FinalizedByAnalyze, t0)
	require.NoError(t, err)
	assert.Equal(t, "session_end", snap.View.FinalizedBy)
	assert.Len(t, snap.Steps, 3, "one step per span, the root and findings excluded")
	require.NotNil(t, snap.Verdict)
	require.Len(t, snap.Verdict.Findings, 1, "analyze reads the verdict that was exported")
	assert.Equal(t, rules.RuleUnmatchedToolCall, snap.Verdict.Findings[0].RuleID)

	// A late event still lands, as a child of the root already exported; the
	// verdict is not made again.
	_, err = m.Append(context.Background(), runInfo("r1"), incoming("r1",
		event("r1", "agent_message", 3, "k3", `{"content":"late"}`)), t0)
	require.NoError(t, err)
	assert.Len(t, spanNames(sink), 6)
	roots := 0
	for _, n := range spanNames(sink) {
		if n == "invoke_agent agent-x" {
			roots++
		}
	}
	assert.Equal(t, 1, roots)
}

func TestPipelineRefusalRecordsNothing(t *testing.T) {
	refusing := consumertest.NewErr(errors.New("memory limit"))
	sink := new(consumertest.TracesSink)
	var next consumer.Traces = refusing
	m := NewManager(testConfig(), nil, consumerFunc(func(ctx context.Context, td ptrace.Traces) error {
		return next.ConsumeTraces(ctx, td)
	}), zap.NewNop())
	batch := incoming("r1", event("r1", "user_message", 0, "k0", `{"content":"hi"}`))
	_, err := m.Append(context.Background(), runInfo("r1"), batch, t0)
	var pipeErr *PipelineError
	require.ErrorAs(t, err, &pipeErr)
	_, exists := m.Owner("r1")
	assert.False(t, exists, "a run created by a refused request is forgotten")

	next = sink
	res, err := m.Append(context.Background(), runInfo("r1"), batch, t0)
	require.NoError(t, err)
	assert.Equal(t, 0, res.Duplicates, "the retry is not mistaken for a duplicate")
	assert.Equal(t, []string{"user_message"}, spanNames(sink))
}

type consumerFunc func(context.Context, ptrace.Traces) error

func (f consumerFunc) ConsumeTraces(ctx context.Context, td ptrace.Traces) error { return f(ctx, td) }
func (consumerFunc) Capabilities() consumer.Capabilities                         { return consumer.Capabilities{} }

func TestRunIDsAreUniqueAcrossProjects(t *testing.T) {
	m := NewManager(testConfig(), nil, new(consumertest.TracesSink), zap.NewNop())
	_, err := m.Create(context.Background(), mapping.Run{Project: "proj_a", ID: "shared"}, t0)
	require.NoError(t, err)
	_, err = m.Append(context.Background(), mapping.Run{Project: "proj_b", ID: "shared"},
		incoming("shared", event("shared", "user_message", 0, "k0", `{"content":"x"}`)), t0)
	require.ErrorIs(t, err, ErrOtherProject)
}

func TestLimits(t *testing.T) {
	cfg := testConfig()
	cfg.MaxEventsPerRun = 2
	cfg.MaxRuns = 2
	m := NewManager(cfg, nil, new(consumertest.TracesSink), zap.NewNop())
	res, err := m.Append(context.Background(), runInfo("r1"), incoming("r1",
		event("r1", "user_message", 0, "k0", `{}`),
		event("r1", "user_message", 1, "k1", `{}`),
		event("r1", "user_message", 2, "k2", `{}`),
	), t0)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Accepted)
	require.Len(t, res.Rejected, 1)
	assert.Equal(t, "trace has reached its limit of 2 events", res.Rejected[0].Reason)

	_, err = m.Create(context.Background(), runInfo("r2"), t0)
	require.NoError(t, err)
	_, err = m.Create(context.Background(), runInfo("r3"), t0)
	require.ErrorIs(t, err, ErrTooManyRuns, "both runs are open: none can be evicted")

	_, err = m.Finalize(context.Background(), "proj_a", "r1", FinalizedByAnalyze, t0)
	require.NoError(t, err)
	_, err = m.Create(context.Background(), runInfo("r3"), t0)
	require.NoError(t, err, "a finalised run makes room")
	_, exists := m.Owner("r1")
	assert.False(t, exists)
}

func TestSweepFinalisesIdleRunsAndForgetsExpiredOnes(t *testing.T) {
	sink := new(consumertest.TracesSink)
	m := NewManager(testConfig(), nil, sink, zap.NewNop())
	_, err := m.Append(context.Background(), runInfo("r1"), incoming("r1",
		event("r1", "user_message", 0, "k0", `{}`)), t0)
	require.NoError(t, err)

	m.Sweep(context.Background(), t0.Add(30*time.Second))
	assert.Len(t, spanNames(sink), 1, "not idle yet")

	m.Sweep(context.Background(), t0.Add(time.Minute))
	root := rootSpan(t, sink)
	by, _ := root.Attributes().Get(conventions.AttrFinalizedBy)
	assert.Equal(t, FinalizedByIdleTimeout, by.Str())
	implicit, _ := root.Attributes().Get(conventions.AttrTraceImplicit)
	assert.True(t, implicit.Bool())

	m.Sweep(context.Background(), t0.Add(time.Minute+time.Hour))
	_, exists := m.Owner("r1")
	assert.False(t, exists, "retention is over")
}

func newFileStorage(t *testing.T, dir string) (storage.Client, func()) {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	client, err := ext.(storage.Extension).GetClient(context.Background(), component.KindReceiver,
		component.MustNewID("promptetheus"), "")
	require.NoError(t, err)
	return client, func() {
		require.NoError(t, client.Close(context.Background()))
		require.NoError(t, ext.Shutdown(context.Background()))
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	cfg := testConfigWith([]agentrulesextension.UserRuleConfig{{ID: "gpt5_used", Severity: rules.SeverityInfo,
		Condition: `span.attributes["gen_ai.request.model"] == "gpt-5"`}})
	dir := t.TempDir()
	client, closeStorage := newFileStorage(t, dir)
	sink := new(consumertest.TracesSink)
	m := NewManager(cfg, client, sink, zap.NewNop())
	_, err := m.Create(context.Background(), mapping.Run{Project: "proj_a", ID: "r1", Agent: "agent-x"}, t0)
	require.NoError(t, err)
	first := incoming("r1",
		event("r1", "llm_call", 0, "k0", `{"model":"gpt-5","input_tokens":10,"output_tokens":5}`),
		event("r1", "tool_call", 1, "k1", `{"tool_name":"search","call_id":"c1"}`),
	)
	_, err = m.Append(context.Background(), runInfo("r1"), first, t0)
	require.NoError(t, err)
	closeStorage()

	// A new manager over the same storage: a restart.
	client, closeStorage = newFileStorage(t, dir)
	defer closeStorage()
	sink2 := new(consumertest.TracesSink)
	m2 := NewManager(cfg, client, sink2, zap.NewNop())
	require.NoError(t, m2.Load(context.Background()))

	res, err := m2.Append(context.Background(), runInfo("r1"), first, t0)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Duplicates, "a retried batch is still a duplicate")

	_, err = m2.Append(context.Background(), runInfo("r1"), incoming("r1",
		event("r1", "tool_result", 2, "k2", `{"call_id":"c1","result":"ok"}`),
		event("r1", "session_end", 3, "k3", `{"status":"completed"}`),
	), t0)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"execute_tool search", "session_end", "invoke_agent agent-x",
		"rule_finding missing_goal_check", "rule_finding gpt5_used"}, spanNames(sink2),
		"the user rule matched the llm_call before the restart; its finding is emitted with the verdict")
	root := rootSpan(t, sink2)
	findings, _ := root.Attributes().Get(conventions.AttrFindingCount)
	assert.Equal(t, int64(2), findings.Int())
	tokens, _ := root.Attributes().Get(conventions.AttrGenAIInputTokens)
	assert.Equal(t, int64(10), tokens.Int(), "totals survive the restart")
	count, _ := root.Attributes().Get(conventions.AttrEventCount)
	assert.Equal(t, int64(4), count.Int())

	snap, err := m2.Get("proj_a", "r1")
	require.NoError(t, err)
	assert.Len(t, snap.Steps, 3, "steps of spans emitted before and after the restart")
	closeStorage()

	// The verdict is stored with the run: after another restart, analyze
	// reads the evaluation that was exported, user findings included.
	client, closeStorage = newFileStorage(t, dir)
	m3 := NewManager(testConfig(), client, new(consumertest.TracesSink), zap.NewNop())
	require.NoError(t, m3.Load(context.Background()))
	snap, err = m3.Finalize(context.Background(), "proj_a", "r1", FinalizedByAnalyze, t0)
	require.NoError(t, err)
	require.NotNil(t, snap.Verdict)
	var ids []string
	for _, f := range snap.Verdict.Findings {
		ids = append(ids, f.RuleID)
	}
	assert.ElementsMatch(t, []string{"missing_goal_check", "gpt5_used"}, ids)
}

func TestStorageFailureRollsBack(t *testing.T) {
	client, closeStorage := newFileStorage(t, t.TempDir())
	sink := new(consumertest.TracesSink)
	m := NewManager(testConfig(), client, sink, zap.NewNop())
	closeStorage() // every write now fails
	_, err := m.Append(context.Background(), runInfo("r1"), incoming("r1",
		event("r1", "user_message", 0, "k0", `{}`)), t0)
	var storeErr *StorageError
	require.ErrorAs(t, err, &storeErr)
	assert.False(t, consumererror.IsPermanent(err))
	_, exists := m.Owner("r1")
	assert.False(t, exists)
}
