// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package rules // import "github.com/promptetheus/otelcol-promptetheus/internal/rules"

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The built-in trajectory rules. Each reads the ordered steps of a run and
// returns its findings; none keeps state between runs.

// maxEvidence bounds the steps a finding lists.
const maxEvidence = 20

func stepFinding(s *Step, rule string, sev Severity, format string, args ...any) Finding {
	return StepFinding(s, rule, sev, fmt.Sprintf(format, args...))
}

// StepFinding is a finding about one step.
func StepFinding(s *Step, rule string, sev Severity, message string) Finding {
	f := Finding{
		RuleID: rule, Severity: sev, Confidence: 1, Message: message,
		CriticalSeq: s.Seq, SpanID: s.SpanID, End: s.End,
	}
	f.setEvidence([]*Step{s})
	return f
}

// runFinding is a finding about the run as a whole; evidence lists seqs
// that no step has (missing ones), if any.
func runFinding(rule string, sev Severity, missingSeqs []int64, format string, args ...any) Finding {
	return Finding{
		RuleID: rule, Severity: sev, Confidence: 1, Message: fmt.Sprintf(format, args...),
		Evidence: slices.Clone(missingSeqs[:min(len(missingSeqs), maxEvidence)]), CriticalSeq: -1,
	}
}

// setEvidence lists the steps that made a rule fire, in timeline order,
// each once, at most maxEvidence: their seqs (for runs that number their
// events) and their span ids (for every run).
func (f *Finding) setEvidence(steps []*Step) {
	steps = slices.Clone(steps)
	slices.SortStableFunc(steps, func(a, b *Step) int { return compareSteps(a, b) })
	steps = slices.CompactFunc(steps, func(a, b *Step) bool { return a.SpanID == b.SpanID })
	steps = steps[:min(len(steps), maxEvidence)]
	f.Evidence, f.EvidenceSpans = nil, make([]SpanRef, 0, len(steps))
	for _, s := range steps {
		if s.Seq >= 0 {
			f.Evidence = append(f.Evidence, s.Seq)
		}
		f.EvidenceSpans = append(f.EvidenceSpans, s.SpanID)
	}
}

func nanos(n int64) time.Duration { return time.Duration(n).Round(time.Millisecond) }

// isAction reports whether a step is something the agent did to the world.
func isAction(s *Step) bool { return s.Kind == KindToolCall || s.Kind == KindBrowserAction }

// signature identifies an action for loop and progress rules.
func signature(s *Step) string {
	if s.Kind == KindToolCall {
		return "tool\x00" + s.Name + "\x00" + s.ArgsHash
	}
	return "browser\x00" + s.Name + "\x00" + s.D().Target + "\x00" + s.D().URL
}

// actions returns the run's actions and their signatures, computed once.
func actions(t *trajectory) ([]*Step, []string) {
	var out []*Step
	var sigs []string
	for i := range t.steps {
		if isAction(&t.steps[i]) {
			out = append(out, &t.steps[i])
			sigs = append(sigs, signature(&t.steps[i]))
		}
	}
	return out, sigs
}

// loop fires on the same action repeated MaxRepeats times in a row, and on a
// cycle of two or three actions repeated MaxCycles times.
func loop(t *trajectory, c *LoopConfig) []Finding {
	acts, sigs := actions(t)
	var out []Finding
	for i := 0; i < len(acts); {
		j := i + 1
		for j < len(acts) && sigs[j] == sigs[i] {
			j++
		}
		if n := j - i; n >= c.MaxRepeats {
			f := stepFinding(acts[i+c.MaxRepeats-1], RuleLoop, c.Severity,
				"%s repeated %d times in a row with the same input", describe(acts[i]), n)
			f.setEvidence(acts[i:j])
			out = append(out, f)
			i = j
			continue
		}
		i++
	}
	for period := 2; period <= 3; period++ {
		for i := 0; i+period*c.MaxCycles <= len(acts); i++ {
			if !distinct(sigs[i : i+period]) {
				continue
			}
			n := period
			for i+n < len(acts) && sigs[i+n] == sigs[i+n-period] {
				n++
			}
			if n/period >= c.MaxCycles {
				names := make([]string, period)
				for k := range names {
					names[k] = describe(acts[i+k])
				}
				f := stepFinding(acts[i+period*c.MaxCycles-1], RuleLoop, c.Severity,
					"cycle %s repeated %d times", strings.Join(names, " -> "), n/period)
				f.setEvidence(acts[i : i+n])
				out = append(out, f)
				i += n - 1
			}
		}
	}
	return out
}

// distinct reports whether a short list holds no repeated signature.
func distinct(sigs []string) bool {
	for i := range sigs {
		for j := i + 1; j < len(sigs); j++ {
			if sigs[i] == sigs[j] {
				return false
			}
		}
	}
	return true
}

func describe(s *Step) string {
	if s.Kind == KindToolCall {
		return "tool " + s.Name
	}
	return "browser action " + s.Name
}

// noProgress fires when Window actions in a row hold fewer than MinDistinct
// different actions (the agent busy without moving on), once per run.
func noProgress(t *trajectory, c *NoProgressConfig) []Finding {
	acts, sigs := actions(t)
	// A sliding window with a count per signature: linear in the actions.
	counts := map[string]int{}
	for i := range acts {
		counts[sigs[i]]++
		if i >= c.Window {
			if counts[sigs[i-c.Window]]--; counts[sigs[i-c.Window]] == 0 {
				delete(counts, sigs[i-c.Window])
			}
		}
		if i >= c.Window-1 && len(counts) < c.MinDistinct {
			f := stepFinding(acts[i], RuleNoProgress, c.Severity,
				"%d actions in a row with only %d distinct ones", c.Window, len(counts))
			f.setEvidence(acts[i-c.Window+1 : i+1])
			return []Finding{f}
		}
	}
	return nil
}

func stepBudget(t *trajectory, c *StepBudgetConfig) []Finding {
	if len(t.steps) <= c.MaxSteps {
		return nil
	}
	s := &t.steps[c.MaxSteps]
	return []Finding{stepFinding(s, RuleStepBudget, c.Severity, "run took %d steps, over the budget of %d", len(t.steps), c.MaxSteps)}
}

func runTokenBudget(t *trajectory, c *TokenBudgetConfig) []Finding {
	var total int64
	var crossed *Step
	for i := range t.steps {
		s := &t.steps[i]
		total += s.InputTokens + s.OutputTokens
		if crossed == nil && total > c.MaxPerRun {
			crossed = s
		}
	}
	if crossed == nil {
		return nil
	}
	return []Finding{stepFinding(crossed, RuleTokenBudget, c.Severity, "run used %d tokens, over the budget of %d", total, c.MaxPerRun)}
}

func runDuration(t *trajectory, c *LatencyBudgetConfig) []Finding {
	if len(t.steps) == 0 {
		return nil
	}
	start, end := t.steps[0].Start, t.steps[0].End
	for i := range t.steps {
		start, end = min(start, t.steps[i].Start), max(end, t.steps[i].End)
	}
	if end-start <= int64(c.MaxDuration) {
		return nil
	}
	return []Finding{runFinding(RuleLatencyBudget, c.Severity, nil, "run lasted %s, over the budget of %s", nanos(end-start), c.MaxDuration)}
}

// toolErrors fires when MaxConsecutive tool calls in a row failed.
func toolErrors(t *trajectory, c *ToolErrorsConfig) []Finding {
	var out []Finding
	var run []*Step
	flush := func() {
		if len(run) >= c.MaxConsecutive {
			f := stepFinding(run[c.MaxConsecutive-1], RuleToolErrors, c.Severity, "%d tool calls in a row failed (last: %s)", len(run), run[len(run)-1].D().ErrorText)
			f.setEvidence(run)
			out = append(out, f)
		}
		run = nil
	}
	for i := range t.steps {
		s := &t.steps[i]
		if s.Kind != KindToolCall {
			continue
		}
		if s.Error {
			run = append(run, s)
			continue
		}
		flush()
	}
	flush()
	return out
}

func unmatchedToolCalls(t *trajectory, sev Severity) []Finding {
	var out []Finding
	for i := range t.steps {
		if s := &t.steps[i]; s.Kind == KindToolCall && s.Unmatched {
			out = append(out, stepFinding(s, RuleUnmatchedToolCall, sev, "tool call %q has no matching result", s.Name))
		}
	}
	return out
}

// actionsAfterGoal fires on actions taken after a goal_check passed: the
// agent was done and kept going (e.g. confirmed past a stop point).
func actionsAfterGoal(t *trajectory, sev Severity) []Finding {
	passedAt := -1
	for i := range t.steps {
		s := &t.steps[i]
		if s.Kind == KindGoalCheck && s.D().GoalPassed != nil && *s.D().GoalPassed && passedAt < 0 {
			passedAt = i
			continue
		}
		if passedAt >= 0 && isAction(s) {
			var later []*Step
			for k := i; k < len(t.steps); k++ {
				if isAction(&t.steps[k]) {
					later = append(later, &t.steps[k])
				}
			}
			f := stepFinding(s, RuleActionAfterGoal, sev, "%d action(s) after the goal_check at seq %d passed", len(later), t.steps[passedAt].Seq)
			f.setEvidence(append([]*Step{&t.steps[passedAt]}, later...))
			return []Finding{f}
		}
	}
	return nil
}

func missingGoalCheck(t *trajectory, sev Severity) []Finding {
	if t.goal.GoalPassed != nil {
		return nil
	}
	return []Finding{runFinding(RuleMissingGoalCheck, sev, nil, "run finished without a goal_check")}
}

func scoreThreshold(t *trajectory, c *ScoreConfig) []Finding {
	var out []Finding
	for i := range t.steps {
		s := &t.steps[i]
		if s.Kind != KindScore || s.D().Score == nil || *s.D().Score >= c.Min {
			continue
		}
		if len(c.Names) > 0 && !slices.Contains(c.Names, s.Name) {
			continue
		}
		out = append(out, stepFinding(s, RuleScoreThreshold, c.Severity, "score %q is %g, under %g", s.Name, *s.D().Score, c.Min))
	}
	return out
}

// seqGaps fires when seqs between the first and the last are missing: events
// the agent sent that never arrived (or were refused).
func seqGaps(t *trajectory, sev Severity) []Finding {
	seen := map[int64]bool{}
	lo, hi := int64(-1), int64(-1)
	note := func(q int64) {
		seen[q] = true
		if lo < 0 || q < lo {
			lo = q
		}
		hi = max(hi, q)
	}
	for i := range t.steps {
		s := &t.steps[i]
		if s.Seq >= 0 {
			note(s.Seq)
		}
		if s.PairSeq > 0 {
			note(s.PairSeq)
		}
	}
	if lo < 0 {
		return nil
	}
	var missing []int64
	for q := lo; q <= hi; q++ {
		if !seen[q] {
			missing = append(missing, q)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return []Finding{runFinding(RuleSeqGap, sev, missing, "%d seq(s) missing between %d and %d, first %d", len(missing), lo, hi, missing[0])}
}
