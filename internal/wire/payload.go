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
	var status string
	if isObject(m.Metadata) {
		eachField(m.Metadata, func(key, value []byte) {
			if string(key) == "status" {
				status, _ = DecodeString(value)
			}
		})
	}
	return status
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

// StateSessionStarted names the state change an SDK sends first in every
// run, its `after` describing the run: where the create was lost, the only
// place the agent and goal are known.
const StateSessionStarted = "session_started"

// SessionStart is the description of a run in a session_started change.
type SessionStart struct {
	Agent       string   `json:"agent"`
	UserGoal    string   `json:"user_goal"`
	Environment string   `json:"environment"`
	Tags        []string `json:"tags"`
}

// SessionStart reads the run's description from a session_started change;
// false for any other change or an `after` of another shape.
func (s *StateChange) SessionStart() (SessionStart, bool) {
	var out SessionStart
	if s.Name != StateSessionStarted || len(s.After) == 0 || json.Unmarshal(s.After, &out) != nil {
		return SessionStart{}, false
	}
	return out, true
}

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
	switch v := string(bytes.TrimSpace(s.Value)); v {
	case "true":
		return 1, true
	case "false":
		return 0, true
	}
	return parseNumber(bytes.TrimSpace(s.Value))
}

// Bool returns a score given as a boolean; ok is false for a number.
func (s *Score) Bool() (value, ok bool) {
	switch string(bytes.TrimSpace(s.Value)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
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

// eventTypes maps each known type to its name, so that decoding an event
// does not allocate its type.
var eventTypes = func() map[string]string {
	names := make(map[string]string, len(payloadDecoders))
	for t := range payloadDecoders {
		names[t] = t
	}
	return names
}()

// payloadDecoders decodes the payload of each event type. The contract
// requires only llm_call's model; every other field is optional, but a field
// given with the wrong JSON type is refused.
var payloadDecoders = map[string]func(json.RawMessage) (any, error){
	TypeUserMessage:  decodeMessage(TypeUserMessage),
	TypeAgentMessage: decodeMessage(TypeAgentMessage),
	TypeToolCall: func(raw json.RawMessage) (any, error) {
		p := &ToolCall{}
		return p, decodeFields(TypeToolCall, raw, field{"tool_name", &p.ToolName}, field{"arguments", &p.Arguments}, field{"call_id", &p.CallID})
	},
	TypeToolResult: func(raw json.RawMessage) (any, error) {
		p := &ToolResult{}
		return p, decodeFields(TypeToolResult, raw, field{"call_id", &p.CallID}, field{"result", &p.Result}, field{"error", &p.Error})
	},
	TypeRetrieval: func(raw json.RawMessage) (any, error) {
		p := &Retrieval{}
		return p, decodeFields(TypeRetrieval, raw, field{"query", &p.Query}, field{"documents", &p.Documents})
	},
	TypeBrowserAction: func(raw json.RawMessage) (any, error) {
		p := &BrowserAction{}
		return p, decodeFields(TypeBrowserAction, raw, field{"action", &p.Action}, field{"target", &p.Target}, field{"url", &p.URL}, field{"value", &p.Value})
	},
	TypeDOMSnapshot: func(raw json.RawMessage) (any, error) {
		p := &DOMSnapshot{}
		return p, decodeFields(TypeDOMSnapshot, raw, field{"url", &p.URL}, field{"visible_text", &p.VisibleText},
			field{"selected_values", &p.SelectedValues}, field{"warnings", &p.Warnings})
	},
	TypeScreenshot: func(raw json.RawMessage) (any, error) {
		p := &Screenshot{}
		return p, decodeFields(TypeScreenshot, raw, field{"artifact_id", &p.ArtifactID}, field{"storage_path", &p.StoragePath},
			field{"size_bytes", &p.SizeBytes}, field{"source_type", &p.SourceType})
	},
	TypeReplayArtifact: func(raw json.RawMessage) (any, error) {
		p := &ReplayArtifact{}
		err := decodeFields(TypeReplayArtifact, raw, field{"artifact_id", &p.ArtifactID}, field{"artifact_type", &p.ArtifactType},
			field{"storage_path", &p.StoragePath}, field{"started_at", &p.StartedAt}, field{"ended_at", &p.EndedAt},
			field{"duration_ms", &p.DurationMS}, field{"event_time_map", &p.EventTimeMap})
		if err == nil && p.DurationMS < 0 {
			return nil, invalid("replay_artifact.payload.duration_ms must be >= 0")
		}
		return p, err
	},
	TypeGoalCheck: func(raw json.RawMessage) (any, error) {
		p := &GoalCheck{}
		return p, decodeFields(TypeGoalCheck, raw, field{"passed", &p.Passed}, field{"mismatches", &p.Mismatches})
	},
	TypeStateChange: func(raw json.RawMessage) (any, error) {
		p := &StateChange{}
		err := decodeFields(TypeStateChange, raw, field{"name", &p.Name}, field{"before", &p.Before}, field{"after", &p.After},
			field{"span_name", &p.SpanName}, field{"duration_ms", &p.DurationMS})
		if err == nil && p.DurationMS != nil && *p.DurationMS < 0 {
			return nil, invalid("state_change.payload.duration_ms must be >= 0")
		}
		return p, err
	},
	TypeSessionEnd: func(raw json.RawMessage) (any, error) {
		p := &SessionEnd{}
		return p, decodeFields(TypeSessionEnd, raw, field{"status", &p.Status}, field{"error", &p.Error})
	},
	TypeLLMCall: decodeLLMCall,
	TypeScore: func(raw json.RawMessage) (any, error) {
		p := &Score{}
		err := decodeFields(TypeScore, raw, field{"name", &p.Name}, field{"value", &p.Value}, field{"comment", &p.Comment}, field{"source", &p.Source})
		if err == nil && !isNull(p.Value) {
			if _, ok := p.NumericValue(); !ok {
				return nil, invalid("score.payload.value must be a number or a boolean")
			}
		}
		return p, err
	},
	TypeError: func(raw json.RawMessage) (any, error) {
		p := &Error{}
		return p, decodeFields(TypeError, raw, field{"message", &p.Message}, field{"error_type", &p.ErrorType},
			field{"traceback", &p.Traceback}, field{"handled", &p.Handled})
	},
	TypeMetric: func(raw json.RawMessage) (any, error) {
		p := &Metric{}
		return p, decodeFields(TypeMetric, raw, field{"name", &p.Name}, field{"value", &p.Value}, field{"unit", &p.Unit})
	},
}

func decodeMessage(typ string) func(json.RawMessage) (any, error) {
	return func(raw json.RawMessage) (any, error) {
		p := &Message{}
		return p, decodeFields(typ, raw, field{"content", &p.Content}, field{"metadata", &p.Metadata})
	}
}

// decodeLLMCall checks an llm_call as the reference does: references only,
// a non-empty model, integer token counts.
func decodeLLMCall(raw json.RawMessage) (any, error) {
	var prompt, messages bool
	eachField(raw, func(key, _ []byte) {
		prompt = prompt || string(key) == "prompt"
		messages = messages || string(key) == "messages"
	})
	switch {
	case prompt && messages:
		return nil, invalid("llm_call payload must use prompt_ref/messages_ref, not raw prompt, messages")
	case prompt:
		return nil, invalid("llm_call payload must use prompt_ref/messages_ref, not raw prompt")
	case messages:
		return nil, invalid("llm_call payload must use prompt_ref/messages_ref, not raw messages")
	}
	p := &LLMCall{}
	var model, inputTokens, outputTokens json.RawMessage
	if err := decodeFields(TypeLLMCall, raw, field{"model", &model}, field{"prompt_ref", &p.PromptRef}, field{"messages_ref", &p.MessagesRef},
		field{"input_tokens", &inputTokens}, field{"output_tokens", &outputTokens}, field{"latency_ms", &p.LatencyMS}); err != nil {
		return nil, err
	}
	var ok bool
	if p.Model, ok = DecodeString(model); !ok {
		return nil, invalid("llm_call.payload.model must be a string")
	}
	if strings.TrimSpace(p.Model) == "" {
		return nil, invalid("llm_call.payload.model must be nonempty")
	}
	// Token counts must be integers and null is refused, as in the reference.
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  **int64
	}{{"input_tokens", inputTokens, &p.InputTokens}, {"output_tokens", outputTokens, &p.OutputTokens}} {
		if f.raw == nil && !hasKey(raw, f.name) {
			continue
		}
		n, err := strconv.ParseInt(string(f.raw), 10, 64)
		if err != nil {
			return nil, invalid("llm_call.payload.%s must be an integer", f.name)
		}
		if n < 0 {
			return nil, invalid("llm_call.payload.%s must be >= 0", f.name)
		}
		*f.dst = &n
	}
	if p.LatencyMS != nil && *p.LatencyMS < 0 {
		return nil, invalid("llm_call.payload.latency_ms must be >= 0")
	}
	return p, nil
}

func hasKey(raw []byte, key string) bool {
	found := false
	eachField(raw, func(k, _ []byte) { found = found || string(k) == key })
	return found
}

// EventTypes lists the known event types.
func EventTypes() []string {
	types := make([]string, 0, len(payloadDecoders))
	for t := range payloadDecoders {
		types = append(types, t)
	}
	return types
}
