// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusprocessor // import "github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor"

import (
	"encoding/hex"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

// scopeName is the instrumentation scope of the spans the processor adds.
const scopeName = "github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor"

// findingWriter appends rule_finding spans to a ptrace.Traces, under a copy
// of the resource of the spans they flag.
type findingWriter struct {
	td    ptrace.Traces
	byRes map[pcommon.Resource]ptrace.SpanSlice
}

func newFindingWriter(td ptrace.Traces) *findingWriter {
	return &findingWriter{td: td, byRes: map[pcommon.Resource]ptrace.SpanSlice{}}
}

func (w *findingWriter) spans(res pcommon.Resource) ptrace.SpanSlice {
	if s, ok := w.byRes[res]; ok {
		return s
	}
	rs := w.td.ResourceSpans().AppendEmpty()
	res.CopyTo(rs.Resource())
	rs.SetSchemaUrl(conventions.SchemaURL)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(scopeName)
	ss.SetSchemaUrl(conventions.SchemaURL)
	w.byRes[res] = ss.Spans()
	return ss.Spans()
}

// write adds one span per finding. A finding on the run as a whole hangs off
// parent (the root span) at time end.
func (w *findingWriter) write(res pcommon.Resource, traceID pcommon.TraceID, parent pcommon.SpanID, end pcommon.Timestamp, runID string, findings []rules.Finding) {
	if len(findings) == 0 {
		return
	}
	spans := w.spans(res)
	for i := range findings {
		f := &findings[i]
		flagged, ts := parent, end
		if id, ok := spanIDFromHex(f.SpanID); ok {
			flagged, ts = id, pcommon.Timestamp(f.End)
		}
		span := spans.AppendEmpty()
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
		}
		attrs.PutStr(conventions.AttrFindingRuleID, f.RuleID)
		attrs.PutStr(conventions.AttrFindingSeverity, f.Severity.String())
		attrs.PutDouble(conventions.AttrFindingConfidence, f.Confidence)
		attrs.PutStr(conventions.AttrFindingMessage, f.Message)
		evidence := attrs.PutEmptySlice(conventions.AttrFindingEvidence)
		for _, seq := range f.Evidence {
			evidence.AppendEmpty().SetInt(seq)
		}
		if f.CriticalSeq >= 0 {
			attrs.PutInt(conventions.AttrFindingCritical, f.CriticalSeq)
			attrs.PutInt(conventions.AttrEventSeq, f.CriticalSeq)
		}
	}
}

func spanIDFromHex(s string) (pcommon.SpanID, bool) {
	var id pcommon.SpanID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, !id.IsEmpty()
}

// annotateRoot writes the verdict on the root span: goal, finding count and
// maximum severity, detection labels, and ERROR when the goal failed or a
// finding reached errorSeverity.
func annotateRoot(root ptrace.Span, res *rules.Result, errorSeverity rules.Severity) {
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
		return // keep the first reason given (goal or session failure)
	}
	switch {
	case res.GoalPassed != nil && !*res.GoalPassed:
		mapping.SetError(root, conventions.ErrorTypeGoalFailed, mapping.FirstOr(res.Mismatches, "goal_check failed"))
	case maxSev >= errorSeverity:
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
