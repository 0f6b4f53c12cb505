// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package rules // import "github.com/promptetheus/otelcol-promptetheus/internal/rules"

import (
	"cmp"
	"slices"
)

// Run is what the rules know of a run besides its steps.
type Run struct {
	// ID is the Promptetheus trace id.
	ID       string
	Agent    string
	UserGoal string
}

// Finding is one rule that fired.
type Finding struct {
	RuleID     string
	Severity   Severity
	Confidence float64
	Message    string
	// Evidence lists the seqs of the steps that made the rule fire.
	Evidence []int64
	// CriticalSeq is the step the finding is about; its span is the parent
	// of the finding's span.
	CriticalSeq int64
	// SpanID is the hex id of the flagged span ("" for the root).
	SpanID string
	// Detection is true for the four Promptetheus reference detectors, whose
	// findings analyze reports as detections with labels.
	Detection bool
}

// Result is the verdict on a run.
type Result struct {
	// GoalPassed is the latest goal_check, nil when there was none.
	GoalPassed *bool
	Mismatches []string
	Findings   []Finding
}

// Engine evaluates rules over a run's steps.
type Engine struct{}

// NewEngine returns an engine.
func NewEngine() *Engine { return &Engine{} }

// Evaluate judges a run. steps may be in any order; they are read by seq.
// The same run and steps always give the same result.
func (e *Engine) Evaluate(run Run, steps []Step) Result {
	steps = slices.Clone(steps)
	SortSteps(steps)
	var res Result
	for i := range steps {
		s := &steps[i]
		if s.Kind == KindGoalCheck && s.GoalPassed != nil {
			passed := *s.GoalPassed
			res.GoalPassed = &passed
			res.Mismatches = s.Mismatches
		}
	}
	_ = run
	return res
}

// SortSteps orders steps by seq, then start time, then span id, so that
// runs without seqs (other instrumentations) are still read in time order.
func SortSteps(steps []Step) {
	slices.SortStableFunc(steps, func(a, b Step) int {
		switch {
		case a.Seq != b.Seq:
			return cmp.Compare(a.Seq, b.Seq)
		case a.Start != b.Start:
			return cmp.Compare(a.Start, b.Start)
		}
		return cmp.Compare(a.SpanID, b.SpanID)
	})
}
