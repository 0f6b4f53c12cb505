// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package mapping turns Promptetheus runs and events into OTLP spans that
// follow the OpenTelemetry GenAI semantic conventions. It is pure: the same
// run and events always give byte-identical spans.
package mapping // import "github.com/promptetheus/otelcol-promptetheus/internal/mapping"

import (
	"encoding/json"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/pricing"
	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
)

// ScopeName is the instrumentation scope of every span the mapping emits.
const ScopeName = "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver"

// unknownAgent is the service.name of a run whose agent is not known yet
// (a run created implicitly by its first events).
const unknownAgent = "unknown_service"

// Config controls what the mapping writes.
type Config struct {
	// CaptureContent writes message text, tool arguments and results, typed
	// values and visible page text. Off, only structure and metrics remain.
	CaptureContent bool
	// MaxAttributeLength cuts string attribute values, in bytes (0: no limit).
	MaxAttributeLength int
	// MaxArrayLength caps array attributes and flattened metadata keys.
	MaxArrayLength int
	// Provider, when set, is the gen_ai.provider.name of every llm_call;
	// otherwise it is inferred from the model name.
	Provider string
	// Prices, when set, prices every llm_call that reports tokens; nil
	// prices nothing.
	Prices *pricing.Table
}

// Run describes the run a span belongs to.
type Run struct {
	Project     string
	Workspace   string
	ID          string
	Agent       string
	UserGoal    string
	Environment string
	Source      string
	Tags        []string
	Metadata    json.RawMessage
	// Implicit is true for a run created by its first events, not by a create.
	Implicit bool
}

// Builder accumulates the spans of one run into one ptrace.Traces.
type Builder struct {
	run     *Run
	traceID pcommon.TraceID
	rootID  pcommon.SpanID
	traces  ptrace.Traces
	spans   ptrace.SpanSlice
	attrs   attrWriter
	// held are the pending halves this builder kept, decoded, by address.
	held map[*byte]*wire.Event
	// costs of the LLM calls built: all of them, and those a Summary has
	// not taken in yet (see Summary.Widen).
	costs, untallied callCosts
}

// callCosts adds up the prices of LLM calls.
type callCosts struct {
	usd      float64
	priced   int64
	unpriced int64
}

// NewBuilder starts an empty batch of spans for run.
func NewBuilder(cfg *Config, run *Run) *Builder {
	b := &Builder{
		run:     run,
		traceID: TraceID(run.Project, run.ID),
		rootID:  RootSpanID(run.Project, run.ID),
		traces:  ptrace.NewTraces(),
		attrs:   attrWriter{cfg: cfg},
	}
	rs := b.traces.ResourceSpans().AppendEmpty()
	rs.SetSchemaUrl(conventions.SchemaURL)
	res := rs.Resource().Attributes()
	agent := run.Agent
	if agent == "" {
		agent = unknownAgent
	}
	b.attrs.putStr(res, conventions.AttrServiceName, agent)
	b.attrs.putStr(res, conventions.AttrServiceNamespace, run.Project)
	b.attrs.putStr(res, conventions.AttrProjectID, run.Project)
	b.attrs.putStr(res, conventions.AttrWorkspaceID, run.Workspace)
	b.attrs.putStr(res, conventions.AttrDeploymentEnvironment, run.Environment)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.SetSchemaUrl(conventions.SchemaURL)
	ss.Scope().SetName(ScopeName)
	b.spans = ss.Spans()
	return b
}

// Traces returns the spans built so far.
func (b *Builder) Traces() ptrace.Traces { return b.traces }

// SpanCount is the number of spans built so far.
func (b *Builder) SpanCount() int { return b.spans.Len() }

// Truncated counts attribute values and arrays cut to the limits.
func (b *Builder) Truncated() int { return b.attrs.truncated }

// CostUSD is the price of the LLM calls built so far that the price table
// priced, in USD.
func (b *Builder) CostUSD() float64 { return b.costs.usd }

// UnpricedCalls counts the LLM calls built so far that the price table had
// no price for, or that reported no tokens; 0 without a price table.
func (b *Builder) UnpricedCalls() int64 { return b.costs.unpriced }

// TraceID is the OTLP trace id of the run.
func (b *Builder) TraceID() pcommon.TraceID { return b.traceID }

func (b *Builder) parentOf(ev *wire.Event) pcommon.SpanID {
	if ev.ParentID != "" {
		return StateSpanID(b.run.Project, b.run.ID, ev.ParentID)
	}
	return b.rootID
}

// eventSpanAttributes is the attribute count of an llm_call span, the most
// common kind.
const eventSpanAttributes = 14

// newEventSpan starts a zero-duration span for ev with the attributes every
// event span carries.
func (b *Builder) newEventSpan(ev *wire.Event, name string, id pcommon.SpanID) ptrace.Span {
	span := b.spans.AppendEmpty()
	span.SetTraceID(b.traceID)
	span.SetSpanID(id)
	span.SetParentSpanID(b.parentOf(ev))
	span.SetName(b.attrs.cut(name)) // names hold client strings (tool, model)
	span.SetKind(ptrace.SpanKindInternal)
	ts := pcommon.NewTimestampFromTime(ev.Timestamp)
	span.SetStartTimestamp(ts)
	span.SetEndTimestamp(ts)
	attrs := span.Attributes()
	// The envelope's and a typical payload's attributes, without regrowing.
	attrs.EnsureCapacity(eventSpanAttributes)
	b.attrs.putStr(attrs, conventions.AttrTraceID, b.run.ID)
	b.attrs.putStr(attrs, conventions.AttrGenAIConversationID, b.run.ID)
	attrs.PutStr(conventions.AttrEventType, ev.Type)
	attrs.PutInt(conventions.AttrEventSeq, ev.Seq)
	b.attrs.putStr(attrs, conventions.AttrEventKey, ev.IdempotencyKey)
	if len(ev.Metadata) > 0 {
		b.attrs.putMetadata(attrs, conventions.AttrMetadataPrefix, ev.Metadata)
	}
	return span
}

// failedSessionStatuses are session_end statuses that mean the run failed.
var failedSessionStatuses = map[string]bool{"error": true, "failed": true, "failure": true, "errored": true, "crashed": true, "timeout": true, "aborted": true}

// AddRoot adds the run's `invoke_agent {agent}` span. A run without events
// spans its creation time.
func (b *Builder) AddRoot(sum *Summary, createdAt time.Time, finalizedBy string) ptrace.Span {
	span := b.spans.AppendEmpty()
	span.SetTraceID(b.traceID)
	span.SetSpanID(b.rootID)
	agent := b.run.Agent
	if agent == "" {
		span.SetName(conventions.OperationInvokeAgent)
	} else {
		span.SetName(b.attrs.cut(conventions.OperationInvokeAgent + " " + agent))
	}
	span.SetKind(ptrace.SpanKindInternal)
	start, end := sum.Start, sum.End
	if start.IsZero() {
		start, end = createdAt, createdAt
	}
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(end))

	attrs := span.Attributes()
	attrs.PutStr(conventions.AttrGenAIOperationName, conventions.OperationInvokeAgent)
	b.attrs.putStr(attrs, conventions.AttrGenAIAgentName, b.run.Agent)
	b.attrs.putStr(attrs, conventions.AttrGenAIConversationID, b.run.ID)
	b.attrs.putStr(attrs, conventions.AttrTraceID, b.run.ID)
	if sum.LastSeq >= 0 {
		attrs.PutInt(conventions.AttrEventSeq, sum.LastSeq)
	}
	b.attrs.putStr(attrs, conventions.AttrUserGoal, b.run.UserGoal)
	b.attrs.putStr(attrs, conventions.AttrSource, b.run.Source)
	b.attrs.putStrSlice(attrs, conventions.AttrTags, b.run.Tags)
	if b.run.Implicit {
		attrs.PutBool(conventions.AttrTraceImplicit, true)
	}
	if len(b.run.Metadata) > 0 {
		b.attrs.putMetadata(attrs, conventions.AttrMetadataPrefix, b.run.Metadata)
	}
	attrs.PutInt(conventions.AttrEventCount, sum.Events)
	attrs.PutInt(conventions.AttrLLMCallCount, sum.LLMCalls)
	if sum.PricedLLMCalls > 0 {
		attrs.PutDouble(conventions.AttrCostUSD, sum.CostUSD)
	}
	if sum.UnpricedLLMCalls > 0 {
		attrs.PutInt(conventions.AttrLLMUnpricedCount, sum.UnpricedLLMCalls)
	}
	attrs.PutInt(conventions.AttrToolCallCount, sum.ToolCalls)
	attrs.PutInt(conventions.AttrErrorCount, sum.Errors)
	attrs.PutInt(conventions.AttrGenAIInputTokens, sum.InputTokens)
	attrs.PutInt(conventions.AttrGenAIOutputTokens, sum.OutputTokens)
	b.attrs.putStr(attrs, conventions.AttrFinalizedBy, finalizedBy)
	b.attrs.putStr(attrs, conventions.AttrSessionStatus, sum.SessionStatus)
	b.attrs.putStr(attrs, conventions.AttrSessionError, sum.SessionError)
	if sum.Goal != nil && sum.Goal.Passed != nil {
		attrs.PutBool(conventions.AttrGoalPassed, *sum.Goal.Passed)
		b.attrs.putStrSlice(attrs, conventions.AttrGoalMismatches, sum.Goal.Mismatches)
	}

	switch {
	case sum.goalFailed():
		SetError(span, conventions.ErrorTypeGoalFailed, FirstOr(sum.Goal.Mismatches, "goal_check failed"))
	case failedSessionStatuses[sum.SessionStatus]:
		msg := sum.SessionError
		if msg == "" {
			msg = "session ended with status " + sum.SessionStatus
		}
		SetError(span, conventions.ErrorTypeSessionFailed, b.attrs.cut(msg))
	}
	return span
}

// SetError puts span in ERROR with error.type, as the conventions say.
func SetError(span ptrace.Span, errorType, message string) {
	span.Status().SetCode(ptrace.StatusCodeError)
	span.Status().SetMessage(message)
	span.Attributes().PutStr(conventions.AttrErrorType, errorType)
}

// FirstOr is the first of values, or fallback when there is none.
func FirstOr(values []string, fallback string) string {
	if len(values) > 0 && values[0] != "" {
		return values[0]
	}
	return fallback
}
