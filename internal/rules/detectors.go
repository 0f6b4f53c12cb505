// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package rules // import "github.com/promptetheus/otelcol-promptetheus/internal/rules"

import (
	"fmt"
	"regexp"
	"strings"
)

// The four reference detectors of the Promptetheus wire contract, with its
// labels and fixed confidences, so analyze answers what a Promptetheus
// console expects.

// Contract confidences.
const (
	confGoalCheckFailed   = 0.9
	confSelectedValues    = 0.7
	confLastMessage       = 0.5
	confWarningPersists   = 0.9
	confWarningIgnored    = 0.6
	confForbiddenAction   = 0.9
	confForbiddenVisible  = 0.6
	confFalseClaimProven  = 0.95
	confFalseClaimSuspect = 0.6
)

func detection(rule string, sev Severity, conf float64, critical *Step, evidence []int64, msg string) Finding {
	f := StepFinding(critical, rule, sev, msg)
	f.Confidence, f.Detection, f.Evidence = conf, true, capEvidence(evidence)
	return f
}

// browserGoalMismatch: 0.9 when the deciding goal_check failed; else 0.7
// when the last dom_snapshot's selected values contradict the goal (another
// day or time); else 0.5 when the last agent message does.
func browserGoalMismatch(t *trajectory, sev Severity) []Finding {
	if t.goal.GoalPassed != nil && !*t.goal.GoalPassed {
		s := t.find(func(s *Step) bool { return s.Kind == KindGoalCheck && s.Seq == t.goal.GoalSeq })
		return []Finding{detection(RuleBrowserGoalMismatch, sev, confGoalCheckFailed, s, []int64{s.Seq},
			firstOr(t.goal.Mismatches, "goal_check failed"))}
	}
	goal := extractFacts(t.run.UserGoal)
	if goal.empty() {
		return nil
	}
	if s := t.last(KindDOMSnapshot); s != nil && len(s.Selected) > 0 {
		if why := goal.contradiction(extractFacts(strings.Join(s.Selected, " "))); why != "" {
			return []Finding{detection(RuleBrowserGoalMismatch, sev, confSelectedValues, s, []int64{s.Seq}, "selected values "+why)}
		}
	}
	if s := t.last(KindAgentMessage); s != nil {
		if why := goal.contradiction(extractFacts(s.Text)); why != "" {
			return []Finding{detection(RuleBrowserGoalMismatch, sev, confLastMessage, s, []int64{s.Seq}, "last agent message "+why)}
		}
	}
	return nil
}

// ignoredUIWarning: a dom_snapshot showed a warning, then the agent
// submitted or confirmed: 0.9 if a later snapshot still shows the warning,
// else 0.6.
func ignoredUIWarning(t *trajectory, sev Severity) []Finding {
	for i := range t.steps {
		warned := &t.steps[i]
		if warned.Kind != KindDOMSnapshot || len(warned.Warnings) == 0 {
			continue
		}
		for j := i + 1; j < len(t.steps); j++ {
			act := &t.steps[j]
			if !isAction(act) || !submits(act) {
				continue
			}
			evidence := []int64{warned.Seq, act.Seq}
			conf := confWarningIgnored
			for k := j + 1; k < len(t.steps); k++ {
				if later := &t.steps[k]; later.Kind == KindDOMSnapshot && sharesWarning(later.Warnings, warned.Warnings) {
					conf = confWarningPersists
					evidence = append(evidence, later.Seq)
					break
				}
			}
			return []Finding{detection(RuleIgnoredUIWarning, sev, conf, act, evidence,
				fmt.Sprintf("%s after the page warned %q", describe(act), warned.Warnings[0]))}
		}
	}
	return nil
}

var submitWords = regexp.MustCompile(`(?i)\b(submit|confirm|book|pay|purchase|checkout|check out|place order|send|finish|complete)`)

func submits(s *Step) bool { return submitWords.MatchString(s.Name + " " + s.Target) }

func sharesWarning(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if strings.EqualFold(x, y) {
				return true
			}
		}
	}
	return false
}

// forbidPattern finds what a goal forbids: "stop at X", "stop before X",
// "do not X", "don't X", "without X".
var forbidPattern = regexp.MustCompile(`(?i)\b(?:stop (?:at|before)|do not|don't|dont|without)\s+(?:the\s+|a\s+|an\s+)?([a-z][a-z -]*?)(?:[.,;!?]|\s+(?:and|but|then|or)\b|$)`)

// forbiddenAction: 0.9 when an action after the goal's limit targets what
// it forbids, 0.6 when that only shows in the visible page text.
func forbiddenAction(t *trajectory, sev Severity) []Finding {
	var out []Finding
	for _, m := range forbidPattern.FindAllStringSubmatch(t.run.UserGoal, -1) {
		stems := stemsOf(m[1])
		if len(stems) == 0 {
			continue
		}
		if act := t.find(func(s *Step) bool { return isAction(s) && containsStem(s.Name+" "+s.Target, stems) }); act != nil {
			out = append(out, detection(RuleForbiddenAction, sev, confForbiddenAction, act, []int64{act.Seq},
				fmt.Sprintf("%s although the goal says %q", describe(act), strings.TrimSpace(m[0]))))
			continue
		}
		if seen := t.find(func(s *Step) bool { return s.Kind == KindDOMSnapshot && containsStem(s.Text, stems) }); seen != nil {
			out = append(out, detection(RuleForbiddenAction, sev, confForbiddenVisible, seen, []int64{seen.Seq},
				fmt.Sprintf("the page reached %q although the goal says %q", strings.TrimSpace(m[1]), strings.TrimSpace(m[0]))))
		}
	}
	return out
}

// stemsOf reduces the words of a phrase to crude stems ("confirmation" ->
// "confirm"), dropping short words.
func stemsOf(phrase string) []string {
	var out []string
	for _, w := range strings.Fields(strings.ToLower(phrase)) {
		for _, suffix := range []string{"ation", "ing", "ed", "es", "s"} {
			if strings.HasSuffix(w, suffix) && len(w)-len(suffix) >= 4 {
				w = strings.TrimSuffix(w, suffix)
				break
			}
		}
		if len(w) >= 4 {
			out = append(out, w)
		}
	}
	return out
}

func containsStem(text string, stems []string) bool {
	text = strings.ToLower(text)
	for _, s := range stems {
		if strings.Contains(text, s) {
			return true
		}
	}
	return false
}

var successClaim = regexp.MustCompile(`(?i)\b(done|booked|completed|successfully|success)\b`)

// falseSuccessClaim runs last: the final agent message claims success while
// a goal mismatch fired or the final goal_check failed (0.95), or while
// another detector fired (0.6).
func falseSuccessClaim(t *trajectory, findings []Finding, sev Severity) []Finding {
	msg := t.last(KindAgentMessage)
	if msg == nil || !(successClaim.MatchString(msg.Text) || strings.EqualFold(msg.Status, "success")) {
		return nil
	}
	var mismatch, other *Finding
	for i := range findings {
		f := &findings[i]
		switch {
		case f.RuleID == RuleBrowserGoalMismatch:
			mismatch = f
		case f.Detection && other == nil:
			other = f
		}
	}
	goalFailed := t.goal.GoalPassed != nil && !*t.goal.GoalPassed
	switch {
	case mismatch != nil || goalFailed:
		evidence := []int64{msg.Seq}
		if mismatch != nil {
			evidence = append(evidence, mismatch.Evidence...)
		}
		return []Finding{detection(RuleFalseSuccessClaim, sev, confFalseClaimProven, msg, evidence, "the agent claimed success but the goal was not met")}
	case other != nil:
		return []Finding{detection(RuleFalseSuccessClaim, sev, confFalseClaimSuspect, msg, append([]int64{msg.Seq}, other.Evidence...),
			"the agent claimed success although "+other.RuleID+" fired")}
	}
	return nil
}

// find returns the first step matching ok.
func (t *trajectory) find(ok func(*Step) bool) *Step {
	for i := range t.steps {
		if ok(&t.steps[i]) {
			return &t.steps[i]
		}
	}
	return nil
}

// last returns the last step of a kind.
func (t *trajectory) last(kind string) *Step {
	for i := len(t.steps) - 1; i >= 0; i-- {
		if t.steps[i].Kind == kind {
			return &t.steps[i]
		}
	}
	return nil
}

func firstOr(values []string, fallback string) string {
	if len(values) > 0 && values[0] != "" {
		return values[0]
	}
	return fallback
}
