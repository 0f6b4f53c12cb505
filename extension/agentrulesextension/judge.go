// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentrulesextension // import "github.com/promptetheus/otelcol-promptetheus/extension/agentrulesextension"

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspan"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/pricing"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

// Judge applies one rule configuration to agent runs. It is pure apart from
// debug logging: the same run and steps always give the same verdict. It is
// safe for concurrent use.
type Judge struct {
	prices        *pricing.Table
	engine        *rules.Engine
	userRules     []userRule
	errorSeverity rules.Severity
	logger        *zap.Logger
}

// NewJudge builds the judge of a validated configuration.
func NewJudge(cfg *Config, set component.TelemetrySettings) (*Judge, error) {
	userRules, err := newUserRules(cfg.UserRules, set)
	if err != nil {
		return nil, err
	}
	prices, err := pricing.Load(cfg.Pricing.overrides())
	if err != nil {
		return nil, err
	}
	logger := set.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Judge{prices: prices, engine: rules.NewEngine(cfg.Rules), userRules: userRules, errorSeverity: cfg.ErrorSeverity, logger: logger}, nil
}

// Prices is the price table LLM calls are priced with.
func (j *Judge) Prices() *pricing.Table { return j.prices }

// judgeProvider is implemented by the agent_rules extension.
type judgeProvider interface {
	Judge() *Judge
}

// Lookup returns the judge of the agent_rules extension with the given ID,
// or, when id is nil, a judge of the default configuration. A missing or
// wrong ID is an error that says how to fix the configuration.
func Lookup(host component.Host, id *component.ID, set component.TelemetrySettings) (*Judge, error) {
	if id == nil {
		return NewJudge(createDefaultConfig().(*Config), set)
	}
	ext, ok := host.GetExtensions()[*id]
	if !ok {
		return nil, fmt.Errorf("rules: extension %q not found: configure an agent_rules extension with this ID and list it under service::extensions", id)
	}
	p, ok := ext.(judgeProvider)
	if !ok {
		return nil, fmt.Errorf("rules: extension %q is not an agent_rules extension", id)
	}
	return p.Judge(), nil
}

// HasUserRules reports whether user rules are configured, so that callers
// skip MatchSpan when it cannot find anything.
func (j *Judge) HasUserRules() bool { return len(j.userRules) > 0 }

// MatchSpan evaluates the user rules on one span of an agent run; step is
// the span's step (nil for a span that is not one, such as the root). A
// condition that cannot be evaluated on this span (a type mismatch) does not
// match; it is logged at debug level.
func (j *Judge) MatchSpan(ctx context.Context, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span, step *rules.Step) []rules.Finding {
	if len(j.userRules) == 0 {
		return nil
	}
	if step == nil {
		step = &rules.Step{Seq: -1, SpanID: rules.SpanRef(span.SpanID()), End: int64(span.EndTimestamp())}
	}
	tCtx := ottlspan.NewTransformContext(rs, ss, span)
	defer tCtx.Close()
	var out []rules.Finding
	for _, r := range j.userRules {
		ok, err := r.condition.Eval(ctx, tCtx)
		if err != nil {
			j.logger.Debug("User rule could not be evaluated", zap.String("rule", r.cfg.ID), zap.Error(err))
			continue
		}
		if ok {
			out = append(out, rules.StepFinding(step, r.cfg.ID, r.cfg.Severity, r.cfg.Message))
		}
	}
	return out
}

// Evaluate judges a run: the built-in rules over its steps, plus the user
// rule findings recorded for its spans.
func (j *Judge) Evaluate(run rules.Run, steps []rules.Step, userFindings []rules.Finding) rules.Result {
	res := j.engine.Evaluate(run, steps)
	if len(userFindings) > 0 {
		res.Findings = append(res.Findings, userFindings...)
		rules.SortFindings(res.Findings)
	}
	return res
}

// WriteVerdict writes a run's verdict on its root span and appends one
// rule_finding span per finding to findingSpans, parented to the span it
// flags (the root for findings about the whole run). runID, when known, is
// the Promptetheus run the spans belong to.
func (j *Judge) WriteVerdict(root ptrace.Span, res *rules.Result, runID string, findingSpans ptrace.SpanSlice) {
	j.annotateRoot(root, res)
	traceID := root.TraceID()
	for i := range res.Findings {
		f := &res.Findings[i]
		flagged, ts := root.SpanID(), root.EndTimestamp()
		if f.SpanID != (rules.SpanRef{}) {
			flagged, ts = pcommon.SpanID(f.SpanID), pcommon.Timestamp(f.End)
		}
		span := findingSpans.AppendEmpty()
		span.SetTraceID(traceID)
		span.SetSpanID(mapping.FindingSpanID(traceID, flagged, f.RuleID))
		span.SetParentSpanID(flagged)
		span.SetName(conventions.SpanNameFindingPrefix + f.RuleID)
		span.SetKind(ptrace.SpanKindInternal)
		span.SetStartTimestamp(ts)
		span.SetEndTimestamp(ts)
		attrs := span.Attributes()
		if runID != "" {
			attrs.PutStr(conventions.AttrTraceID, runID)
			attrs.PutStr(conventions.AttrGenAIConversationID, runID)
		}
		attrs.PutStr(conventions.AttrFindingRuleID, f.RuleID)
		attrs.PutStr(conventions.AttrFindingSeverity, f.Severity.String())
		attrs.PutDouble(conventions.AttrFindingConfidence, f.Confidence)
		attrs.PutStr(conventions.AttrFindingMessage, f.Message)
		if len(f.Evidence) > 0 {
			seqs := attrs.PutEmptySlice(conventions.AttrFindingEvidence)
			for _, seq := range f.Evidence {
				seqs.AppendEmpty().SetInt(seq)
			}
		}
		if len(f.EvidenceSpans) > 0 {
			ids := attrs.PutEmptySlice(conventions.AttrFindingEvidenceSpans)
			for _, id := range f.EvidenceSpans {
				ids.AppendEmpty().SetStr(id.String())
			}
		}
		if f.CriticalSeq >= 0 {
			// Not promptetheus.event.seq: a finding is no event of the run.
			attrs.PutInt(conventions.AttrFindingCritical, f.CriticalSeq)
		}
	}
}

// annotateRoot writes the verdict on the root span: goal, finding count and
// maximum severity, detection labels, and ERROR when the goal failed or a
// finding reached the error severity. A status already ERROR keeps its
// first reason (the goal or a failed session).
func (j *Judge) annotateRoot(root ptrace.Span, res *rules.Result) {
	attrs := root.Attributes()
	attrs.PutInt(conventions.AttrFindingCount, int64(len(res.Findings)))
	maxSev := res.MaxSeverity()
	if maxSev > 0 {
		attrs.PutStr(conventions.AttrFindingMaxSeverity, maxSev.String())
	}
	var labels []string
	for i := range res.Findings {
		if f := &res.Findings[i]; f.Detection && !slices.Contains(labels, f.RuleID) {
			labels = append(labels, f.RuleID)
		}
	}
	if len(labels) > 0 {
		s := attrs.PutEmptySlice(conventions.AttrAnalysisLabels)
		for _, l := range labels {
			s.AppendEmpty().SetStr(l)
		}
	}
	if res.GoalPassed != nil {
		attrs.PutBool(conventions.AttrGoalPassed, *res.GoalPassed)
		m := attrs.PutEmptySlice(conventions.AttrGoalMismatches)
		for _, mm := range res.Mismatches {
			m.AppendEmpty().SetStr(mm)
		}
		if !hasEvaluation(root) {
			mapping.AddGoalEvaluation(root, *res.GoalPassed, strings.Join(res.Mismatches, "; "))
		}
	}
	if root.Status().Code() == ptrace.StatusCodeError {
		return
	}
	switch {
	case res.GoalPassed != nil && !*res.GoalPassed:
		mapping.SetError(root, conventions.ErrorTypeGoalFailed, mapping.FirstOr(res.Mismatches, "goal_check failed"))
	case maxSev >= j.errorSeverity:
		for i := range res.Findings {
			if f := &res.Findings[i]; f.Severity == maxSev {
				mapping.SetError(root, f.RuleID, f.Message)
				return
			}
		}
	}
}

// hasEvaluation reports whether span already carries an evaluation event.
func hasEvaluation(span ptrace.Span) bool {
	for i := 0; i < span.Events().Len(); i++ {
		if span.Events().At(i).Name() == conventions.EventGenAIEvaluationResult {
			return true
		}
	}
	return false
}
