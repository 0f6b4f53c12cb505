// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package wire // import "github.com/promptetheus/otelcol-promptetheus/internal/wire"

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Message is the payload of user_message and agent_message.
type Message struct {
	Content  string          `json:"content"`
	Metadata json.RawMessage `json:"metadata"`
}

// Status is the payload's metadata.status, "" when absent or not a string.
func (m *Message) Status() string {
	var md struct {
		Status json.RawMessage `json:"status"`
	}
	var s string
	if json.Unmarshal(m.Metadata, &md) == nil && json.Unmarshal(md.Status, &s) == nil {
		return s
	}
	return ""
}

// ToolCall is the payload of tool_call.
type ToolCall struct {
	ToolName  string          `json:"tool_name"`
	Arguments json.RawMessage `json:"arguments"`
	CallID    string          `json:"call_id"`
}

// ToolResult is the payload of tool_result. Error is any JSON value; null
// or absent means the call succeeded.
type ToolResult struct {
	CallID string          `json:"call_id"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// Failed reports whether the tool result carries an error.
func (r *ToolResult) Failed() bool {
	e := bytes.TrimSpace(r.Error)
	return len(e) > 0 && !bytes.Equal(e, []byte("null")) && !bytes.Equal(e, []byte("false")) && !bytes.Equal(e, []byte(`""`))
}

// Retrieval is the payload of retrieval.
type Retrieval struct {
	Query     string            `json:"query"`
	Documents []json.RawMessage `json:"documents"`
}

// BrowserAction is the payload of browser_action.
type BrowserAction struct {
	Action string          `json:"action"`
	Target string          `json:"target"`
	URL    string          `json:"url"`
	Value  json.RawMessage `json:"value"`
}

// DOMSnapshot is the payload of dom_snapshot.
type DOMSnapshot struct {
	URL            string                     `json:"url"`
	VisibleText    string                     `json:"visible_text"`
	SelectedValues map[string]json.RawMessage `json:"selected_values"`
	Warnings       []string                   `json:"warnings"`
}

// Screenshot is the payload of screenshot.
type Screenshot struct {
	ArtifactID  string `json:"artifact_id"`
	StoragePath string `json:"storage_path"`
	SizeBytes   int64  `json:"size_bytes"`
	SourceType  string `json:"source_type"`
}

// ReplayArtifact is the payload of replay_artifact.
type ReplayArtifact struct {
	ArtifactID   string             `json:"artifact_id"`
	ArtifactType string             `json:"artifact_type"`
	StoragePath  string             `json:"storage_path"`
	StartedAt    string             `json:"started_at"`
	EndedAt      string             `json:"ended_at"`
	DurationMS   float64            `json:"duration_ms"`
	EventTimeMap map[string]float64 `json:"event_time_map"`
}

// GoalCheck is the payload of goal_check. A goal_check without passed
// records no verdict.
type GoalCheck struct {
	Passed     *bool    `json:"passed"`
	Mismatches []string `json:"mismatches"`
}

// StateChange is the payload of state_change. Name "span_start" and
// "span_end" open and close a span named SpanName.
type StateChange struct {
	Name       string          `json:"name"`
	Before     json.RawMessage `json:"before"`
	After      json.RawMessage `json:"after"`
	SpanName   string          `json:"span_name"`
	DurationMS *float64        `json:"duration_ms"`
}

// State change names that delimit a span.
const (
	StateSpanStart = "span_start"
	StateSpanEnd   = "span_end"
)

// SessionEnd is the payload of session_end.
type SessionEnd struct {
	Status string          `json:"status"`
	Error  json.RawMessage `json:"error"`
}

// LLMCall is the payload of llm_call: references to prompts, never raw ones.
type LLMCall struct {
	Model        string   `json:"model"`
	PromptRef    string   `json:"prompt_ref"`
	MessagesRef  string   `json:"messages_ref"`
	InputTokens  *int64   `json:"input_tokens"`
	OutputTokens *int64   `json:"output_tokens"`
	LatencyMS    *float64 `json:"latency_ms"`
}

// Score is the payload of score. Value is a number or a boolean.
type Score struct {
	Name    string          `json:"name"`
	Value   json.RawMessage `json:"value"`
	Comment string          `json:"comment"`
	Source  string          `json:"source"`
}

// NumericValue returns the score as a number: booleans count 1 and 0.
func (s *Score) NumericValue() (float64, bool) {
	var b bool
	if json.Unmarshal(s.Value, &b) == nil {
		if b {
			return 1, true
		}
		return 0, true
	}
	var f float64
	if json.Unmarshal(s.Value, &f) == nil && finite(f) {
		return f, true
	}
	return 0, false
}

// Error is the payload of error.
type Error struct {
	Message   string `json:"message"`
	ErrorType string `json:"error_type"`
	Traceback string `json:"traceback"`
	Handled   *bool  `json:"handled"`
}

// Metric is the payload of metric.
type Metric struct {
	Name  string   `json:"name"`
	Value *float64 `json:"value"`
	Unit  string   `json:"unit"`
}

// payloadDecoders decodes the payload of each event type. The contract
// requires only llm_call's model; every other field is optional, but a field
// given with the wrong JSON type is refused.
var payloadDecoders = map[string]func(json.RawMessage) (any, error){
	TypeUserMessage:    decodeAs[Message](TypeUserMessage),
	TypeAgentMessage:   decodeAs[Message](TypeAgentMessage),
	TypeToolCall:       decodeAs[ToolCall](TypeToolCall),
	TypeToolResult:     decodeAs[ToolResult](TypeToolResult),
	TypeRetrieval:      decodeAs[Retrieval](TypeRetrieval),
	TypeBrowserAction:  decodeAs[BrowserAction](TypeBrowserAction),
	TypeDOMSnapshot:    decodeAs[DOMSnapshot](TypeDOMSnapshot),
	TypeScreenshot:     decodeAs[Screenshot](TypeScreenshot),
	TypeReplayArtifact: decodeAs[ReplayArtifact](TypeReplayArtifact),
	TypeGoalCheck:      decodeAs[GoalCheck](TypeGoalCheck),
	TypeStateChange: func(raw json.RawMessage) (any, error) {
		p, err := decodePayload[StateChange](TypeStateChange, raw)
		if err == nil && p.DurationMS != nil && (!finite(*p.DurationMS) || *p.DurationMS < 0) {
			return nil, invalid("state_change.payload.duration_ms must be >= 0")
		}
		return p, err
	},
	TypeSessionEnd: decodeAs[SessionEnd](TypeSessionEnd),
	TypeLLMCall:    decodeLLMCall,
	TypeScore: func(raw json.RawMessage) (any, error) {
		p, err := decodePayload[Score](TypeScore, raw)
		if err == nil && !isNull(p.Value) {
			if _, ok := p.NumericValue(); !ok {
				return nil, invalid("score.payload.value must be a number or a boolean")
			}
		}
		return p, err
	},
	TypeError:  decodeAs[Error](TypeError),
	TypeMetric: decodeAs[Metric](TypeMetric),
}

// llmCallWire keeps the fields the reference checks raw, for one decode.
type llmCallWire struct {
	Model        json.RawMessage `json:"model"`
	PromptRef    string          `json:"prompt_ref"`
	MessagesRef  string          `json:"messages_ref"`
	InputTokens  json.RawMessage `json:"input_tokens"`
	OutputTokens json.RawMessage `json:"output_tokens"`
	LatencyMS    *float64        `json:"latency_ms"`
	Prompt       json.RawMessage `json:"prompt"`
	Messages     json.RawMessage `json:"messages"`
}

// decodeLLMCall checks an llm_call as the reference does: references only,
// a non-empty model, integer token counts.
func decodeLLMCall(raw json.RawMessage) (any, error) {
	w, err := decodePayload[llmCallWire](TypeLLMCall, raw)
	if err != nil {
		return nil, err
	}
	var forbidden []string
	if w.Prompt != nil {
		forbidden = append(forbidden, "prompt")
	}
	if w.Messages != nil {
		forbidden = append(forbidden, "messages")
	}
	if len(forbidden) > 0 {
		return nil, invalid("llm_call payload must use prompt_ref/messages_ref, not raw %s", strings.Join(forbidden, ", "))
	}
	model, ok := rawString(w.Model)
	if !ok {
		return nil, invalid("llm_call.payload.model must be a string")
	}
	if strings.TrimSpace(model) == "" {
		return nil, invalid("llm_call.payload.model must be nonempty")
	}
	p := &LLMCall{Model: model, PromptRef: w.PromptRef, MessagesRef: w.MessagesRef, LatencyMS: w.LatencyMS}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  **int64
	}{{"input_tokens", w.InputTokens, &p.InputTokens}, {"output_tokens", w.OutputTokens, &p.OutputTokens}} {
		if f.raw == nil {
			continue
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(f.raw)), 10, 64)
		if err != nil {
			return nil, invalid("llm_call.payload.%s must be an integer", f.name)
		}
		if n < 0 {
			return nil, invalid("llm_call.payload.%s must be >= 0", f.name)
		}
		*f.dst = &n
	}
	if p.LatencyMS != nil && (!finite(*p.LatencyMS) || *p.LatencyMS < 0) {
		return nil, invalid("llm_call.payload.latency_ms must be >= 0")
	}
	return p, nil
}

func decodeAs[T any](typ string) func(json.RawMessage) (any, error) {
	return func(raw json.RawMessage) (any, error) { return decodePayload[T](typ, raw) }
}

// EventTypes lists the known event types.
func EventTypes() []string {
	types := make([]string, 0, len(payloadDecoders))
	for t := range payloadDecoders {
		types = append(types, t)
	}
	return types
}
