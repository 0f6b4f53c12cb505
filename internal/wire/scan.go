// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

//go:build wirescanner

package wire // import "github.com/promptetheus/otelcol-promptetheus/internal/wire"

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// A small scanner over JSON that validJSON has accepted: it finds the
// fields of an object and the elements of an array as sub-slices of the
// input, without copying or decoding them. Splitting a batch and reading an
// envelope this way costs one validation pass instead of several decodes.

// structuralByte marks the bytes skipValue must look at inside an object
// or array: quotes and brackets.
var structuralByte = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true}

// skipValue returns the length of the JSON value b starts with.
func skipValue(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	switch b[0] {
	case '"':
		return skipString(b)
	case '{', '[':
		depth := 0
		for i := 0; i < len(b); i++ {
			for i < len(b)-1 && !structuralByte[b[i]] {
				i++
			}
			switch b[i] {
			case '"':
				i += skipString(b[i:]) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for i, c := range b {
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			return i
		}
	}
	return len(b)
}

// skipString returns the length of the JSON string b starts with.
func skipString(b []byte) int {
	for i := 1; i < len(b); i++ {
		for i < len(b)-1 && plainStringByte[b[i]] {
			i++
		}
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// fieldReader reads the fields of a valid JSON object, in order. Keys are
// sub-slices of the object unless they hold escapes or invalid UTF-8, which
// are decoded as encoding/json does (U+FFFD for bad bytes), so no key
// reaches an attribute name unchecked. On input that is not valid JSON it
// stops at the first field it cannot read, without reading past it.
type fieldReader struct {
	b []byte
	i int
}

// fieldsOf reads the fields of the object b.
func fieldsOf(b []byte) fieldReader {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return fieldReader{}
	}
	return fieldReader{b: b, i: skipSpace(b, i+1)}
}

// next returns the next field; ok is false past the last one.
func (f *fieldReader) next() (key, value []byte, ok bool) {
	b, i := f.b, f.i
	f.b = nil // stays so unless a field is read whole
	if i >= len(b) || b[i] != '"' {
		return nil, nil, false
	}
	n := skipString(b[i:])
	if n < 2 || b[i+n-1] != '"' {
		return nil, nil, false // an unterminated key
	}
	key = b[i+1 : i+n-1]
	if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
		s, _ := DecodeString(b[i : i+n])
		key = []byte(s)
	}
	if i = skipSpace(b, i+n); i >= len(b) || b[i] != ':' {
		return nil, nil, false
	}
	i = skipSpace(b, i+1)
	v := skipValue(b[i:])
	if v == 0 {
		return nil, nil, false
	}
	value = b[i : i+v]
	if i = skipSpace(b, i+v); i < len(b) && b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	f.b, f.i = b, i
	return key, value, true
}

func (f *fieldReader) close() {}

// read takes the fields of the event raw; the payload is decoded later.
func (e *envelope) read(raw []byte) {
	f := fieldsOf(raw)
	for key, value, ok := f.next(); ok; key, value, ok = f.next() {
		e.set(key, value)
	}
}

// elements returns the elements of the valid JSON array b. On input that
// is not valid JSON it stops at the first element it cannot read.
func elements(b []byte) []json.RawMessage {
	var out []json.RawMessage
	if len(b) == 0 {
		return nil
	}
	i := skipSpace(b, 1)
	for i < len(b) && b[i] != ']' {
		n := skipValue(b[i:])
		if n == 0 {
			return out
		}
		out = append(out, b[i:i+n])
		i = skipSpace(b, i+n)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return out
}

// DecodeEventBody splits an events body into raw events without validating
// them, so that each event can be accepted or rejected on its own. Like the
// reference, {"events": x} with x not an array is a batch of one.
func DecodeEventBody(body []byte) (EventBody, error) {
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		return EventBody{}, nil
	case !validJSON(body):
		return EventBody{}, ErrBadJSON
	case body[0] != '{':
		return EventBody{}, ErrNotObject
	}
	var events []byte
	fields := 0
	f := fieldsOf(body)
	for key, value, ok := f.next(); ok; key, value, ok = f.next() {
		fields++
		if string(key) == "events" {
			events = value
		}
	}
	switch {
	case events != nil && events[0] == '[':
		return EventBody{Events: elements(events)}, nil
	case events != nil:
		return EventBody{Events: []json.RawMessage{events}}, nil
	case fields == 0:
		return EventBody{}, nil
	}
	return EventBody{Events: []json.RawMessage{body}, Bare: true}, nil
}
