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
		f := fieldsOf(m.Metadata)
		defer f.close()
		for key, value, ok := f.next(); ok; key, value, ok = f.next() {
			if string(key) == "status" {
				status, _ = DecodeString(value)
			}
		}
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
	names := map[string]string{}
	for _, t := range []string{TypeUserMessage, TypeAgentMessage, TypeToolCall, TypeToolResult, TypeRetrieval, TypeBrowserAction,
		TypeDOMSnapshot, TypeScreenshot, TypeReplayArtifact, TypeGoalCheck, TypeStateChange, TypeSessionEnd, TypeLLMCall,
		TypeScore, TypeError, TypeMetric} {
		names[t] = t
	}
	return names
}()

// decodePayload decodes the payload of a known event type from its fields.
// The contract requires only llm_call's model; every other field is
// optional, but a field given with the wrong JSON type is refused.
func decodePayload(typ string, payload *fieldReader) (any, error) {
	switch typ {
	case TypeUserMessage, TypeAgentMessage:
		p := &Message{}
		return p, decodeFields(typ, payload, field{"content", &p.Content}, field{"metadata", &p.Metadata})
	case TypeLLMCall:
		return decodeLLMCall(payload)
	case TypeToolCall:
		p := &ToolCall{}
		return p, decodeFields(TypeToolCall, payload, field{"tool_name", &p.ToolName}, field{"arguments", &p.Arguments}, field{"call_id", &p.CallID})
	case TypeToolResult:
		p := &ToolResult{}
		return p, decodeFields(TypeToolResult, payload, field{"call_id", &p.CallID}, field{"result", &p.Result}, field{"error", &p.Error})
	case TypeRetrieval:
		p := &Retrieval{}
		return p, decodeFields(TypeRetrieval, payload, field{"query", &p.Query}, field{"documents", &p.Documents})
	case TypeBrowserAction:
		p := &BrowserAction{}
		return p, decodeFields(TypeBrowserAction, payload, field{"action", &p.Action}, field{"target", &p.Target}, field{"url", &p.URL}, field{"value", &p.Value})
	case TypeDOMSnapshot:
		p := &DOMSnapshot{}
		return p, decodeFields(TypeDOMSnapshot, payload, field{"url", &p.URL}, field{"visible_text", &p.VisibleText},
			field{"selected_values", &p.SelectedValues}, field{"warnings", &p.Warnings})
	case TypeScreenshot:
		p := &Screenshot{}
		return p, decodeFields(TypeScreenshot, payload, field{"artifact_id", &p.ArtifactID}, field{"storage_path", &p.StoragePath},
			field{"size_bytes", &p.SizeBytes}, field{"source_type", &p.SourceType})
	case TypeReplayArtifact:
		p := &ReplayArtifact{}
		err := decodeFields(TypeReplayArtifact, payload, field{"artifact_id", &p.ArtifactID}, field{"artifact_type", &p.ArtifactType},
			field{"storage_path", &p.StoragePath}, field{"started_at", &p.StartedAt}, field{"ended_at", &p.EndedAt},
			field{"duration_ms", &p.DurationMS}, field{"event_time_map", &p.EventTimeMap})
		if err == nil && p.DurationMS < 0 {
			return nil, invalid("replay_artifact.payload.duration_ms must be >= 0")
		}
		return p, err
	case TypeGoalCheck:
		p := &GoalCheck{}
		return p, decodeFields(TypeGoalCheck, payload, field{"passed", &p.Passed}, field{"mismatches", &p.Mismatches})
	case TypeStateChange:
		p := &StateChange{}
		err := decodeFields(TypeStateChange, payload, field{"name", &p.Name}, field{"before", &p.Before}, field{"after", &p.After},
			field{"span_name", &p.SpanName}, field{"duration_ms", &p.DurationMS})
		if err == nil && p.DurationMS != nil && *p.DurationMS < 0 {
			return nil, invalid("state_change.payload.duration_ms must be >= 0")
		}
		return p, err
	case TypeSessionEnd:
		p := &SessionEnd{}
		return p, decodeFields(TypeSessionEnd, payload, field{"status", &p.Status}, field{"error", &p.Error})
	case TypeScore:
		p := &Score{}
		err := decodeFields(TypeScore, payload, field{"name", &p.Name}, field{"value", &p.Value}, field{"comment", &p.Comment}, field{"source", &p.Source})
		if err == nil && !isNull(p.Value) {
			if _, ok := p.NumericValue(); !ok {
				return nil, invalid("score.payload.value must be a number or a boolean")
			}
		}
		return p, err
	case TypeError:
		p := &Error{}
		return p, decodeFields(TypeError, payload, field{"message", &p.Message}, field{"error_type", &p.ErrorType},
			field{"traceback", &p.Traceback}, field{"handled", &p.Handled})
	case TypeMetric:
		p := &Metric{}
		return p, decodeFields(TypeMetric, payload, field{"name", &p.Name}, field{"value", &p.Value}, field{"unit", &p.Unit})
	}
	return nil, invalid("%s: %s", ReasonUnknownType, pythonRepr(typ))
}

// decodeLLMCall checks an llm_call as the reference does: references only,
// a non-empty model, integer token counts.
func decodeLLMCall(payload *fieldReader) (any, error) {
	p := &LLMCall{}
	var model, inputTokens, outputTokens json.RawMessage
	fields := []field{{"model", &model}, {"prompt_ref", &p.PromptRef}, {"messages_ref", &p.MessagesRef},
		{"input_tokens", &inputTokens}, {"output_tokens", &outputTokens}, {"latency_ms", &p.LatencyMS}}
	var prompt, messages, hasInput, hasOutput bool
	var err error
	for key, value, ok := payload.next(); ok; key, value, ok = payload.next() {
		switch string(key) {
		case "prompt":
			prompt = true
		case "messages":
			messages = true
		case "input_tokens":
			hasInput = true
		case "output_tokens":
			hasOutput = true
		}
		setNamed(TypeLLMCall, fields, key, value, &err)
	}
	switch {
	case prompt && messages:
		return nil, invalid("llm_call payload must use prompt_ref/messages_ref, not raw prompt, messages")
	case prompt:
		return nil, invalid("llm_call payload must use prompt_ref/messages_ref, not raw prompt")
	case messages:
		return nil, invalid("llm_call payload must use prompt_ref/messages_ref, not raw messages")
	case err != nil:
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
		name    string
		present bool
		raw     json.RawMessage
		dst     **int64
	}{{"input_tokens", hasInput, inputTokens, &p.InputTokens}, {"output_tokens", hasOutput, outputTokens, &p.OutputTokens}} {
		if !f.present {
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

// EventTypes lists the known event types.
func EventTypes() []string {
	types := make([]string, 0, len(eventTypes))
	for t := range eventTypes {
		types = append(types, t)
	}
	return types
}
