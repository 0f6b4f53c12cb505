// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package mapping // import "github.com/promptetheus/otelcol-promptetheus/internal/mapping"

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
)

// Paired reports whether ev is half of a span that the caller must pair
// (tool_call with tool_result, state_change span_start with span_end) and
// hand to AddToolSpan or AddStateSpan instead of AddEvent.
func Paired(ev *wire.Event) bool {
	switch p := ev.Payload.(type) {
	case *wire.ToolCall, *wire.ToolResult:
		return true
	case *wire.StateChange:
		return ev.SpanID != "" && (p.Name == wire.StateSpanStart || p.Name == wire.StateSpanEnd)
	}
	return false
}

// AddEvent adds the span of one event that is not Paired.
func (b *Builder) AddEvent(ev *wire.Event) {
	id := EventSpanID(b.run.Project, b.run.ID, ev.IdempotencyKey)
	switch p := ev.Payload.(type) {
	case *wire.Message:
		span := b.newEventSpan(ev, ev.Type, id)
		b.attrs.putContent(span.Attributes(), conventions.AttrMessageContent, p.Content)
		b.attrs.putStr(span.Attributes(), conventions.AttrMessageStatus, p.Status())
	case *wire.LLMCall:
		b.addLLMCall(ev, p, id)
	case *wire.Retrieval:
		span := b.newEventSpan(ev, ev.Type, id)
		b.attrs.putContent(span.Attributes(), conventions.AttrRetrievalQuery, p.Query)
		span.Attributes().PutInt(conventions.AttrRetrievalDocs, int64(len(p.Documents)))
	case *wire.BrowserAction:
		span := b.newEventSpan(ev, "browser_action "+nonEmpty(p.Action, "unknown"), id)
		attrs := span.Attributes()
		b.attrs.putStr(attrs, conventions.AttrBrowserAction, p.Action)
		b.attrs.putStr(attrs, conventions.AttrBrowserTarget, p.Target)
		b.attrs.putStr(attrs, conventions.AttrBrowserURL, p.URL)
		if b.attrs.cfg.CaptureContent {
			b.attrs.putJSON(attrs, conventions.AttrBrowserValue, p.Value)
		}
	case *wire.DOMSnapshot:
		b.addDOMSnapshot(ev, p, id)
	case *wire.Screenshot:
		span := b.newEventSpan(ev, conventions.SpanNameArtifactPrefix+ev.Type, id)
		attrs := span.Attributes()
		attrs.PutStr(conventions.AttrArtifactType, ev.Type)
		b.attrs.putStr(attrs, conventions.AttrArtifactID, p.ArtifactID)
		b.attrs.putStr(attrs, conventions.AttrArtifactPath, p.StoragePath)
		b.attrs.putStr(attrs, conventions.AttrArtifactSource, p.SourceType)
		if p.SizeBytes > 0 {
			attrs.PutInt(conventions.AttrArtifactSize, p.SizeBytes)
		}
		b.linkArtifact(span, p.ArtifactID)
	case *wire.ReplayArtifact:
		b.addReplay(ev, p, id)
	case *wire.GoalCheck:
		b.addGoalCheck(ev, p, id)
	case *wire.StateChange:
		span := b.newEventSpan(ev, ev.Type, id)
		b.putStateChange(span.Attributes(), p)
	case *wire.SessionEnd:
		span := b.newEventSpan(ev, conventions.SpanNameSessionEnd, id)
		b.attrs.putStr(span.Attributes(), conventions.AttrSessionStatus, p.Status)
		b.attrs.putJSON(span.Attributes(), conventions.AttrSessionError, p.Error)
	case *wire.Score:
		b.addScore(ev, p, id)
	case *wire.Error:
		b.addError(ev, p, id)
	case *wire.Metric:
		span := b.newEventSpan(ev, ev.Type, id)
		attrs := span.Attributes()
		b.attrs.putStr(attrs, conventions.AttrMetricName, p.Name)
		if p.Value != nil {
			attrs.PutDouble(conventions.AttrMetricValue, *p.Value)
		}
		b.attrs.putStr(attrs, conventions.AttrMetricUnit, p.Unit)
	default:
		panic(fmt.Sprintf("mapping: event type %q must be paired", ev.Type))
	}
}

func (b *Builder) addLLMCall(ev *wire.Event, p *wire.LLMCall, id pcommon.SpanID) {
	span := b.newEventSpan(ev, conventions.OperationChat+" "+p.Model, id)
	span.SetKind(ptrace.SpanKindClient)
	if p.LatencyMS != nil {
		start := ev.Timestamp.Add(-time.Duration(*p.LatencyMS * float64(time.Millisecond)))
		span.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	}
	attrs := span.Attributes()
	attrs.PutStr(conventions.AttrGenAIOperationName, conventions.OperationChat)
	b.attrs.putStr(attrs, conventions.AttrGenAIRequestModel, p.Model)
	provider, model := b.attrs.cfg.Provider, p.Model
	if provider == "" {
		provider, model = splitProvider(p.Model)
	}
	b.attrs.putStr(attrs, conventions.AttrGenAIProviderName, provider)
	if p.InputTokens != nil {
		attrs.PutInt(conventions.AttrGenAIInputTokens, *p.InputTokens)
	}
	if p.OutputTokens != nil {
		attrs.PutInt(conventions.AttrGenAIOutputTokens, *p.OutputTokens)
	}
	if usd, ok := b.price(provider, model, p, ev.Timestamp); ok {
		attrs.PutDouble(conventions.AttrCostUSD, usd)
	}
	if p.LatencyMS != nil {
		attrs.PutDouble(conventions.AttrLLMLatencyMS, *p.LatencyMS)
	}
	b.attrs.putStr(attrs, conventions.AttrGenAIPromptName, p.PromptRef)
	b.attrs.putStr(attrs, conventions.AttrLLMMessagesRef, p.MessagesRef)
}

// price looks up the cost of an LLM call at its time and adds it to the
// builder's totals. A call that reports no tokens has no price: its cost is
// unknown, not zero.
func (b *Builder) price(provider, model string, p *wire.LLMCall, at time.Time) (float64, bool) {
	table := b.attrs.cfg.Prices
	if table == nil {
		return 0, false
	}
	var usd float64
	ok := p.InputTokens != nil || p.OutputTokens != nil
	if ok {
		usd, ok = table.Cost(provider, model, valueOr0(p.InputTokens), valueOr0(p.OutputTokens), at)
	}
	for _, c := range []*callCosts{&b.costs, &b.untallied} {
		if ok {
			c.usd += usd
			c.priced++
		} else {
			c.unpriced++
		}
	}
	return usd, ok
}

func valueOr0(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}

func (b *Builder) addDOMSnapshot(ev *wire.Event, p *wire.DOMSnapshot, id pcommon.SpanID) {
	span := b.newEventSpan(ev, ev.Type, id)
	attrs := span.Attributes()
	b.attrs.putStr(attrs, conventions.AttrDOMURL, p.URL)
	b.attrs.putContent(attrs, conventions.AttrDOMVisibleText, p.VisibleText)
	if len(p.SelectedValues) > 0 {
		keys := make([]string, 0, len(p.SelectedValues))
		for k := range p.SelectedValues {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		pairs := make([]string, 0, len(keys))
		for _, k := range keys {
			pairs = append(pairs, k+"="+jsonText(p.SelectedValues[k]))
		}
		b.attrs.putStrSlice(attrs, conventions.AttrDOMSelected, pairs)
	}
	b.attrs.putStrSlice(attrs, conventions.AttrDOMWarnings, p.Warnings)
}

func (b *Builder) addReplay(ev *wire.Event, p *wire.ReplayArtifact, id pcommon.SpanID) {
	span := b.newEventSpan(ev, conventions.SpanNameArtifactPrefix+nonEmpty(p.ArtifactType, ev.Type), id)
	attrs := span.Attributes()
	b.attrs.putStr(attrs, conventions.AttrArtifactType, nonEmpty(p.ArtifactType, ev.Type))
	b.attrs.putStr(attrs, conventions.AttrArtifactID, p.ArtifactID)
	b.attrs.putStr(attrs, conventions.AttrArtifactPath, p.StoragePath)
	b.attrs.putStr(attrs, conventions.AttrReplayStarted, p.StartedAt)
	b.attrs.putStr(attrs, conventions.AttrReplayEnded, p.EndedAt)
	if p.DurationMS > 0 {
		attrs.PutDouble(conventions.AttrReplayDuration, p.DurationMS)
	}
	if len(p.EventTimeMap) > 0 {
		keys := make([]string, 0, len(p.EventTimeMap))
		for k := range p.EventTimeMap {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareSeqKeys)
		pairs := make([]string, 0, len(keys))
		for _, k := range keys {
			pairs = append(pairs, fmt.Sprintf("%s=%g", k, p.EventTimeMap[k]))
		}
		b.attrs.putStrSlice(attrs, conventions.AttrReplayTimeMap, pairs)
	}
	b.linkArtifact(span, p.ArtifactID)
}

// compareSeqKeys orders "2" before "10".
func compareSeqKeys(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func (b *Builder) addGoalCheck(ev *wire.Event, p *wire.GoalCheck, id pcommon.SpanID) {
	span := b.newEventSpan(ev, ev.Type, id)
	attrs := span.Attributes()
	b.attrs.putStrSlice(attrs, conventions.AttrGoalMismatches, p.Mismatches)
	if p.Passed == nil {
		return // a goal_check without a verdict
	}
	attrs.PutBool(conventions.AttrGoalPassed, *p.Passed)
	AddGoalEvaluation(span, *p.Passed, b.attrs.cut(strings.Join(p.Mismatches, "; ")))
	if !*p.Passed {
		SetError(span, conventions.ErrorTypeGoalFailed, b.attrs.cut(FirstOr(p.Mismatches, "goal_check failed")))
	}
}

// AddGoalEvaluation records a goal verdict on span as the semantic
// conventions' gen_ai.evaluation.result event: name goal_check, label
// pass/fail, score 1/0, the mismatches as explanation.
func AddGoalEvaluation(span ptrace.Span, passed bool, explanation string) {
	e := span.Events().AppendEmpty()
	e.SetName(conventions.EventGenAIEvaluationResult)
	e.SetTimestamp(span.EndTimestamp())
	ea := e.Attributes()
	ea.PutStr(conventions.AttrGenAIEvaluationName, conventions.EvaluationNameGoalCheck)
	ea.PutStr(conventions.AttrGenAIEvaluationLabel, evaluationLabel(passed))
	if passed {
		ea.PutDouble(conventions.AttrGenAIEvaluationScore, 1)
		return
	}
	ea.PutDouble(conventions.AttrGenAIEvaluationScore, 0)
	if explanation != "" {
		ea.PutStr(conventions.AttrGenAIEvaluationExplain, explanation)
	}
}

// evaluationLabel is the gen_ai.evaluation.score.label of a yes/no verdict.
func evaluationLabel(passed bool) string {
	if passed {
		return conventions.EvaluationLabelPass
	}
	return conventions.EvaluationLabelFail
}

func (b *Builder) addScore(ev *wire.Event, p *wire.Score, id pcommon.SpanID) {
	span := b.newEventSpan(ev, ev.Type, id)
	attrs := span.Attributes()
	b.attrs.putStr(attrs, conventions.AttrScoreName, p.Name)
	b.attrs.putStr(attrs, conventions.AttrScoreComment, p.Comment)
	b.attrs.putStr(attrs, conventions.AttrScoreSource, p.Source)
	value, ok := p.NumericValue()
	if !ok {
		return
	}
	attrs.PutDouble(conventions.AttrScoreValue, value)

	e := span.Events().AppendEmpty()
	e.SetName(conventions.EventGenAIEvaluationResult)
	e.SetTimestamp(span.EndTimestamp())
	ea := e.Attributes()
	b.attrs.putStr(ea, conventions.AttrGenAIEvaluationName, p.Name)
	ea.PutDouble(conventions.AttrGenAIEvaluationScore, value)
	if passed, isBool := p.Bool(); isBool {
		ea.PutStr(conventions.AttrGenAIEvaluationLabel, evaluationLabel(passed))
	}
	b.attrs.putStr(ea, conventions.AttrGenAIEvaluationExplain, p.Comment)
}

func (b *Builder) addError(ev *wire.Event, p *wire.Error, id pcommon.SpanID) {
	span := b.newEventSpan(ev, ev.Type, id)
	attrs := span.Attributes()
	errorType := nonEmpty(p.ErrorType, conventions.ErrorTypeOther)
	b.attrs.putStr(attrs, conventions.AttrErrorMessage, p.Message)
	if p.Handled != nil {
		attrs.PutBool(conventions.AttrErrorHandled, *p.Handled)
	}
	SetError(span, b.attrs.cut(errorType), b.attrs.cut(p.Message))

	e := span.Events().AppendEmpty()
	e.SetName(conventions.EventException)
	e.SetTimestamp(span.EndTimestamp())
	ea := e.Attributes()
	b.attrs.putStr(ea, conventions.AttrExceptionType, errorType)
	b.attrs.putStr(ea, conventions.AttrExceptionMessage, p.Message)
	b.attrs.putStr(ea, conventions.AttrExceptionStacktrace, p.Traceback)
}

func (b *Builder) putStateChange(attrs pcommon.Map, p *wire.StateChange) {
	b.attrs.putStr(attrs, conventions.AttrStateName, p.Name)
	b.attrs.putJSON(attrs, conventions.AttrStateBefore, p.Before)
	b.attrs.putJSON(attrs, conventions.AttrStateAfter, p.After)
}

// AddToolSpan adds one `execute_tool {tool}` span from a tool_call and its
// tool_result. Either may be nil: an unmatched half still becomes a span.
func (b *Builder) AddToolSpan(call, result *wire.Event) {
	first := call
	if first == nil {
		first = result
	}
	var callP *wire.ToolCall
	toolName := ""
	if call != nil {
		callP = call.Payload.(*wire.ToolCall)
		toolName = callP.ToolName
	}
	name := conventions.OperationExecuteTool
	if toolName != "" {
		name += " " + toolName
	}
	span := b.newEventSpan(first, name, EventSpanID(b.run.Project, b.run.ID, first.IdempotencyKey))
	attrs := span.Attributes()
	attrs.PutStr(conventions.AttrGenAIOperationName, conventions.OperationExecuteTool)
	b.attrs.putStr(attrs, conventions.AttrGenAIToolName, toolName)
	b.attrs.putStr(attrs, conventions.AttrGenAIAgentName, b.run.Agent)
	if callP != nil {
		attrs.PutStr(conventions.AttrGenAIToolType, conventions.ToolTypeFunction)
		b.attrs.putStr(attrs, conventions.AttrGenAIToolCallID, callP.CallID)
		attrs.PutStr(conventions.AttrToolArgumentsHash, argumentsHash(callP.Arguments))
		if b.attrs.cfg.CaptureContent {
			b.attrs.putJSON(attrs, conventions.AttrGenAIToolCallArguments, callP.Arguments)
		}
	}
	if call == nil || result == nil {
		attrs.PutBool(conventions.AttrUnmatched, true)
	}
	if result == nil {
		return
	}
	resP := result.Payload.(*wire.ToolResult)
	if callP == nil {
		b.attrs.putStr(attrs, conventions.AttrGenAIToolCallID, resP.CallID)
	}
	if call != nil {
		attrs.PutInt(conventions.AttrToolResultSeq, result.Seq)
		if result.Timestamp.After(call.Timestamp) {
			span.SetEndTimestamp(pcommon.NewTimestampFromTime(result.Timestamp))
		}
	}
	if b.attrs.cfg.CaptureContent {
		b.attrs.putJSON(attrs, conventions.AttrGenAIToolCallResult, resP.Result)
	}
	if resP.Failed() {
		msg := jsonText(resP.Error)
		b.attrs.putStr(attrs, conventions.AttrToolError, msg)
		SetError(span, conventions.ErrorTypeToolError, b.attrs.cut(msg))
	}
}

// AddStateSpan adds the span that a state_change span_start/span_end pair
// delimits, identified by the envelope's span_id. Either half may be nil.
func (b *Builder) AddStateSpan(start, end *wire.Event) {
	first := start
	if first == nil {
		first = end
	}
	p := first.Payload.(*wire.StateChange)
	span := b.newEventSpan(first, nonEmpty(p.SpanName, first.SpanID), StateSpanID(b.run.Project, b.run.ID, first.SpanID))
	attrs := span.Attributes()
	b.putStateChange(attrs, p)
	if start == nil || end == nil {
		attrs.PutBool(conventions.AttrSpanUnclosed, true)
	}
	if end == nil {
		if p.DurationMS != nil {
			span.SetEndTimestamp(pcommon.NewTimestampFromTime(first.Timestamp.Add(msDuration(*p.DurationMS))))
		}
		return
	}
	endP := end.Payload.(*wire.StateChange)
	b.attrs.putJSON(attrs, conventions.AttrStateAfter, endP.After)
	if start == nil {
		return
	}
	attrs.PutInt(conventions.AttrStateEndSeq, end.Seq)
	endTime := end.Timestamp
	if endP.DurationMS != nil {
		endTime = start.Timestamp.Add(msDuration(*endP.DurationMS))
	}
	if endTime.After(start.Timestamp) {
		span.SetEndTimestamp(pcommon.NewTimestampFromTime(endTime))
	}
}

// argumentsHash identifies tool arguments without revealing them, so that
// loop rules work when content capture is off.
func argumentsHash(raw json.RawMessage) string {
	sum := sha256.Sum256([]byte(jsonText(raw)))
	return hex.EncodeToString(sum[:8])
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// Artifact is an uploaded artifact, stored outside the trace.
type Artifact struct {
	ID          string
	Type        string
	Filename    string
	ContentType string
	SHA256      string
	SizeBytes   int64
	URI         string
	StoragePath string
	UploadedAt  time.Time
}

// AddArtifact adds the `artifact {type}` span of an upload. screenshot and
// replay_artifact events that name the same artifact id link to it.
func (b *Builder) AddArtifact(a *Artifact) {
	span := b.spans.AppendEmpty()
	span.SetTraceID(b.traceID)
	span.SetSpanID(ArtifactSpanID(b.run.Project, b.run.ID, a.ID))
	span.SetParentSpanID(b.rootID)
	span.SetName(b.attrs.cut(conventions.SpanNameArtifactPrefix + nonEmpty(a.Type, "upload")))
	span.SetKind(ptrace.SpanKindInternal)
	ts := pcommon.NewTimestampFromTime(a.UploadedAt)
	span.SetStartTimestamp(ts)
	span.SetEndTimestamp(ts)
	attrs := span.Attributes()
	b.attrs.putStr(attrs, conventions.AttrTraceID, b.run.ID)
	b.attrs.putStr(attrs, conventions.AttrGenAIConversationID, b.run.ID)
	b.attrs.putStr(attrs, conventions.AttrArtifactID, a.ID)
	b.attrs.putStr(attrs, conventions.AttrArtifactType, a.Type)
	b.attrs.putStr(attrs, conventions.AttrArtifactName, a.Filename)
	b.attrs.putStr(attrs, conventions.AttrArtifactContent, a.ContentType)
	b.attrs.putStr(attrs, conventions.AttrArtifactSHA256, a.SHA256)
	attrs.PutInt(conventions.AttrArtifactSize, a.SizeBytes)
	b.attrs.putStr(attrs, conventions.AttrArtifactURI, a.URI)
	b.attrs.putStr(attrs, conventions.AttrArtifactPath, a.StoragePath)
}

func (b *Builder) linkArtifact(span ptrace.Span, artifactID string) {
	if artifactID == "" {
		return
	}
	link := span.Links().AppendEmpty()
	link.SetTraceID(b.traceID)
	link.SetSpanID(ArtifactSpanID(b.run.Project, b.run.ID, artifactID))
}

func nonEmpty(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
