// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package rules

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// steps builds a trajectory: each step gets the next seq and a second of time.
type stepsBuilder struct{ steps []Step }

func (b *stepsBuilder) add(s Step) *stepsBuilder {
	seq := int64(len(b.steps))
	s.Seq = seq
	s.SpanID = fmt.Sprintf("%016x", seq+1)
	s.Start = int64(time.Duration(seq) * time.Second)
	if s.End == 0 {
		s.End = s.Start
	}
	b.steps = append(b.steps, s)
	return b
}

func tool(name, args string) Step  { return Step{Kind: KindToolCall, Name: name, ArgsHash: args} }
func click(target string) Step     { return Step{Kind: KindBrowserAction, Name: "click", Target: target} }
func say(text string) Step         { return Step{Kind: KindAgentMessage, Text: text} }
func snapshot(warn ...string) Step { return Step{Kind: KindDOMSnapshot, Warnings: warn} }
func goalCheck(passed bool, mm ...string) Step {
	return Step{Kind: KindGoalCheck, GoalPassed: &passed, Mismatches: mm}
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
		{rule: RuleBrowserGoalMismatch,
			fire:     []Step{say("ok"), goalCheck(false, "Selected 2:00 AM instead of 2:00 PM")},
			hold:     []Step{say("ok"), goalCheck(true)},
			wantConf: 0.9, wantSeq: 1, wantInMsg: "Selected 2:00 AM instead of 2:00 PM"},
		{rule: RuleBrowserGoalMismatch,
			fire:     []Step{{Kind: KindDOMSnapshot, Selected: []string{"day=Tuesday", "time=2:00 AM"}}},
			hold:     []Step{{Kind: KindDOMSnapshot, Selected: []string{"day=Tuesday", "time=2:00 PM"}}},
			wantConf: 0.7, wantSeq: 0, wantInMsg: "2:00 AM"},
		{rule: RuleBrowserGoalMismatch,
			fire:     []Step{say("I booked Wednesday at 2pm")},
			hold:     []Step{say("I booked Tuesday at 14:00")},
			wantConf: 0.5, wantSeq: 0, wantInMsg: "wednesday"},
		{rule: RuleIgnoredUIWarning,
			fire:     []Step{snapshot("Outside office hours"), click("#confirm"), snapshot("Outside office hours")},
			hold:     []Step{snapshot("Outside office hours"), click("#back")},
			wantConf: 0.9, wantSeq: 1, wantInMsg: "Outside office hours"},
		{rule: RuleIgnoredUIWarning,
			fire:     []Step{snapshot("Outside office hours"), click("button.submit"), snapshot()},
			hold:     []Step{click("button.submit"), snapshot("late warning")},
			wantConf: 0.6, wantSeq: 1},
		{rule: RuleForbiddenAction,
			fire:     []Step{click("#time"), click("#confirm-booking")},
			hold:     []Step{click("#time"), click("#next")},
			wantConf: 0.9, wantSeq: 1, wantInMsg: "stop at confirmation"},
		{rule: RuleForbiddenAction,
			fire:     []Step{{Kind: KindDOMSnapshot, Text: "Please confirm your booking"}},
			hold:     []Step{{Kind: KindDOMSnapshot, Text: "Choose a time"}},
			wantConf: 0.6, wantSeq: 0},
		{rule: RuleFalseSuccessClaim,
			fire:     []Step{goalCheck(false, "wrong time"), say("Done! The room is booked.")},
			hold:     []Step{goalCheck(true), say("Done! The room is booked.")},
			wantConf: 0.95, wantSeq: 1},
		{rule: RuleFalseSuccessClaim,
			tune:     func(c *Config) { c.ForbiddenAction.Enabled = true },
			fire:     []Step{click("#confirm"), {Kind: KindAgentMessage, Text: "all set", Status: "success"}},
			hold:     []Step{click("#next"), {Kind: KindAgentMessage, Text: "all set", Status: "success"}},
			wantConf: 0.6, wantSeq: 1},
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
			fire:    []Step{{Kind: KindToolCall, Name: "t", Error: true}, {Kind: KindToolCall, Name: "t", Error: true}, {Kind: KindToolCall, Name: "t", Error: true, ErrorText: "timeout"}},
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
			fire:    []Step{{Kind: KindScore, Name: "helpfulness", Score: score(0.2)}},
			hold:    []Step{{Kind: KindScore, Name: "helpfulness", Score: score(0.8)}},
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

func TestExtractFacts(t *testing.T) {
	f := extractFacts("Book Tuesday at 2pm Pacific, or tue 14:30, not 12am; room 5")
	assert.Equal(t, []string{"tuesday"}, f.days)
	assert.Equal(t, []int{14 * 60, 14*60 + 30, 0}, f.times)
	assert.Equal(t, "12:00 AM", clock(0))
	assert.Equal(t, "2:00 PM", clock(14*60))
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
