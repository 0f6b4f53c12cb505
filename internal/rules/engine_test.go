// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package rules

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
)

// steps builds a trajectory: each step gets the next seq and a second of time.
type stepsBuilder struct{ steps []Step }

func (b *stepsBuilder) add(s Step) *stepsBuilder {
	seq := int64(len(b.steps))
	s.Seq = seq
	binary.BigEndian.PutUint64(s.SpanID[:], uint64(seq+1))
	s.Start = int64(time.Duration(seq) * time.Second)
	if s.End == 0 {
		s.End = s.Start
	}
	b.steps = append(b.steps, s)
	return b
}

func tool(name, args string) Step { return Step{Kind: KindToolCall, Name: name, ArgsHash: args} }
func click(target string) Step {
	return Step{Kind: KindBrowserAction, Name: "click", Detail: &Detail{Target: target}}
}
func say(text string) Step { return Step{Kind: KindAgentMessage, Detail: &Detail{Text: text}} }
func snapshot(warn ...string) Step {
	return Step{Kind: KindDOMSnapshot, Detail: &Detail{Warnings: warn}}
}
func goalCheck(passed bool, mm ...string) Step {
	return Step{Kind: KindGoalCheck, Detail: &Detail{GoalPassed: &passed, Mismatches: mm}}
}

// only enables one rule, so a test sees that rule's findings alone.
func only(rule string, tune func(*Config)) Config {
	c := DefaultConfig()
	for _, t := range []*Toggle{&c.BrowserGoalMismatch, &c.IgnoredUIWarning, &c.ForbiddenAction, &c.FalseSuccessClaim,
		&c.Loop.Toggle, &c.NoProgress.Toggle, &c.StepBudget.Toggle, &c.TokenBudget.Toggle, &c.LatencyBudget.Toggle,
		&c.ToolErrors.Toggle, &c.UnmatchedToolCalls, &c.ActionsAfterGoal, &c.MissingGoalCheck, &c.ScoreThreshold.Toggle, &c.SeqGaps} {
		t.Enabled = false
	}
	c.toggleOf(rule).Enabled = true
	if tune != nil {
		tune(&c)
	}
	return c
}

func (c *Config) toggleOf(rule string) *Toggle {
	return map[string]*Toggle{
		RuleBrowserGoalMismatch: &c.BrowserGoalMismatch, RuleIgnoredUIWarning: &c.IgnoredUIWarning,
		RuleForbiddenAction: &c.ForbiddenAction, RuleFalseSuccessClaim: &c.FalseSuccessClaim,
		RuleLoop: &c.Loop.Toggle, RuleNoProgress: &c.NoProgress.Toggle, RuleStepBudget: &c.StepBudget.Toggle,
		RuleTokenBudget: &c.TokenBudget.Toggle, RuleLatencyBudget: &c.LatencyBudget.Toggle,
		RuleToolErrors: &c.ToolErrors.Toggle, RuleUnmatchedToolCall: &c.UnmatchedToolCalls,
		RuleActionAfterGoal: &c.ActionsAfterGoal, RuleMissingGoalCheck: &c.MissingGoalCheck,
		RuleScoreThreshold: &c.ScoreThreshold.Toggle, RuleSeqGap: &c.SeqGaps,
	}[rule]
}

func score(v float64) *float64 { return &v }

func TestEachRuleFiresAndHoldsBack(t *testing.T) {
	goal := "Book Tuesday at 2pm Pacific, but stop at confirmation"
	cases := []struct {
		rule       string
		tune       func(*Config)
		fire, hold []Step
		wantConf   float64
		wantSeq    int64
		wantInMsg  string
	}{
		{rule: RuleLoop,
			fire:    []Step{tool("search", "a"), tool("search", "a"), tool("search", "a")},
			hold:    []Step{tool("search", "a"), tool("search", "b"), tool("search", "a")},
			wantSeq: 2, wantInMsg: "repeated 3 times"},
		{rule: RuleLoop,
			fire:    []Step{tool("open", "x"), tool("back", ""), tool("open", "x"), tool("back", ""), tool("open", "x"), tool("back", "")},
			hold:    []Step{tool("open", "x"), tool("back", ""), tool("open", "y"), tool("back", ""), tool("open", "z"), tool("back", "")},
			wantSeq: 5, wantInMsg: "cycle tool open -> tool back repeated 3 times"},
		{rule: RuleNoProgress,
			tune:    func(c *Config) { c.NoProgress.Window, c.NoProgress.MinDistinct = 4, 3 },
			fire:    []Step{click("#a"), click("#b"), click("#a"), click("#b")},
			hold:    []Step{click("#a"), click("#b"), click("#c"), click("#a")},
			wantSeq: 3},
		{rule: RuleStepBudget,
			tune:    func(c *Config) { c.StepBudget.MaxSteps = 2 },
			fire:    []Step{say("1"), say("2"), say("3")},
			hold:    []Step{say("1"), say("2")},
			wantSeq: 2},
		{rule: RuleTokenBudget,
			tune:    func(c *Config) { c.TokenBudget.MaxPerCall = 100 },
			fire:    []Step{{Kind: KindLLMCall, InputTokens: 90, OutputTokens: 20}},
			hold:    []Step{{Kind: KindLLMCall, InputTokens: 90, OutputTokens: 10}},
			wantSeq: 0, wantInMsg: "per-call budget"},
		{rule: RuleTokenBudget,
			tune:    func(c *Config) { c.TokenBudget.MaxPerRun = 150 },
			fire:    []Step{{Kind: KindLLMCall, InputTokens: 100}, {Kind: KindLLMCall, InputTokens: 100}},
			hold:    []Step{{Kind: KindLLMCall, InputTokens: 100}, {Kind: KindLLMCall, InputTokens: 50}},
			wantSeq: 1, wantInMsg: "run used 200 tokens"},
		{rule: RuleLatencyBudget,
			tune:    func(c *Config) { c.LatencyBudget.MaxLLMLatency = time.Second },
			fire:    []Step{{Kind: KindLLMCall, End: int64(2 * time.Second)}},
			hold:    []Step{{Kind: KindLLMCall, End: int64(time.Second)}},
			wantSeq: 0},
		{rule: RuleLatencyBudget,
			tune:    func(c *Config) { c.LatencyBudget.MaxDuration = 2 * time.Second },
			fire:    []Step{say("a"), say("b"), say("c"), say("d")},
			hold:    []Step{say("a"), say("b"), say("c")},
			wantSeq: -1, wantInMsg: "run lasted 3s"},
		{rule: RuleToolErrors,
			fire:    []Step{{Kind: KindToolCall, Name: "t", Error: true}, {Kind: KindToolCall, Name: "t", Error: true}, {Kind: KindToolCall, Name: "t", Error: true, Detail: &Detail{ErrorText: "timeout"}}},
			hold:    []Step{{Kind: KindToolCall, Name: "t", Error: true}, {Kind: KindToolCall, Name: "t"}, {Kind: KindToolCall, Name: "t", Error: true}},
			wantSeq: 2, wantInMsg: "timeout"},
		{rule: RuleUnmatchedToolCall,
			fire:    []Step{{Kind: KindToolCall, Name: "t", Unmatched: true}},
			hold:    []Step{{Kind: KindToolCall, Name: "t"}},
			wantSeq: 0},
		{rule: RuleActionAfterGoal,
			fire:    []Step{goalCheck(true), click("#confirm")},
			hold:    []Step{click("#confirm"), goalCheck(true)},
			wantSeq: 1},
		{rule: RuleMissingGoalCheck,
			fire:    []Step{say("bye")},
			hold:    []Step{goalCheck(false)},
			wantSeq: -1},
		{rule: RuleScoreThreshold,
			fire:    []Step{{Kind: KindScore, Name: "helpfulness", Detail: &Detail{Score: score(0.2)}}},
			hold:    []Step{{Kind: KindScore, Name: "helpfulness", Detail: &Detail{Score: score(0.8)}}},
			wantSeq: 0, wantInMsg: "helpfulness"},
	}
	for _, c := range cases {
		t.Run(c.rule+"/"+c.wantInMsg, func(t *testing.T) {
			e := NewEngine(only(c.rule, c.tune))
			run := Run{ID: "r", UserGoal: goal}
			var fire, hold stepsBuilder
			for _, s := range c.fire {
				fire.add(s)
			}
			for _, s := range c.hold {
				hold.add(s)
			}
			res := e.Evaluate(run, fire.steps)
			got := findingsOf(res, c.rule)
			require.Len(t, got, 1, "%+v", res.Findings)
			f := got[0]
			assert.Equal(t, c.wantSeq, f.CriticalSeq)
			if c.wantConf > 0 {
				assert.Equal(t, c.wantConf, f.Confidence)
				assert.True(t, f.Detection)
			}
			assert.Contains(t, f.Message, c.wantInMsg)
			assert.Empty(t, findingsOf(e.Evaluate(run, hold.steps), c.rule))
		})
	}
}

func TestSeqGaps(t *testing.T) {
	e := NewEngine(only(RuleSeqGap, nil))
	steps := []Step{{Seq: 0, Kind: KindUserMessage}, {Seq: 1, PairSeq: 2, Kind: KindToolCall}, {Seq: 5, Kind: KindAgentMessage}}
	got := findingsOf(e.Evaluate(Run{}, steps), RuleSeqGap)
	require.Len(t, got, 1)
	assert.Equal(t, []int64{3, 4}, got[0].Evidence)
	steps[2].Seq = 3
	assert.Empty(t, findingsOf(e.Evaluate(Run{}, steps), RuleSeqGap), "a pair's result seq fills its place")
}

func TestGoalVerdictIsTheLatestGoalCheck(t *testing.T) {
	var b stepsBuilder
	b.add(goalCheck(false, "first try wrong")).add(goalCheck(true))
	res := NewEngine(DefaultConfig()).Evaluate(Run{}, b.steps)
	require.NotNil(t, res.GoalPassed)
	assert.True(t, *res.GoalPassed)
	assert.Equal(t, int64(1), res.GoalSeq)
}

func TestEvaluateIsDeterministic(t *testing.T) {
	var b stepsBuilder
	b.add(say("Book it")).add(snapshot("careful")).add(click("#confirm")).add(tool("s", "a")).add(tool("s", "a")).
		add(tool("s", "a")).add(goalCheck(false, "wrong day")).add(say("Done, booked"))
	e := NewEngine(DefaultConfig())
	run := Run{ID: "r", UserGoal: "Book Monday, do not confirm"}
	want := e.Evaluate(run, b.steps)
	require.NotEmpty(t, want.Findings)
	for range 20 {
		shuffled := append([]Step(nil), b.steps...)
		rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		assert.Equal(t, want, e.Evaluate(run, shuffled))
	}
}

func act(kind, target, value string) Step {
	return Step{Kind: KindBrowserAction, Name: kind, Detail: &Detail{Target: target, Value: value}}
}

// TestReferenceDetectorVectors replays the reference server's own test
// vectors for its four detectors.
func TestReferenceDetectorVectors(t *testing.T) {
	pad := []Step{say("hello"), {Kind: KindUserMessage}}
	cases := []struct {
		name     string
		goal     string
		steps    []Step
		rule     string
		conf     float64
		critical int64
		evidence []int64
	}{
		{"goal_check failed", "Book a Monday slot", append(pad[:2:2],
			act("fill", "day", "Tuesday"), Step{Kind: KindDOMSnapshot, Detail: &Detail{Selected: []string{"day=Tuesday"}}},
			goalCheck(false, "day should be Monday but was Tuesday")),
			RuleBrowserGoalMismatch, 0.9, 2, []int64{2, 4}},
		{"selected values", "Book a Monday slot", append(pad[:2:2],
			act("fill", "day", "Tuesday"), Step{Kind: KindDOMSnapshot, Detail: &Detail{Selected: []string{"day=Tuesday"}}}),
			RuleBrowserGoalMismatch, 0.7, 3, []int64{3}},
		{"last message", "Book Tuesday 2pm", append(pad[:2:2], say("I booked Wednesday")),
			RuleBrowserGoalMismatch, 0.5, 2, []int64{2}},
		{"warning persists", "Book a room", append(pad[:2:2],
			snapshot("Price changed"), act("click", "continue", ""), snapshot("Price changed"), act("submit", "form", "")),
			RuleIgnoredUIWarning, 0.9, 3, []int64{2, 3}},
		{"warning gone", "Book a room", append(pad[:2:2],
			snapshot("Price changed"), act("click", "continue", ""), snapshot()),
			RuleIgnoredUIWarning, 0.6, 3, []int64{2, 3}},
		{"forbidden target", "Book it but stop at confirmation", append(pad[:2:2],
			Step{Kind: KindDOMSnapshot, Detail: &Detail{Text: "Confirmation page"}}, act("click", "confirmation-submit", "")),
			RuleForbiddenAction, 0.9, 3, []int64{2, 3}},
		{"forbidden visible", "Book it but stop at confirmation", append(pad[:2:2],
			Step{Kind: KindDOMSnapshot, Detail: &Detail{Text: "Confirmation page"}}, act("click", "primary-button", "")),
			RuleForbiddenAction, 0.6, 3, []int64{2, 3}},
		{"false claim after failed goal", "Book a Monday slot", append(pad[:2:2],
			goalCheck(false, "wrong day"), say("Done, booked")),
			RuleFalseSuccessClaim, 0.95, 3, []int64{2, 3}},
		{"false claim after weak mismatch", "Book Tuesday 2pm", append(pad[:2:2],
			Step{Kind: KindAgentMessage, Detail: &Detail{Text: "All good", Status: "success"}}),
			RuleFalseSuccessClaim, 0.6, 2, []int64{2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b stepsBuilder
			for _, s := range c.steps {
				b.add(s)
			}
			res := NewEngine(DefaultConfig()).Evaluate(Run{UserGoal: c.goal}, b.steps)
			got := findingsOf(res, c.rule)
			require.Len(t, got, 1, "%+v", res.Findings)
			assert.Equal(t, c.conf, got[0].Confidence)
			assert.Equal(t, c.critical, got[0].CriticalSeq)
			assert.Equal(t, c.evidence, got[0].Evidence)
			assert.True(t, got[0].Detection)
		})
	}
}

func TestDetectorsHoldBack(t *testing.T) {
	var b stepsBuilder
	b.add(say("hi")).add(act("fill", "day", "Monday")).add(Step{Kind: KindDOMSnapshot, Detail: &Detail{Selected: []string{"day=Monday", "what=slot"}}}).
		add(goalCheck(true)).add(say("Done: Monday slot booked"))
	res := NewEngine(DefaultConfig()).Evaluate(Run{UserGoal: "Book a Monday slot"}, b.steps)
	for _, rule := range Detectors {
		assert.Empty(t, findingsOf(res, rule), rule)
	}
	res = NewEngine(DefaultConfig()).Evaluate(Run{UserGoal: "Reserve a desk, stop at payment"}, b.steps)
	assert.Empty(t, findingsOf(res, RuleForbiddenAction), "no action touches the stop boundary")
}

func TestRootCause(t *testing.T) {
	findings := []Finding{
		{RuleID: RuleIgnoredUIWarning, Confidence: 0.6, CriticalSeq: 3, Detection: true},
		{RuleID: RuleBrowserGoalMismatch, Confidence: 0.9, CriticalSeq: 1, Detection: true},
	}
	assert.Equal(t, `the browser action at step 1 contradicted the requested booking constraints for goal "Book Tuesday"; root cause: no final browser-state verification before claiming success.`,
		RootCause(findings, " Book Tuesday "))
	assert.Empty(t, RootCause(nil, "x"))

	cases := []struct {
		name     string
		findings []Finding
		goal     string
		want     string
	}{
		{"warning, no goal", []Finding{{RuleID: RuleIgnoredUIWarning, Confidence: 0.9, CriticalSeq: 4, Detection: true}}, "",
			"the browser action at step 4 contradicted a surfaced UI warning; root cause: no check that surfaced warnings were resolved before proceeding."},
		{"forbidden action without a step", []Finding{{RuleID: RuleForbiddenAction, Confidence: 0.6, CriticalSeq: -1, Detection: true}}, "Pay, but stop at review",
			`the failing browser action contradicted the goal's stop-boundary for goal "Pay, but stop at review"; root cause: no stop-boundary guard before the committing action.`},
		{"false claim outranks", []Finding{
			{RuleID: RuleBrowserGoalMismatch, Confidence: 0.9, CriticalSeq: 2, Detection: true},
			{RuleID: RuleFalseSuccessClaim, Confidence: 0.95, CriticalSeq: 6, Detection: true},
		}, `Say "done"`, `the browser action at step 6 contradicted the actual final browser state for goal "Say "done""; root cause: no final browser-state verification before claiming success.`},
		{"ties go to detection order", []Finding{
			{RuleID: RuleForbiddenAction, Confidence: 0.9, CriticalSeq: 5, Detection: true},
			{RuleID: RuleIgnoredUIWarning, Confidence: 0.9, CriticalSeq: 7, Detection: true},
		}, "", "the browser action at step 7 contradicted a surfaced UI warning; root cause: no check that surfaced warnings were resolved before proceeding."},
		{"rule findings are not detections", []Finding{{RuleID: "loop", Confidence: 1, CriticalSeq: 1}}, "g", ""},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, RootCause(c.findings, c.goal), c.name)
	}
}

func TestTokenize(t *testing.T) {
	assert.Equal(t, []string{"book", "tuesday", "2pm", "pacific", "but", "stop", "confirmation"}, tokenize("Book Tuesday at 2pm Pacific, but stop at confirmation"))
	assert.Equal(t, []string{"tuesday", "2pm", "pacific", "confirmation"}, goalTokens("Book Tuesday at 2pm Pacific, but stop at confirmation"))
	assert.Equal(t, []string{"check", "out", "page", "étagère"}, tokenize("check-out/page (étagère!) a1"))
}

func findingsOf(res Result, rule string) []Finding {
	var out []Finding
	for _, f := range res.Findings {
		if f.RuleID == rule {
			out = append(out, f)
		}
	}
	return out
}

func TestStepFromSpanSkipsUploadsNotArtifactEvents(t *testing.T) {
	upload := ptrace.NewSpan()
	upload.SetParentSpanID(pcommon.SpanID{1})
	upload.SetName("artifact screenshot")
	upload.Attributes().PutStr(conventions.AttrArtifactID, "shot_1")
	_, ok := StepFromSpan(upload)
	assert.False(t, ok, "an upload is not an event of the agent's timeline")

	event := ptrace.NewSpan()
	event.SetParentSpanID(pcommon.SpanID{1})
	event.SetName("screenshot")
	event.Attributes().PutStr(conventions.AttrArtifactID, "shot_1")
	event.Attributes().PutStr(conventions.AttrEventType, "screenshot")
	event.Attributes().PutInt(conventions.AttrEventSeq, 4)
	step, ok := StepFromSpan(event)
	require.True(t, ok, "a screenshot event is")
	assert.Equal(t, int64(4), step.Seq)
}
