// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package rules // import "github.com/promptetheus/otelcol-promptetheus/internal/rules"

import (
	"bytes"
	"cmp"
	"slices"
)

// Run is what the rules know of a run besides its steps.
type Run struct {
	// ID is the Promptetheus trace id (or the OTLP trace id in hex).
	ID       string
	Agent    string
	UserGoal string
}

// Finding is one rule that fired. It is stored with a judged run, hence
// the short JSON names.
type Finding struct {
	RuleID     string   `json:"r"`
	Severity   Severity `json:"sv"`
	Confidence float64  `json:"c"`
	Message    string   `json:"m,omitempty"`
	// Evidence lists the seqs of the steps that made the rule fire (steps
	// of runs without seqs have none), or the seqs missing from a run.
	Evidence []int64 `json:"ev,omitempty"`
	// EvidenceSpans lists the span ids of the steps that made it fire.
	EvidenceSpans []SpanRef `json:"es,omitempty"`
	// CriticalSeq is the seq of the step the finding is about, -1 for the
	// run as a whole or a step without seq.
	CriticalSeq int64 `json:"cs"`
	// SpanID is the flagged span, zero for the run as a whole.
	SpanID SpanRef `json:"i,omitzero"`
	// End is when the flagged step ended (Unix ns), 0 for the root.
	End int64 `json:"e,omitempty"`
	// Detection is true for the four Promptetheus reference detectors, whose
	// findings analyze reports as detections with labels.
	Detection bool `json:"d,omitempty"`
}

// Result is the verdict on a run.
type Result struct {
	// GoalPassed is the latest goal_check, nil when there was none.
	GoalPassed *bool
	Mismatches []string
	// GoalSeq is the seq of the deciding goal_check, -1 without one.
	GoalSeq  int64
	Findings []Finding
}

// MaxSeverity is the highest severity among the findings, 0 when none.
func (r *Result) MaxSeverity() Severity {
	var max Severity
	for i := range r.Findings {
		max = maxSeverity(max, r.Findings[i].Severity)
	}
	return max
}

func maxSeverity(a, b Severity) Severity {
	if b > a {
		return b
	}
	return a
}

// Engine evaluates the built-in rules.
type Engine struct {
	cfg Config
}

// NewEngine returns an engine with the given rule parameters.
func NewEngine(cfg Config) *Engine { return &Engine{cfg: cfg} }

// StepFindings are the findings of the rules that judge one step alone
// (token and latency budgets of a call). They can be reported as soon as the
// step is seen; Evaluate reports them too.
func (e *Engine) StepFindings(s *Step) []Finding {
	var out []Finding
	if tb := e.cfg.TokenBudget; tb.Enabled && s.Kind == KindLLMCall && s.InputTokens+s.OutputTokens > tb.MaxPerCall {
		out = append(out, stepFinding(s, RuleTokenBudget, tb.Severity,
			"LLM call used %d tokens, over the per-call budget of %d", s.InputTokens+s.OutputTokens, tb.MaxPerCall))
	}
	if lb := e.cfg.LatencyBudget; lb.Enabled && s.Kind == KindLLMCall && s.End-s.Start > int64(lb.MaxLLMLatency) {
		out = append(out, stepFinding(s, RuleLatencyBudget, lb.Severity,
			"LLM call took %s, over the budget of %s", nanos(s.End-s.Start), lb.MaxLLMLatency))
	}
	return out
}

// Evaluate judges a run from its steps, in any order: they are read by seq.
// The same run and steps always give the same result.
func (e *Engine) Evaluate(run Run, steps []Step) Result {
	steps = slices.Clone(steps)
	SortSteps(steps)
	res := Result{GoalSeq: -1}
	for i := range steps {
		if s := &steps[i]; s.Kind == KindGoalCheck && s.D().GoalPassed != nil {
			passed := *s.D().GoalPassed
			res.GoalPassed, res.Mismatches, res.GoalSeq = &passed, s.D().Mismatches, s.Seq
		}
	}
	for i := range steps {
		res.Findings = append(res.Findings, e.StepFindings(&steps[i])...)
	}
	t := &trajectory{run: run, steps: steps, goal: &res}
	for _, rule := range e.traceRules() {
		res.Findings = append(res.Findings, rule(t)...)
	}
	// false_success_claim reads the other findings, so it runs last.
	if e.cfg.FalseSuccessClaim.Enabled {
		res.Findings = append(res.Findings, falseSuccessClaim(t, res.Findings, e.cfg.FalseSuccessClaim.Severity)...)
	}
	SortFindings(res.Findings)
	return res
}

// SortFindings orders findings by the step they flag, then rule, then span,
// so that a verdict never depends on evaluation order.
func SortFindings(findings []Finding) {
	slices.SortStableFunc(findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.CriticalSeq, b.CriticalSeq), cmp.Compare(a.End, b.End), cmp.Compare(a.RuleID, b.RuleID),
			bytes.Compare(a.SpanID[:], b.SpanID[:]))
	})
}

// trajectory is a run's steps in order, with helpers the rules share.
type trajectory struct {
	run   Run
	steps []Step
	goal  *Result
}

func (e *Engine) traceRules() []func(*trajectory) []Finding {
	c := &e.cfg
	var rules []func(*trajectory) []Finding
	add := func(enabled bool, rule func(*trajectory) []Finding) {
		if enabled {
			rules = append(rules, rule)
		}
	}
	add(c.BrowserGoalMismatch.Enabled, func(t *trajectory) []Finding { return browserGoalMismatch(t, c.BrowserGoalMismatch.Severity) })
	add(c.IgnoredUIWarning.Enabled, func(t *trajectory) []Finding { return ignoredUIWarning(t, c.IgnoredUIWarning.Severity) })
	add(c.ForbiddenAction.Enabled, func(t *trajectory) []Finding { return forbiddenAction(t, c.ForbiddenAction.Severity) })
	add(c.Loop.Enabled, func(t *trajectory) []Finding { return loop(t, &c.Loop) })
	add(c.NoProgress.Enabled, func(t *trajectory) []Finding { return noProgress(t, &c.NoProgress) })
	add(c.StepBudget.Enabled, func(t *trajectory) []Finding { return stepBudget(t, &c.StepBudget) })
	add(c.TokenBudget.Enabled, func(t *trajectory) []Finding { return runTokenBudget(t, &c.TokenBudget) })
	add(c.LatencyBudget.Enabled, func(t *trajectory) []Finding { return runDuration(t, &c.LatencyBudget) })
	add(c.ToolErrors.Enabled, func(t *trajectory) []Finding { return toolErrors(t, &c.ToolErrors) })
	add(c.UnmatchedToolCalls.Enabled, func(t *trajectory) []Finding { return unmatchedToolCalls(t, c.UnmatchedToolCalls.Severity) })
	add(c.ActionsAfterGoal.Enabled, func(t *trajectory) []Finding { return actionsAfterGoal(t, c.ActionsAfterGoal.Severity) })
	add(c.MissingGoalCheck.Enabled, func(t *trajectory) []Finding { return missingGoalCheck(t, c.MissingGoalCheck.Severity) })
	add(c.ScoreThreshold.Enabled, func(t *trajectory) []Finding { return scoreThreshold(t, &c.ScoreThreshold) })
	add(c.SeqGaps.Enabled, func(t *trajectory) []Finding { return seqGaps(t, c.SeqGaps.Severity) })
	return rules
}

// SortSteps orders steps by seq, then start time, then span id, so that
// runs without seqs (other instrumentations) are read in time order.
func SortSteps(steps []Step) {
	slices.SortStableFunc(steps, func(a, b Step) int { return compareSteps(&a, &b) })
}

func compareSteps(a, b *Step) int {
	return cmp.Or(cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.Start, b.Start), bytes.Compare(a.SpanID[:], b.SpanID[:]))
}
