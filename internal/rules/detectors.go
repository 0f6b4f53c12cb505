// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package rules // import "github.com/promptetheus/otelcol-promptetheus/internal/rules"

import (
	"fmt"
	"slices"
	"strings"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
)

// The four reference detectors of the Promptetheus wire contract. They
// follow the reference server's algorithms (tokens, tiers, critical steps)
// and fixed confidences, so analyze answers what a Promptetheus console
// expects.

// Detectors lists the reference detectors in the reference's order, the
// order of analysis labels.
var Detectors = []string{RuleBrowserGoalMismatch, RuleIgnoredUIWarning, RuleForbiddenAction, RuleFalseSuccessClaim}

func detection(rule string, sev Severity, conf float64, critical *Step, evidence []*Step, msg string) Finding {
	f := StepFinding(critical, rule, sev, msg)
	f.Confidence, f.Detection = conf, true
	f.setEvidence(evidence)
	return f
}

// browserGoalMismatch: 0.9 on the first failed goal_check; else 0.7 when the
// final dom_snapshot's selected values miss goal tokens; else 0.5 when the
// last agent message does not mention every goal token.
func browserGoalMismatch(t *trajectory, sev Severity) []Finding {
	if gc := t.find(func(s *Step) bool { return s.Kind == KindGoalCheck && s.D().GoalPassed != nil && !*s.D().GoalPassed }); gc != nil {
		var tokens []string
		for _, m := range gc.D().Mismatches {
			tokens = append(tokens, tokenize(m)...)
		}
		if len(tokens) == 0 {
			if snap := t.last(KindDOMSnapshot); snap != nil {
				tokens = tokenize(strings.Join(selectedValues(snap), " "))
			}
		}
		critical := t.criticalStep(tokens, gc)
		return []Finding{detection(RuleBrowserGoalMismatch, sev, 0.9, critical, []*Step{gc, critical},
			mapping.FirstOr(gc.D().Mismatches, "goal_check failed"))}
	}
	goal := goalTokens(t.run.UserGoal)
	if snap := t.last(KindDOMSnapshot); snap != nil && len(snap.D().Selected) > 0 {
		values := selectedValues(snap)
		blob := strings.ToLower(strings.Join(values, " "))
		words := map[string]bool{}
		for _, v := range values {
			for _, w := range strings.Fields(strings.ToLower(v)) {
				words[alnum(w)] = true
			}
		}
		var contradicted []string
		for _, tok := range goal {
			if !words[tok] && !strings.Contains(blob, tok) {
				contradicted = append(contradicted, tok)
			}
		}
		if len(contradicted) > 0 {
			critical := t.criticalStep(contradicted, snap)
			return []Finding{detection(RuleBrowserGoalMismatch, sev, 0.7, critical, []*Step{snap, critical},
				fmt.Sprintf("selected values %q do not match goal terms %s", blob, strings.Join(contradicted, ", ")))}
		}
	}
	if msg := t.last(KindAgentMessage); msg != nil && len(goal) > 0 {
		text := strings.ToLower(msg.D().Text)
		if text != "" && !allContained(text, goal) {
			critical := t.criticalStep(goal, msg)
			return []Finding{detection(RuleBrowserGoalMismatch, sev, 0.5, critical, []*Step{msg, critical},
				"the last agent message does not confirm every goal term")}
		}
	}
	return nil
}

// ignoredUIWarning: a dom_snapshot showed a warning that no later action
// addressed before the agent pressed on: 0.9 when the warning is still on
// the final page and the last progressing action committed, else 0.6.
func ignoredUIWarning(t *trajectory, sev Severity) []Finding {
	var finalWarnings []string
	if final := t.last(KindDOMSnapshot); final != nil {
		finalWarnings = final.D().Warnings
	}
	var lastProgressing *Step
	for i := range t.steps {
		if s := &t.steps[i]; s.Kind == KindBrowserAction && progressing(s) {
			lastProgressing = s
		}
	}
	for i := range t.steps {
		snap := &t.steps[i]
		if snap.Kind != KindDOMSnapshot || len(snap.D().Warnings) == 0 {
			continue
		}
		act := t.find(func(s *Step) bool { return s.Kind == KindBrowserAction && s.Seq > snap.Seq && progressing(s) })
		if act == nil || t.warningAddressed(snap, act) {
			continue
		}
		conf := 0.6
		if len(finalWarnings) > 0 && lastProgressing != nil && finalizing(lastProgressing) {
			conf = 0.9
		}
		return []Finding{detection(RuleIgnoredUIWarning, sev, conf, act, []*Step{snap, act},
			fmt.Sprintf("%s although the page warned %q", describe(act), snap.D().Warnings[0]))}
	}
	return nil
}

// warningAddressed: an action between the warning and act touched one of
// the warning's words.
func (t *trajectory) warningAddressed(snap, act *Step) bool {
	var tokens []string
	for _, w := range snap.D().Warnings {
		for _, word := range strings.Fields(strings.ReplaceAll(strings.ToLower(w), "-", " ")) {
			if tok := alnum(word); len([]rune(tok)) >= 3 {
				tokens = append(tokens, tok)
			}
		}
	}
	if len(tokens) == 0 {
		return false
	}
	return t.find(func(s *Step) bool {
		return s.Kind == KindBrowserAction && s.Seq > snap.Seq && s.Seq < act.Seq &&
			anyContained(strings.ToLower(s.D().Target+" "+s.D().Value+" "+s.D().URL), tokens)
	}) != nil
}

// forbidMarkers introduce what a goal forbids, tried in this order.
var forbidMarkers = []string{"stop at", "stop before", "do not", "don't", "without"}

var forbidStopWords = wordSet("the a an and or to at on of do not any it is be page button screen step")

// forbiddenAction: a progressing action targets what the goal forbids (0.9),
// or happens while the page shows it (0.6).
func forbiddenAction(t *trajectory, sev Severity) []Finding {
	goal := strings.ToLower(t.run.UserGoal)
	var tokens []string
	for _, marker := range forbidMarkers {
		i := strings.Index(goal, marker)
		if i < 0 {
			continue
		}
		tail := goal[i+len(marker):]
		for _, stop := range []string{".", ";", ",", " and ", " then "} {
			if j := strings.Index(tail, stop); j >= 0 {
				tail = tail[:j]
			}
		}
		for _, tok := range tokenize(tail) {
			if !forbidStopWords[tok] && !slices.Contains(tokens, tok) {
				tokens = append(tokens, tok)
			}
		}
	}
	if len(tokens) == 0 {
		return nil
	}
	for i := range t.steps {
		act := &t.steps[i]
		if act.Kind != KindBrowserAction || !progressing(act) {
			continue
		}
		selector := anyContained(strings.ToLower(act.D().Target+" "+act.D().URL+" "+act.D().Value), tokens)
		var snap *Step
		for k := i; k >= 0; k-- {
			if s := &t.steps[k]; s.Kind == KindDOMSnapshot && anyContained(strings.ToLower(s.D().Text), tokens) {
				snap = s
				break
			}
		}
		evidence := []*Step{act}
		if snap != nil {
			evidence = append(evidence, snap)
		}
		msg := fmt.Sprintf("%s crossed the goal's stop boundary (%s)", describe(act), strings.Join(tokens, ", "))
		switch {
		case selector:
			return []Finding{detection(RuleForbiddenAction, sev, 0.9, act, evidence, msg)}
		case snap != nil:
			return []Finding{detection(RuleForbiddenAction, sev, 0.6, act, evidence, msg)}
		}
	}
	return nil
}

var successWords = []string{"done", "booked", "completed", "successfully"}

// falseSuccessClaim runs last: the final agent message claims success while
// browser_goal_mismatch fired or the last goal_check failed.
func falseSuccessClaim(t *trajectory, prior []Finding, sev Severity) []Finding {
	claim := t.last(KindAgentMessage)
	if claim == nil || !(strings.EqualFold(claim.D().Status, "success") || anyContained(strings.ToLower(claim.D().Text), successWords)) {
		return nil
	}
	var mismatch *Finding
	for i := range prior {
		if prior[i].RuleID == RuleBrowserGoalMismatch {
			mismatch = &prior[i]
		}
	}
	lastGoal := t.last(KindGoalCheck)
	goalFailed := lastGoal != nil && lastGoal.D().GoalPassed != nil && !*lastGoal.D().GoalPassed
	if mismatch == nil && !goalFailed {
		return nil
	}
	conf := 0.6
	switch {
	case mismatch != nil && mismatch.Confidence >= 0.7:
		conf = 0.95
	case mismatch != nil && mismatch.Confidence == 0.5:
		conf = 0.6
	case goalFailed:
		conf = 0.95
	}
	evidence := []*Step{claim}
	if mismatch != nil {
		evidence = append(evidence, t.stepsOf(mismatch.EvidenceSpans)...)
	}
	if goalFailed {
		evidence = append(evidence, lastGoal)
	}
	return []Finding{detection(RuleFalseSuccessClaim, sev, conf, claim, evidence, "the agent claimed success but the goal was not met")}
}

// rootCausePhrases are, per detection label, what the primary detection's
// step contradicted and the safeguard whose absence let it through, in the
// reference's words.
var rootCausePhrases = map[string]struct{ constraint, safeguard string }{
	RuleBrowserGoalMismatch: {"the requested booking constraints", "no final browser-state verification before claiming success"},
	RuleIgnoredUIWarning:    {"a surfaced UI warning", "no check that surfaced warnings were resolved before proceeding"},
	RuleFalseSuccessClaim:   {"the actual final browser state", "no final browser-state verification before claiming success"},
	RuleForbiddenAction:     {"the goal's stop-boundary", "no stop-boundary guard before the committing action"},
}

// RootCause is the reference's templated root-cause sentence, built from
// the primary detection (highest confidence, the first in detection order
// on ties): "<step> contradicted <constraint>[ for goal "<goal>"]; root
// cause: <safeguard>." It is "" when nothing was detected.
func RootCause(findings []Finding, userGoal string) string {
	var primary *Finding
	for _, label := range Detectors {
		for i := range findings {
			if f := &findings[i]; f.Detection && f.RuleID == label && (primary == nil || f.Confidence > primary.Confidence) {
				primary = f
			}
		}
	}
	if primary == nil {
		return ""
	}
	step := "the failing browser action"
	if primary.CriticalSeq >= 0 {
		step = fmt.Sprintf("the browser action at step %d", primary.CriticalSeq)
	}
	phrases, ok := rootCausePhrases[primary.RuleID]
	if !ok {
		phrases.constraint, phrases.safeguard = "the user goal", "no verification before completion"
	}
	goal := ""
	if g := strings.TrimSpace(userGoal); g != "" {
		goal = ` for goal "` + g + `"`
	}
	return step + " contradicted " + phrases.constraint + goal + "; root cause: " + phrases.safeguard + "."
}

// criticalStep is the first browser action up to observed that touches one
// of tokens, else observed itself.
func (t *trajectory) criticalStep(tokens []string, observed *Step) *Step {
	if len(tokens) > 0 {
		if s := t.find(func(s *Step) bool {
			return s.Kind == KindBrowserAction && s.Seq <= observed.Seq && anyContained(strings.ToLower(s.D().Target+" "+s.D().Value+" "+s.D().URL), tokens)
		}); s != nil {
			return s
		}
	}
	return observed
}

var (
	progressingKinds = []string{"click", "fill", "type", "submit", "confirm", "press"}
	finalizingKinds  = []string{"submit", "confirm"}
)

func progressing(s *Step) bool { return hasKindPrefix(s.Name, progressingKinds) }
func finalizing(s *Step) bool  { return hasKindPrefix(s.Name, finalizingKinds) }

func hasKindPrefix(action string, kinds []string) bool {
	action = strings.ToLower(strings.TrimSpace(action))
	for _, k := range kinds {
		if strings.HasPrefix(action, k) {
			return true
		}
	}
	return false
}

// selectedValues returns the values of a snapshot's "key=value" pairs.
func selectedValues(s *Step) []string {
	out := make([]string, 0, len(s.D().Selected))
	for _, kv := range s.D().Selected {
		_, v, _ := strings.Cut(kv, "=")
		out = append(out, v)
	}
	return out
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

// stepsOf returns the steps of the given span ids.
func (t *trajectory) stepsOf(ids []SpanRef) []*Step {
	var out []*Step
	for i := range t.steps {
		if slices.Contains(ids, t.steps[i].SpanID) {
			out = append(out, &t.steps[i])
		}
	}
	return out
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
