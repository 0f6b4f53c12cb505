// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package wire // import "github.com/promptetheus/otelcol-promptetheus/internal/wire"

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// Body errors, answered 400 with these messages, as the reference does.
var (
	ErrBadJSON   = errors.New("malformed JSON body")
	ErrNotObject = errors.New("request body must be a JSON object")
	// ErrTooManyEvents: a batch holds more events than the caller allows.
	ErrTooManyEvents = errors.New("too many events in one request")
)

// EventBody is a decoded POST /api/traces/{id}/events body: a batch
// {"events": [...]}, one bare event, or nothing ({} or an empty body).
type EventBody struct {
	// Events holds the raw events in request order.
	Events []json.RawMessage
	// Bare is true when the body was a single event, not a batch.
	Bare bool
	// checked holds each event of a batch as the split read and checked
	// it, so that an event is tokenized once.
	checked []checkedEvent
	runID   string
}

type checkedEvent struct {
	ev  Event
	err error
}

// Event returns event i of the body checked against the contract. A
// batch's events were checked as the body was split; a bare event is
// checked now, and refused in the reference's words for a bare event.
func (b *EventBody) Event(i int) (*Event, error) {
	if i < 0 || i >= len(b.Events) {
		return nil, invalid("no event %d in a body of %d", i, len(b.Events))
	}
	if !b.Bare {
		c := &b.checked[i]
		if c.err != nil {
			return nil, c.err
		}
		return &c.ev, nil
	}
	ev, err := DecodeValidJSON(b.Events[i], b.runID)
	var invalidErr *InvalidEventError
	if errors.As(err, &invalidErr) && invalidErr.bare != "" {
		return nil, &InvalidEventError{Reason: invalidErr.bare}
	}
	if err != nil {
		return nil, err
	}
	return &ev, nil
}

// DecodeEventBody checks the JSON syntax of an events body and, in the same
// pass, splits a batch into events and checks each against the contract on
// its own, so that each event can be accepted or rejected on its own (see
// Event). runID is the run of the request path: it replaces the events' own
// session_id, as in DecodeEvent. A batch of more than maxEvents (> 0) is
// refused with ErrTooManyEvents, the events past that bound checked for
// syntax only. Like the reference, {"events": x} with x not an array is a
// batch of one.
func DecodeEventBody(body []byte, runID string, maxEvents int) (EventBody, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return EventBody{}, nil
	}
	r := newReader(body)
	defer r.release()
	if !r.open('{') {
		if _, ok := r.value(); !ok || !r.atEOF() {
			return EventBody{}, ErrBadJSON
		}
		return EventBody{}, ErrNotObject
	}
	n := guessEvents(body, maxEvents)
	out := EventBody{Events: make([]json.RawMessage, 0, n), checked: make([]checkedEvent, 0, n), runID: runID}
	fields, batch, tooMany := 0, false, false
	for r.dec.PeekKind() == '"' {
		key, ok := r.name()
		if !ok {
			return EventBody{}, ErrBadJSON
		}
		fields++
		if string(key) != "events" {
			if r.dec.SkipValue() != nil {
				return EventBody{}, ErrBadJSON
			}
			continue
		}
		// The last of duplicate keys wins.
		batch, tooMany, out.Events, out.checked = true, false, out.Events[:0], out.checked[:0]
		if !r.open('[') {
			if !out.readEvent(r) {
				return EventBody{}, ErrBadJSON
			}
			continue
		}
		for r.dec.PeekKind() != ']' {
			if len(out.Events) == maxEvents {
				tooMany = true // the rest is only checked for syntax
				if r.dec.SkipValue() != nil {
					return EventBody{}, ErrBadJSON
				}
				continue
			}
			if !out.readEvent(r) {
				return EventBody{}, ErrBadJSON
			}
		}
		if !r.close() {
			return EventBody{}, ErrBadJSON
		}
	}
	if !r.close() || !r.atEOF() {
		return EventBody{}, ErrBadJSON
	}
	switch {
	case batch && tooMany:
		return EventBody{}, ErrTooManyEvents
	case batch:
		return out, nil
	case fields == 0:
		return EventBody{}, nil
	}
	return EventBody{Events: []json.RawMessage{body}, Bare: true, runID: runID}, nil
}

// readEvent reads and checks the next event of a batch; false when its
// JSON syntax does not hold.
func (b *EventBody) readEvent(r *reader) bool {
	var raw []byte
	var c checkedEvent
	ok := false
	if r.dec.PeekKind() == '{' {
		var env envelope
		if raw, ok = env.readFrom(r); ok {
			c.ev, c.err = env.decode(b.runID)
		}
	} else {
		raw, ok = r.value()
		c.err = invalid("event must be a mapping")
	}
	b.Events = append(b.Events, raw)
	b.checked = append(b.checked, c)
	return ok
}

// guessEvents guesses the events of a batch, so that its slices are
// allocated once: an event is an object holding an object (its payload),
// and counting a byte is cheap. At most maxEvents.
func guessEvents(body []byte, maxEvents int) int {
	return max(0, min(bytes.Count(body, []byte{'{'})/2, maxEvents))
}

// decodeObjectInto decodes a JSON object body into v, telling bad JSON from
// JSON that is not an object.
func decodeObjectInto(body []byte, v any) error {
	err := json.Unmarshal(body, v)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case body[0] != '{' && json.Valid(body):
		return ErrNotObject
	case errors.As(err, &typeErr):
		return typeErr // a field of the wrong type, reported by the caller
	}
	return ErrBadJSON
}

// CreateRun is the body of POST /api/traces.
type CreateRun struct {
	ID          string          `json:"id"`
	UserGoal    string          `json:"user_goal"`
	Agent       string          `json:"agent"`
	Environment string          `json:"environment"`
	Metadata    json.RawMessage `json:"metadata"`
	Tags        []string        `json:"tags"`
	Source      string          `json:"source"`
	// ProjectID is read but never trusted: the credential picks the project.
	ProjectID string `json:"project_id"`
}

// Limits on run fields, so that run state stays small.
const (
	MaxRunIDLength    = 256
	MaxUserGoalLength = 16 << 10
	MaxAgentLength    = 256
	MaxTags           = 64
	MaxTagLength      = 256
)

// DecodeCreateRun decodes and validates a create body. Every field is
// optional: an empty body creates a run with a new id.
func DecodeCreateRun(body []byte) (CreateRun, error) {
	var c CreateRun
	if body = bytes.TrimSpace(body); len(body) == 0 {
		return c, nil
	}
	if err := decodeObjectInto(body, &c); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return CreateRun{}, invalid("%s must be %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))
		}
		return CreateRun{}, err
	}
	if c.ID != "" {
		if err := ValidateRunID(c.ID); err != nil {
			return CreateRun{}, err
		}
	}
	switch {
	case len(c.UserGoal) > MaxUserGoalLength:
		return CreateRun{}, invalid("user_goal is longer than %d bytes", MaxUserGoalLength)
	case len(c.Agent) > MaxAgentLength:
		return CreateRun{}, invalid("agent is longer than %d bytes", MaxAgentLength)
	case len(c.Tags) > MaxTags:
		return CreateRun{}, invalid("at most %d tags are allowed", MaxTags)
	case !isNull(c.Metadata) && !isObject(c.Metadata):
		return CreateRun{}, invalid("metadata must be an object")
	}
	for _, tag := range c.Tags {
		if len(tag) > MaxTagLength {
			return CreateRun{}, invalid("a tag is longer than %d bytes", MaxTagLength)
		}
	}
	return c, nil
}

// ValidateRunID refuses run ids that cannot be a path segment or a storage
// key: empty, too long, or holding slashes, control characters or NULs.
func ValidateRunID(id string) error {
	switch {
	case strings.TrimSpace(id) == "":
		return invalid("trace id must be a non-empty string")
	case len(id) > MaxRunIDLength:
		return invalid("trace id is longer than %d bytes", MaxRunIDLength)
	case strings.ContainsAny(id, "/\\") || id == "." || id == "..":
		return invalid("trace id must not contain slashes")
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return invalid("trace id must not contain control characters")
		}
	}
	return nil
}
