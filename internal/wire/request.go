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
)

// EventBody is a decoded POST /api/traces/{id}/events body: a batch
// {"events": [...]}, one bare event, or nothing ({} or an empty body).
type EventBody struct {
	// Events holds the raw events in request order.
	Events []json.RawMessage
	// Bare is true when the body was a single event, not a batch.
	Bare bool
}

// Decode validates event i of the body; the body's JSON syntax was checked
// once, as a whole, when it was split. A bare event is refused in the
// reference's words for a bare event.
func (b EventBody) Decode(i int, runID string) (Event, error) {
	if i < 0 || i >= len(b.Events) {
		return Event{}, invalid("no event %d in a body of %d", i, len(b.Events))
	}
	ev, err := DecodeValidJSON(b.Events[i], runID)
	var invalidErr *InvalidEventError
	if b.Bare && errors.As(err, &invalidErr) && invalidErr.bare != "" {
		return Event{}, &InvalidEventError{Reason: invalidErr.bare}
	}
	return ev, err
}

// DecodeEventBody checks the JSON syntax of an events body and, in the same
// pass, splits it into raw events without checking them against the
// contract, so that each event can be accepted or rejected on its own. Like
// the reference, {"events": x} with x not an array is a batch of one.
func DecodeEventBody(body []byte) (EventBody, error) {
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
	var out EventBody
	fields, batch := 0, false
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
		batch, out.Events = true, nil // the last of duplicate keys wins
		if !r.open('[') {
			e, ok := r.value()
			if !ok {
				return EventBody{}, ErrBadJSON
			}
			out.Events = []json.RawMessage{e}
			continue
		}
		for r.dec.PeekKind() != ']' {
			e, ok := r.value()
			if !ok {
				return EventBody{}, ErrBadJSON
			}
			out.Events = append(out.Events, e)
		}
		if !r.close() {
			return EventBody{}, ErrBadJSON
		}
	}
	if !r.close() || !r.atEOF() {
		return EventBody{}, ErrBadJSON
	}
	switch {
	case batch:
		return out, nil
	case fields == 0:
		return EventBody{}, nil
	}
	return EventBody{Events: []json.RawMessage{body}, Bare: true}, nil
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
