// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package wire // import "github.com/promptetheus/otelcol-promptetheus/internal/wire"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// The 16 event types of the wire contract.
const (
	TypeUserMessage    = "user_message"
	TypeAgentMessage   = "agent_message"
	TypeToolCall       = "tool_call"
	TypeToolResult     = "tool_result"
	TypeRetrieval      = "retrieval"
	TypeBrowserAction  = "browser_action"
	TypeDOMSnapshot    = "dom_snapshot"
	TypeScreenshot     = "screenshot"
	TypeReplayArtifact = "replay_artifact"
	TypeGoalCheck      = "goal_check"
	TypeStateChange    = "state_change"
	TypeSessionEnd     = "session_end"
	TypeLLMCall        = "llm_call"
	TypeScore          = "score"
	TypeError          = "error"
	TypeMetric         = "metric"
)

// Limits on envelope strings. They keep per-run state and span ids bounded;
// payload strings are bounded by the body size and cut by the mapping.
const (
	MaxIdempotencyKeyLength = 512
	MaxSpanIDLength         = 256
	MaxTypeLength           = 64
)

// ReasonUnknownType is the contract's reason for an event of no known type:
// a bare event's 422 detail as it stands; in a batch, followed by the type
// as Python writes it (unknown event type: 'not_real').
const ReasonUnknownType = "unknown event type"

// Event is one validated Promptetheus event.
type Event struct {
	Type           string
	SessionID      string
	Timestamp      time.Time
	Seq            int64
	IdempotencyKey string
	// SpanID and ParentID build the optional tree over the timeline.
	SpanID   string
	ParentID string
	// Metadata is the raw "metadata" object, nil when absent.
	Metadata json.RawMessage
	// Payload points to the typed payload of Type, e.g. *ToolCall.
	Payload any
}

// InvalidEventError says why an event was refused; its message is the
// contract's "reason" (batch) or "detail" (bare event, see EventBody.Decode).
type InvalidEventError struct {
	Reason string
	// bare is the reference's wording for a bare event, where it differs.
	bare string
}

func (e *InvalidEventError) Error() string { return e.Reason }

func invalid(format string, args ...any) error {
	return &InvalidEventError{Reason: fmt.Sprintf(format, args...)}
}

// envelope keeps every field raw so that each problem gets its own reason.
type envelope struct {
	Type, SessionID, Timestamp, Seq, IdempotencyKey json.RawMessage
	Payload, Metadata, SpanID, ParentID             json.RawMessage
	// payloadType is set when read decoded the payload as it went, as a
	// payload of that type, into decoded and decodeErr.
	payloadType string
	decoded     any
	decodeErr   error
}

// set records one field; the last of duplicate keys wins, as in Python.
func (e *envelope) set(key, value []byte) {
	switch string(key) {
	case "type":
		e.Type = value
	case "session_id":
		e.SessionID = value
	case "timestamp":
		e.Timestamp = value
	case "seq":
		e.Seq = value
	case "idempotency_key":
		e.IdempotencyKey = value
	case "payload":
		e.Payload, e.payloadType = value, ""
	case "metadata":
		e.Metadata = value
	case "span_id":
		e.SpanID = value
	case "parent_id":
		e.ParentID = value
	}
}

// readFrom takes the fields of the event object r is at, through its
// closing brace, and returns the object; ok is false when its JSON syntax
// does not hold. A payload that comes after a known type, as the SDKs send
// it, is decoded as it is read rather than read again afterwards.
func (e *envelope) readFrom(r *reader) (object []byte, ok bool) {
	if !r.open('{') {
		return nil, false
	}
	start := int(r.dec.InputOffset()) - 1
	for r.dec.PeekKind() == '"' {
		key, ok := r.name()
		if !ok {
			return nil, false
		}
		if string(key) == "payload" && r.dec.PeekKind() == '{' {
			typ, _ := stringBytes(e.Type)
			if name, known := eventTypes[string(typ)]; known {
				if !e.decodePayload(r, name) {
					return nil, false
				}
				continue
			}
		}
		value, ok := r.value()
		if !ok {
			return nil, false
		}
		e.set(key, value)
	}
	if !r.close() {
		return nil, false
	}
	return r.in[start:r.dec.InputOffset()], true
}

// decodePayload decodes the payload object r is at as a payload of typ.
func (e *envelope) decodePayload(r *reader, typ string) bool {
	if !r.open('{') {
		return false
	}
	start := int(r.dec.InputOffset()) - 1
	f := fieldReader{r: r}
	decoded, err := decodePayload(typ, &f)
	for _, _, more := f.next(); more; _, _, more = f.next() {
		// a field the decoder left unread
	}
	if !r.close() {
		return false
	}
	e.Payload = r.in[start:r.dec.InputOffset()]
	e.payloadType, e.decoded, e.decodeErr = typ, decoded, err
	return true
}

// DecodeEvent validates one event. runID is the run of the request path: it
// replaces the event's own session_id, as the reference server does. Checks
// run in the reference's order and answer with its messages.
func DecodeEvent(raw json.RawMessage, runID string) (Event, error) {
	raw = bytes.TrimSpace(raw)
	if !validJSON(raw) {
		return Event{}, invalid("event must be a mapping")
	}
	return decodeValidEvent(raw, runID)
}

// DecodeValidJSON is DecodeEvent for raw already known to be valid JSON,
// such as an event of a request body that was checked as a whole. It skips
// that check, not safety: on any other input it answers an error or an
// event read from what it could parse, and never panics.
func DecodeValidJSON(raw json.RawMessage, runID string) (Event, error) {
	return decodeValidEvent(bytes.TrimSpace(raw), runID)
}

func decodeValidEvent(raw json.RawMessage, runID string) (Event, error) {
	if !isObject(raw) {
		return Event{}, invalid("event must be a mapping")
	}
	r := newReader(raw)
	defer r.release()
	var env envelope
	env.readFrom(r)
	return env.decode(runID)
}

// decode validates the fields read into e.
func (e *envelope) decode(runID string) (Event, error) {
	var missing []string
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"type", e.Type}, {"session_id", e.SessionID}, {"timestamp", e.Timestamp}, {"seq", e.Seq}, {"idempotency_key", e.IdempotencyKey}, {"payload", e.Payload}} {
		if len(f.raw) == 0 {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return Event{}, invalid("event missing required envelope field(s): %s", strings.Join(missing, ", "))
	}
	var ev Event
	typ, err := nonEmptyBytes("type", e.Type, MaxTypeLength)
	if err != nil {
		return Event{}, err
	}
	name, known := eventTypes[string(typ)]
	if !known {
		return Event{}, &InvalidEventError{Reason: ReasonUnknownType + ": " + pythonRepr(string(typ)), bare: ReasonUnknownType}
	}
	ev.Type = name
	if _, err = nonEmptyBytes("session_id", e.SessionID, MaxRunIDLength); err != nil {
		return Event{}, err
	}
	ev.SessionID = runID
	if ev.Timestamp, err = decodeTimestamp(e.Timestamp); err != nil {
		return Event{}, err
	}
	if ev.Seq, err = decodeSeq(e.Seq); err != nil {
		return Event{}, err
	}
	if ev.IdempotencyKey, err = nonEmptyString("idempotency_key", e.IdempotencyKey, MaxIdempotencyKeyLength); err != nil {
		return Event{}, err
	}
	if !isObject(e.Payload) {
		return Event{}, invalid("event.payload must be a mapping")
	}
	if e.payloadType == ev.Type {
		ev.Payload, err = e.decoded, e.decodeErr
	} else {
		f := fieldsOf(e.Payload)
		ev.Payload, err = decodePayload(ev.Type, &f)
		f.close()
	}
	if err != nil {
		return Event{}, err
	}
	if len(e.SpanID) > 0 {
		if ev.SpanID, err = nonEmptyString("span_id", e.SpanID, MaxSpanIDLength); err != nil {
			return Event{}, err
		}
	}
	if !isNull(e.ParentID) {
		if ev.ParentID, err = nonEmptyString("parent_id", e.ParentID, MaxSpanIDLength); err != nil {
			return Event{}, invalid("event.parent_id must be a string or None")
		}
	}
	// Metadata is free-form in the contract; anything but an object is ignored.
	if isObject(e.Metadata) {
		ev.Metadata = e.Metadata
	}
	return ev, nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// nonEmptyString decodes an envelope string field.
func nonEmptyString(field string, raw json.RawMessage, maxLen int) (string, error) {
	b, err := nonEmptyBytes(field, raw, maxLen)
	return string(b), err
}

// nonEmptyBytes checks an envelope string field without copying it when it
// holds no escapes.
func nonEmptyBytes(field string, raw json.RawMessage, maxLen int) ([]byte, error) {
	b, ok := stringBytes(raw)
	if !ok {
		return nil, invalid("event.%s must be a string", field)
	}
	switch {
	case len(bytes.TrimSpace(b)) == 0:
		return nil, invalid("event.%s must be nonempty", field)
	case len(b) > maxLen:
		return nil, invalid("event.%s is longer than %d bytes", field, maxLen)
	case bytes.IndexByte(b, 0) >= 0 || bytes.ContainsRune(b, utf8.RuneError):
		return nil, invalid("event.%s contains invalid characters", field)
	}
	return b, nil
}

// DecodeString reads the JSON string value raw (without a copy of the
// decoder when it holds no escapes); ok is false when raw is not a string.
func DecodeString(raw json.RawMessage) (s string, ok bool) {
	b, ok := stringBytes(raw)
	return string(b), ok
}

// stringBytes reads a JSON string value. Strings without escapes, the
// common case, are the input's own bytes, without a second pass of the JSON
// decoder (reading the event already checked the syntax).
func stringBytes(raw json.RawMessage) ([]byte, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner, true
	}
	if !validJSON(raw) {
		return nil, false
	}
	// Invalid UTF-8 becomes U+FFFD, as with encoding/json; the error says so.
	s, _ := jsontext.AppendUnquote(nil, raw)
	return s, true
}

func decodeSeq(raw json.RawMessage) (int64, error) {
	// Only a bare integer is a seq: not "3" (a string), not 1.0 (a float in
	// the reference) and not 1e3.
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '-' {
		if _, err := strconv.ParseFloat(string(raw), 64); err == nil {
			return 0, invalid("event.seq must be >= 0")
		}
	}
	seq, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, invalid("event.seq must be an integer")
	}
	if seq < 0 {
		return 0, invalid("event.seq must be >= 0")
	}
	return seq, nil
}

// Timestamps outside this window are refused: they are typos or clock
// garbage and would put spans where no backend query finds them.
var (
	minTimestamp = time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC)
	maxTimestamp = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func decodeTimestamp(raw json.RawMessage) (time.Time, error) {
	b, ok := stringBytes(raw)
	if !ok {
		return time.Time{}, invalid("event.timestamp must be a string")
	}
	// UnmarshalText reads strict RFC 3339 without copying; the rest goes
	// through the lenient parse.
	var ts time.Time
	if err := ts.UnmarshalText(b); err != nil {
		if ts, err = ParseTimestamp(string(b)); err != nil {
			return time.Time{}, invalid("event.timestamp must be an RFC 3339 timestamp")
		}
	}
	ts = ts.UTC()
	if ts.Before(minTimestamp) || ts.After(maxTimestamp) {
		return time.Time{}, invalid("event.timestamp is out of range")
	}
	return ts, nil
}

// ParseTimestamp accepts RFC 3339 and, like Python's datetime.fromisoformat
// that the reference server uses, a timestamp without a zone (read as UTC).
func ParseTimestamp(s string) (time.Time, error) {
	if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return ts.UTC(), nil
	}
	ts, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
	if err != nil {
		return time.Time{}, errors.New("not an RFC 3339 timestamp")
	}
	return ts, nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64", "float64":
		return "a number"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	default:
		return "of another type"
	}
}
