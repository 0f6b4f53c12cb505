// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package session

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/extension/agentrulesextension"
	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
	"github.com/promptetheus/otelcol-promptetheus/internal/testutil"
	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func testConfig(t testing.TB, userRules ...agentrulesextension.UserRuleConfig) *Config {
	rulesCfg := agentrulesextension.NewFactory().CreateDefaultConfig().(*agentrulesextension.Config)
	rulesCfg.UserRules = userRules
	judge, err := agentrulesextension.NewJudge(rulesCfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	return &Config{
		IdleTimeout:     time.Minute,
		Retention:       time.Hour,
		MaxRuns:         100,
		MaxEventsPerRun: 1000,
		MaxBytesPerRun:  1 << 20,
		MaxBytes:        1 << 30,
		KeepSteps:       true,
		Mapping:         mapping.Config{CaptureContent: true, MaxAttributeLength: 2048, MaxArrayLength: 128},
		Judge:           judge,
	}
}

var testKey = Key{Project: "proj_a", ID: "r1"}

func implicitRun() *Run {
	return newRun(testKey, mapping.Run{Project: "proj_a", Workspace: "ws", ID: "r1", Implicit: true}, t0)
}

// event builds one raw event of run r1.
func event(typ string, seq int, key string, payload string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"type":%q,"session_id":"r1","timestamp":"2026-03-01T10:00:%02dZ","seq":%d,"idempotency_key":%q,"payload":%s}`,
		typ, seq%60, seq, key, payload))
}

func incoming(raws ...json.RawMessage) []Incoming {
	out := make([]Incoming, len(raws))
	for i, raw := range raws {
		ev, err := wire.DecodeEvent(raw, "r1")
		out[i] = Incoming{Raw: raw, Err: err}
		if err == nil {
			out[i].Event = &ev
		}
	}
	return out
}

// commit plans events and commits them as the receiver does once they are
// stored and emitted, judging a batch that finalises the run.
func commit(t testing.TB, cfg *Config, r *Run, events ...json.RawMessage) *Batch {
	t.Helper()
	b := r.PlanAppend(context.Background(), cfg, incoming(events...), t0)
	if b.Finalizes() {
		b.Judge(cfg, r, r.Steps(), t0)
	}
	r.Commit(cfg, b)
	if b.SpanCount() > 0 {
		r.MarkSent(b.N)
	}
	return b
}

func spanNames(b *Batch) []string {
	var out []string
	for _, s := range testutil.SpansOfTraces(b.Spans()) {
		out = append(out, s.Name())
	}
	return out
}

func TestPlanningChangesNothing(t *testing.T) {
	cfg := testConfig(t)
	r := implicitRun()
	events := []json.RawMessage{
		event("tool_call", 0, "k0", `{"tool_name":"search","call_id":"c1"}`),
		event("session_end", 1, "k1", `{"status":"completed"}`),
	}
	first := r.PlanAppend(context.Background(), cfg, incoming(events...), t0)
	second := r.PlanAppend(context.Background(), cfg, incoming(events...), t0)
	assert.Equal(t, first.Result, second.Result, "a plan that is not committed leaves the run as it was")
	assert.Equal(t, spanNames(first), spanNames(second))
	assert.Equal(t, int64(0), r.Batches())
	assert.False(t, r.Finalized())
}

func TestDedupAndSeqConflicts(t *testing.T) {
	cfg := testConfig(t)
	r := implicitRun()
	commit(t, cfg, r, event("user_message", 0, "r1:n:0", `{"content":"hi"}`))

	b := r.PlanAppend(context.Background(), cfg, incoming(
		event("user_message", 0, "r1:n:0", `{"content":"hi"}`),               // a replay
		event("agent_message", 0, "r1:n:other", `{"content":"x"}`),           // seq 0 is taken
		event("not_a_type", 1, "r1:n:1", `{}`),                               // invalid
		event("agent_message", 2, "r1:n:2", `{"content":"sibling"}`),         // kept
		event("agent_message", 2, "r1:n:2b", `{"content":"same seq again"}`), // seq 2 is taken in the batch
	), t0)
	assert.Equal(t, 2, b.Result.Accepted)
	assert.Equal(t, 1, b.Result.Duplicates)
	require.Len(t, b.Result.Rejected, 3)
	assert.Equal(t, Rejection{Index: 1, IdempotencyKey: "r1:n:other", Reason: "seq 0 already recorded with a different idempotency_key", Kind: RejectSeqConflict}, b.Result.Rejected[0])
	assert.Equal(t, Rejection{Index: 2, IdempotencyKey: "r1:n:1", Reason: "unknown event type: 'not_a_type'", Kind: RejectInvalid}, b.Result.Rejected[1])
	assert.Equal(t, RejectSeqConflict, b.Result.Rejected[2].Kind)
	assert.Equal(t, []string{"agent_message"}, spanNames(b), "only the new valid event becomes a span")
	assert.Equal(t, []int64{2}, b.Record.Seqs)
}

func TestToolPairAcrossBatches(t *testing.T) {
	cfg := testConfig(t)
	r := implicitRun()
	b := commit(t, cfg, r, event("tool_call", 0, "k0", `{"tool_name":"search","call_id":"c1","arguments":{"q":1}}`))
	assert.Equal(t, 0, b.SpanCount(), "a tool call waits for its result")
	assert.Contains(t, b.Record.Held.Tools, "c1", "the half is stored with the batch that holds it")

	b = commit(t, cfg, r, event("tool_result", 1, "k1", `{"call_id":"c1","result":"ok"}`))
	assert.Equal(t, []string{"execute_tool search"}, spanNames(b))
	assert.Equal(t, []string{"c1"}, b.Record.Paired.Tools, "and released by the batch that pairs it")
	assert.Empty(t, b.Record.Held.Tools)
}

func TestSessionEndFinalisesOnceWithVerdict(t *testing.T) {
	cfg := testConfig(t)
	r := newRun(testKey, mapping.Run{Project: "proj_a", ID: "r1", Agent: "agent-x", UserGoal: "g"}, t0)
	b := commit(t, cfg, r,
		event("tool_call", 0, "k0", `{"tool_name":"search","call_id":"c1"}`),
		event("goal_check", 1, "k1", `{"passed":true}`),
		event("session_end", 2, "k2", `{"status":"completed"}`),
	)
	assert.ElementsMatch(t, []string{"goal_check", "session_end", "execute_tool search", "invoke_agent agent-x",
		"rule_finding unmatched_tool_call"}, spanNames(b), "the verdict is emitted with the root")
	require.True(t, r.Finalized())
	require.NotNil(t, r.Header().Verdict)
	require.Len(t, r.Header().Verdict.Findings, 1)
	assert.Equal(t, rules.RuleUnmatchedToolCall, r.Header().Verdict.Findings[0].RuleID)

	// Finalising again plans nothing: the root is emitted once.
	assert.False(t, r.PlanFinalize(context.Background(), cfg, FinalizedByAnalyze, t0).Finalizes())

	// A late event still lands, as a child of the root already exported,
	// and the verdict is not made again.
	late := commit(t, cfg, r, event("agent_message", 3, "k3", `{"content":"late"}`))
	assert.Equal(t, []string{"agent_message"}, spanNames(late))
	assert.Equal(t, FinalizedBySessionEnd, r.Header().FinalizedBy)
}

func TestUserRuleFindingsGoWithTheVerdict(t *testing.T) {
	cfg := testConfig(t, agentrulesextension.UserRuleConfig{ID: "gpt5_used", Severity: rules.SeverityInfo,
		Condition: `span.attributes["gen_ai.request.model"] == "gpt-5"`})
	r := implicitRun()
	b := commit(t, cfg, r, event("llm_call", 0, "k0", `{"model":"gpt-5","input_tokens":10,"output_tokens":5}`))
	require.Len(t, b.Record.User, 1, "matched as the span is built, stored with its batch")

	fin := r.PlanFinalize(context.Background(), cfg, FinalizedByAnalyze, t0)
	fin.Judge(cfg, r, r.Steps(), t0)
	r.Commit(cfg, fin)
	var ids []string
	for _, f := range r.Header().Verdict.Findings {
		ids = append(ids, f.RuleID)
	}
	assert.ElementsMatch(t, []string{"missing_goal_check", "gpt5_used"}, ids)
	assert.Contains(t, spanNames(fin), "rule_finding gpt5_used")
}

func TestLimits(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxEventsPerRun = 2
	r := implicitRun()
	b := commit(t, cfg, r,
		event("user_message", 0, "k0", `{}`),
		event("user_message", 1, "k1", `{}`),
		event("user_message", 2, "k2", `{}`),
	)
	assert.Equal(t, 2, b.Result.Accepted)
	require.Len(t, b.Result.Rejected, 1)
	assert.Equal(t, "trace has reached its limit of 2 events", b.Result.Rejected[0].Reason)

	cfg = testConfig(t)
	cfg.MaxBytesPerRun = 3000
	r = implicitRun()
	var events []json.RawMessage
	for i := range 20 {
		// Unanswered tool calls are held as raw events: they weigh.
		events = append(events, event("tool_call", i, fmt.Sprintf("k%d", i), fmt.Sprintf(`{"tool_name":"search","call_id":"c%d","arguments":{"pad":"%0200d"}}`, i, i)))
	}
	b = commit(t, cfg, r, events...)
	require.NotEmpty(t, b.Result.Rejected)
	assert.Equal(t, 20, b.Result.Accepted+len(b.Result.Rejected), "every event is accounted for")
	assert.Equal(t, RejectLimit, b.Result.Rejected[0].Kind)
	assert.Equal(t, "trace has reached its state limit of 3000 bytes", b.Result.Rejected[0].Reason)
	assert.LessOrEqual(t, r.bytes, cfg.MaxBytesPerRun)
}

func TestSessionStartedDescribesImplicitRun(t *testing.T) {
	cfg := testConfig(t)
	r := implicitRun()
	b := commit(t, cfg, r,
		event("state_change", 0, "k0", `{"name":"session_started","after":{"agent":"browser-agent","user_goal":"Book Tuesday","project_id":"proj_a","environment":"prod","tags":["a","b"]}}`),
		event("user_message", 1, "k1", `{"content":"Book Tuesday"}`),
	)
	require.NotNil(t, b.Header, "the new description is stored")
	info := r.Header().Info
	assert.Equal(t, "browser-agent", info.Agent)
	assert.Equal(t, "Book Tuesday", info.UserGoal)
	assert.Equal(t, "prod", info.Environment)
	assert.Equal(t, []string{"a", "b"}, info.Tags)
	assert.True(t, info.Implicit)
	service, _ := b.Spans().ResourceSpans().At(0).Resource().Attributes().Get(conventions.AttrServiceName)
	assert.Equal(t, "browser-agent", service.Str(), "the batch's own spans already carry the agent")

	// A create wins: session_started does not describe a run created with a description.
	created := newRun(testKey, mapping.Run{Project: "proj_a", ID: "r1", Agent: "from-create"}, t0)
	created.headerStored = true // its create was committed
	b = commit(t, cfg, created, event("state_change", 0, "k0", `{"name":"session_started","after":{"agent":"other"}}`))
	assert.Nil(t, b.Header)
	assert.Equal(t, "from-create", created.Header().Info.Agent)
}

func TestRestoreRebuildsState(t *testing.T) {
	cfg := testConfig(t)
	r := implicitRun()
	var records []Record
	for _, events := range [][]json.RawMessage{
		{event("llm_call", 0, "k0", `{"model":"gpt-5","input_tokens":10,"output_tokens":5}`), event("tool_call", 1, "k1", `{"tool_name":"search","call_id":"c1"}`)},
		{event("tool_call", 2, "k2", `{"tool_name":"search","call_id":"c2"}`), event("tool_result", 3, "k3", `{"call_id":"c1","result":"ok"}`)},
	} {
		b := commit(t, cfg, r, events...)
		records = append(records, b.Record)
	}
	restored := Restore(testKey, r.Header(), records, -1)
	assert.Equal(t, r.keys, restored.keys)
	assert.Equal(t, r.seqs.len(), restored.seqs.len())
	assert.Equal(t, r.pending, restored.pending, "c2 still waits; c1 was paired")
	assert.Equal(t, r.summary, restored.summary)
	assert.Equal(t, int64(2), restored.Batches())
	assert.Equal(t, []int64{1}, restored.Unsent(), "the last batch's sent mark was not stored with it")

	b := restored.PlanAppend(context.Background(), cfg, incoming(event("tool_call", 2, "k2", `{"tool_name":"search","call_id":"c2"}`),
		event("tool_result", 4, "k4", `{"call_id":"c2","result":"ok"}`)), t0)
	assert.Equal(t, 1, b.Result.Duplicates, "dedup survives the restart")
	assert.Equal(t, []string{"execute_tool search"}, spanNames(b), "and the held half pairs")
}

func TestSeqSet(t *testing.T) {
	var s seqSet
	for _, q := range []int64{0, 1, 63, 64, 1000, denseLimit + 5, -3} {
		assert.False(t, s.has(q))
		s.add(q)
		assert.True(t, s.has(q))
	}
	assert.Equal(t, 7, s.len())
	assert.False(t, s.has(2))
	assert.False(t, s.has(denseLimit+6))
}

func TestStepsOf(t *testing.T) {
	cfg := testConfig(t)
	r := implicitRun()
	b := commit(t, cfg, r, event("llm_call", 0, "k0", `{"model":"gpt-5"}`), event("user_message", 1, "k1", `{"content":"x"}`))
	pb, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(b.Spans())
	require.NoError(t, err)
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(pb)
	require.NoError(t, err)
	assert.Equal(t, r.Steps(), StepsOf(td), "stored spans give back the steps")
}
