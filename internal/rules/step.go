// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package rules // import "github.com/promptetheus/otelcol-promptetheus/internal/rules"

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
)

// Step kinds. Promptetheus spans keep their event type; spans of other GenAI
// instrumentations are classified into the same kinds.
const (
	KindUserMessage   = "user_message"
	KindAgentMessage  = "agent_message"
	KindLLMCall       = "llm_call"
	KindToolCall      = "tool_call"
	KindBrowserAction = "browser_action"
	KindDOMSnapshot   = "dom_snapshot"
	KindGoalCheck     = "goal_check"
	KindError         = "error"
	KindScore         = "score"
	KindSessionEnd    = "session_end"
	KindRoot          = "root"
	KindOther         = "other"
)

// Step is the compact fact a rule sees of one span. It is what the receiver
// keeps per event for analyze and what the processor keeps per span, so both
// judge a run from the same facts. It is kept small (about 120 bytes): the
// facts only some kinds have live in Detail.
type Step struct {
	Seq int64 `json:"q"`
	// PairSeq is the seq of a pair's second half (tool_result, span_end).
	PairSeq int64 `json:"pq,omitempty"`
	// Start and End are Unix nanoseconds.
	Start        int64  `json:"s,omitempty"`
	End          int64  `json:"e,omitempty"`
	InputTokens  int64  `json:"it,omitempty"`
	OutputTokens int64  `json:"ot,omitempty"`
	Kind         string `json:"k"`
	// Name is the tool, model, browser action, score or span name.
	Name string `json:"n,omitempty"`
	// ArgsHash identifies a tool call's arguments.
	ArgsHash  string  `json:"h,omitempty"`
	SpanID    SpanRef `json:"i"`
	Error     bool    `json:"err,omitempty"`
	Unmatched bool    `json:"um,omitempty"`
	Detail    *Detail `json:"d,omitempty"`
}

// Detail holds the facts of messages, browser actions, snapshots, goal
// checks, scores and errors.
type Detail struct {
	// Text is message content or visible page text (when captured).
	Text string `json:"x,omitempty"`
	// Target, URL and Value describe a browser action (Value when content
	// is captured).
	Target     string   `json:"t,omitempty"`
	URL        string   `json:"u,omitempty"`
	Value      string   `json:"v,omitempty"`
	ErrorText  string   `json:"et,omitempty"`
	GoalPassed *bool    `json:"gp,omitempty"`
	Mismatches []string `json:"mm,omitempty"`
	Warnings   []string `json:"w,omitempty"`
	Selected   []string `json:"sv,omitempty"`
	Score      *float64 `json:"sc,omitempty"`
	// Status is a session_end status or a message's metadata.status.
	Status string `json:"st,omitempty"`
}

var noDetail = &Detail{}

// D returns the step's detail, empty when it has none.
func (s *Step) D() *Detail {
	if s.Detail == nil {
		return noDetail
	}
	return s.Detail
}

func (d *Detail) empty() bool {
	return d.Text == "" && d.Target == "" && d.URL == "" && d.Value == "" && d.ErrorText == "" && d.Status == "" &&
		d.GoalPassed == nil && d.Score == nil && d.Mismatches == nil && d.Warnings == nil && d.Selected == nil
}

// SpanRef is a span id, written as hex.
type SpanRef [8]byte

func (r SpanRef) String() string { return hex.EncodeToString(r[:]) }

// MarshalText writes the id in hex.
func (r SpanRef) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a hex id.
func (r *SpanRef) UnmarshalText(text []byte) error {
	if hex.DecodedLen(len(text)) != len(r) {
		return fmt.Errorf("span id %q is not 16 hex digits", text)
	}
	_, err := hex.Decode(r[:], text)
	return err
}

// StepFromSpan extracts the facts of one span. ok is false for spans that
// are not steps of a run: the root, rule findings and artifact uploads (an
// upload is not an event of the agent's timeline).
func StepFromSpan(span ptrace.Span) (step Step, ok bool) {
	attrs := span.Attributes()
	if strings.HasPrefix(span.Name(), conventions.SpanNameFindingPrefix) {
		return Step{}, false
	}
	if _, upload := attrs.Get(conventions.AttrArtifactID); upload {
		if _, event := attrs.Get(conventions.AttrEventType); !event {
			return Step{}, false
		}
	}
	step = Step{
		Seq:    -1,
		SpanID: SpanRef(span.SpanID()),
		Start:  int64(span.StartTimestamp()),
		End:    int64(span.EndTimestamp()),
		Error:  span.Status().Code() == ptrace.StatusCodeError,
	}
	d := &Detail{}
	if step.Error {
		d.ErrorText = span.Status().Message()
	}
	if v, found := attrs.Get(conventions.AttrEventSeq); found && v.Type() == pcommon.ValueTypeInt {
		step.Seq = v.Int()
	}
	for _, key := range []string{conventions.AttrToolResultSeq, conventions.AttrStateEndSeq} {
		if v, found := attrs.Get(key); found && v.Type() == pcommon.ValueTypeInt {
			step.PairSeq = v.Int()
		}
	}
	step.Kind = classify(span)
	if step.Kind == KindRoot {
		return Step{}, false
	}
	switch step.Kind {
	case KindUserMessage, KindAgentMessage:
		d.Text = str(attrs, conventions.AttrMessageContent)
		d.Status = cmp.Or(str(attrs, conventions.AttrMessageStatus), str(attrs, conventions.AttrMetadataPrefix+"status"))
	case KindLLMCall:
		step.Name = cmp.Or(str(attrs, conventions.AttrGenAIRequestModel), str(attrs, conventions.ForeignLLMModelName))
		step.InputTokens = integer(attrs, conventions.AttrGenAIInputTokens, conventions.ForeignPromptTokens, conventions.ForeignLLMPromptTokens)
		step.OutputTokens = integer(attrs, conventions.AttrGenAIOutputTokens, conventions.ForeignCompletionTokens, conventions.ForeignLLMCompletionTokens)
	case KindToolCall:
		step.Name = cmp.Or(str(attrs, conventions.AttrGenAIToolName), str(attrs, conventions.ForeignToolName), str(attrs, conventions.ForeignTraceloopEntityName),
			strings.TrimPrefix(span.Name(), conventions.OperationExecuteTool+" "))
		step.ArgsHash = str(attrs, conventions.AttrToolArgumentsHash)
		if step.ArgsHash == "" {
			step.ArgsHash = hashOf(cmp.Or(str(attrs, conventions.AttrGenAIToolCallArguments), str(attrs, conventions.ForeignTraceloopEntityInput),
				str(attrs, conventions.ForeignInputValue)))
		}
		_, step.Unmatched = attrs.Get(conventions.AttrUnmatched)
	case KindBrowserAction:
		step.Name = str(attrs, conventions.AttrBrowserAction)
		d.Target = str(attrs, conventions.AttrBrowserTarget)
		d.URL = str(attrs, conventions.AttrBrowserURL)
		d.Value = str(attrs, conventions.AttrBrowserValue)
	case KindDOMSnapshot:
		d.Text = str(attrs, conventions.AttrDOMVisibleText)
		d.Selected = strSlice(attrs, conventions.AttrDOMSelected)
		d.Warnings = strSlice(attrs, conventions.AttrDOMWarnings)
	case KindGoalCheck:
		if v, found := attrs.Get(conventions.AttrGoalPassed); found && v.Type() == pcommon.ValueTypeBool {
			passed := v.Bool()
			d.GoalPassed = &passed
		}
		d.Mismatches = strSlice(attrs, conventions.AttrGoalMismatches)
	case KindScore:
		step.Name = str(attrs, conventions.AttrScoreName)
		if v, found := attrs.Get(conventions.AttrScoreValue); found && v.Type() == pcommon.ValueTypeDouble {
			score := v.Double()
			d.Score = &score
		}
	case KindSessionEnd:
		d.Status = str(attrs, conventions.AttrSessionStatus)
	default:
		step.Name = span.Name()
	}
	if !d.empty() {
		step.Detail = d
	}
	return step, true
}

// classify tells what kind of step a span is: by its Promptetheus event type
// when it has one, else by the GenAI operation it records, whichever of the
// OpenTelemetry, OpenInference, OpenLLMetry or OpenLIT conventions it follows.
func classify(span ptrace.Span) string {
	attrs := span.Attributes()
	if span.ParentSpanID().IsEmpty() {
		return KindRoot
	}
	if t := str(attrs, conventions.AttrEventType); t != "" {
		switch t {
		case "tool_result":
			return KindToolCall
		case KindUserMessage, KindAgentMessage, KindLLMCall, KindToolCall, KindBrowserAction,
			KindDOMSnapshot, KindGoalCheck, KindError, KindScore, KindSessionEnd:
			return t
		}
		return KindOther
	}
	switch str(attrs, conventions.ForeignOpenInferenceSpanKind) {
	case "TOOL":
		return KindToolCall
	case "LLM":
		return KindLLMCall
	}
	op := str(attrs, conventions.AttrGenAIOperationName)
	switch {
	case op == conventions.OperationExecuteTool, str(attrs, conventions.ForeignTraceloopSpanKind) == "tool",
		strings.HasPrefix(span.Name(), conventions.OperationExecuteTool+" "), strings.HasSuffix(span.Name(), ".tool"):
		return KindToolCall
	case op == conventions.OperationChat, op == "text_completion", op == "generate_content", op == "embeddings",
		str(attrs, conventions.ForeignLLMRequestType) != "", str(attrs, conventions.AttrGenAIRequestModel) != "" && op == "":
		return KindLLMCall
	}
	return KindOther
}

// hashOf identifies tool arguments of other instrumentations, as the
// mapping's promptetheus.tool.arguments_hash does for ours.
func hashOf(s string) string {
	if s == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

func str(attrs pcommon.Map, key string) string {
	if v, ok := attrs.Get(key); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// integer reads the first of keys that holds a number.
func integer(attrs pcommon.Map, keys ...string) int64 {
	for _, key := range keys {
		if v, ok := attrs.Get(key); ok {
			switch v.Type() {
			case pcommon.ValueTypeInt:
				return v.Int()
			case pcommon.ValueTypeDouble:
				return int64(v.Double())
			}
		}
	}
	return 0
}

func strSlice(attrs pcommon.Map, key string) []string {
	v, ok := attrs.Get(key)
	if !ok || v.Type() != pcommon.ValueTypeSlice {
		return nil
	}
	s := v.Slice()
	out := make([]string, 0, s.Len())
	for i := 0; i < s.Len(); i++ {
		out = append(out, s.At(i).AsString())
	}
	return out
}
