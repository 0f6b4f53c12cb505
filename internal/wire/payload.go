// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package wire // import "github.com/promptetheus/otelcol-promptetheus/internal/wire"

import (
	"bytes"
	"encoding/json"
)

// Message is the payload of user_message and agent_message.
type Message struct {
	Content string `json:"content"`
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

// GoalCheck is the payload of goal_check.
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

// LLMCall is the payload of llm_call. Prompt and Messages are decoded only to
// refuse them: the contract accepts references, never raw prompts.
type LLMCall struct {
	Model        string          `json:"model"`
	PromptRef    string          `json:"prompt_ref"`
	MessagesRef  string          `json:"messages_ref"`
	InputTokens  *int64          `json:"input_tokens"`
	OutputTokens *int64          `json:"output_tokens"`
	LatencyMS    *float64        `json:"latency_ms"`
	Prompt       json.RawMessage `json:"prompt"`
	Messages     json.RawMessage `json:"messages"`
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

// payloadDecoders decodes and validates the payload of each event type.
var payloadDecoders = map[string]func(json.RawMessage) (any, error){
	TypeUserMessage:  decodeMessage,
	TypeAgentMessage: decodeMessage,
	TypeToolCall: func(raw json.RawMessage) (any, error) {
		p, err := decodePayload[ToolCall](raw)
		if err != nil {
			return nil, err
		}
		if p.ToolName == "" {
			return nil, invalid("payload.tool_name is required")
		}
		return p, nil
	},
	TypeToolResult: func(raw json.RawMessage) (any, error) {
		p, err := decodePayload[ToolResult](raw)
		if err != nil {
			return nil, err
		}
		return p, nil
	},
	TypeRetrieval:     decodeAny[Retrieval],
	TypeBrowserAction: decodeAny[BrowserAction],
	TypeDOMSnapshot:   decodeAny[DOMSnapshot],
	TypeScreenshot:    decodeAny[Screenshot],
	TypeReplayArtifact: func(raw json.RawMessage) (any, error) {
		p, err := decodePayload[ReplayArtifact](raw)
		if err != nil {
			return nil, err
		}
		if !finite(p.DurationMS) || p.DurationMS < 0 {
			return nil, invalid("payload.duration_ms must be a number >= 0")
		}
		return p, nil
	},
	TypeGoalCheck: func(raw json.RawMessage) (any, error) {
		p, err := decodePayload[GoalCheck](raw)
		if err != nil {
			return nil, err
		}
		if p.Passed == nil {
			return nil, invalid("payload.passed is required")
		}
		return p, nil
	},
	TypeStateChange: func(raw json.RawMessage) (any, error) {
		p, err := decodePayload[StateChange](raw)
		if err != nil {
			return nil, err
		}
		if p.Name == "" {
			return nil, invalid("payload.name is required")
		}
		if p.DurationMS != nil && (!finite(*p.DurationMS) || *p.DurationMS < 0) {
			return nil, invalid("payload.duration_ms must be a number >= 0")
		}
		return p, nil
	},
	TypeSessionEnd: decodeAny[SessionEnd],
	TypeLLMCall: func(raw json.RawMessage) (any, error) {
		p, err := decodePayload[LLMCall](raw)
		if err != nil {
			return nil, err
		}
		if p.Model == "" {
			return nil, invalid("payload.model is required")
		}
		if !isNull(p.Prompt) || !isNull(p.Messages) {
			return nil, invalid("llm_call accepts prompt_ref and messages_ref only, not raw prompt or messages")
		}
		for name, n := range map[string]*int64{"input_tokens": p.InputTokens, "output_tokens": p.OutputTokens} {
			if n != nil && *n < 0 {
				return nil, invalid("payload.%s must be >= 0", name)
			}
		}
		if p.LatencyMS != nil && (!finite(*p.LatencyMS) || *p.LatencyMS < 0) {
			return nil, invalid("payload.latency_ms must be a number >= 0")
		}
		return p, nil
	},
	TypeScore: func(raw json.RawMessage) (any, error) {
		p, err := decodePayload[Score](raw)
		if err != nil {
			return nil, err
		}
		if p.Name == "" {
			return nil, invalid("payload.name is required")
		}
		if _, ok := p.NumericValue(); !ok {
			return nil, invalid("payload.value must be a number or a boolean")
		}
		return p, nil
	},
	TypeError: decodeAny[Error],
	TypeMetric: func(raw json.RawMessage) (any, error) {
		p, err := decodePayload[Metric](raw)
		if err != nil {
			return nil, err
		}
		if p.Name == "" {
			return nil, invalid("payload.name is required")
		}
		if p.Value == nil || !finite(*p.Value) {
			return nil, invalid("payload.value must be a number")
		}
		return p, nil
	},
}

func decodeMessage(raw json.RawMessage) (any, error) { return decodePayload[Message](raw) }

func decodeAny[T any](raw json.RawMessage) (any, error) { return decodePayload[T](raw) }

// EventTypes lists the known event types.
func EventTypes() []string {
	types := make([]string, 0, len(payloadDecoders))
	for t := range payloadDecoders {
		types = append(types, t)
	}
	return types
}
