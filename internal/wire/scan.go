// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package wire // import "github.com/promptetheus/otelcol-promptetheus/internal/wire"

import (
	"bytes"
	"encoding/json"
	"strconv"
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

// eachField calls f with the key (unquoted) and raw value of every field of
// the valid JSON object b, in order. Keys are sub-slices of b unless they
// hold escapes or invalid UTF-8, which are decoded as encoding/json does
// (U+FFFD for bad bytes), so no key reaches an attribute name unchecked.
// On input that is not valid JSON it stops at the first field it cannot
// read, without reading past b.
func eachField(b []byte, f func(key, value []byte)) {
	if len(b) == 0 {
		return
	}
	i := skipSpace(b, 1)
	for i < len(b) && b[i] == '"' {
		n := skipString(b[i:])
		if n < 2 || b[i+n-1] != '"' {
			return // an unterminated key
		}
		key := b[i+1 : i+n-1]
		if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
			s, _ := DecodeString(b[i : i+n])
			key = []byte(s)
		}
		if i = skipSpace(b, i+n); i >= len(b) || b[i] != ':' {
			return
		}
		i = skipSpace(b, i+1)
		v := skipValue(b[i:])
		if v == 0 {
			return
		}
		f(key, b[i:i+v])
		i = skipSpace(b, i+v)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
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

// field binds a payload key to where its value goes: a *string,
// *json.RawMessage, *int64, *float64, **float64, **bool, *[]string,
// *[]json.RawMessage, *map[string]json.RawMessage or *map[string]float64.
type field struct {
	name string
	dst  any
}

// decodeFields fills fields from the valid JSON object raw. A value of the
// wrong JSON type is refused by name; null leaves a field at its zero value
// and unknown keys are ignored, as encoding/json does.
func decodeFields(typ string, raw []byte, fields ...field) error {
	var err error
	eachField(raw, func(key, value []byte) {
		for _, f := range fields {
			if f.name == string(key) && err == nil && !isNull(value) && !setField(f.dst, value) {
				err = invalid("%s.payload.%s must be %s", typ, key, kindName(f.dst))
			}
		}
	})
	return err
}

func setField(dst any, v []byte) bool {
	var ok = true
	switch d := dst.(type) {
	case *string:
		*d, ok = DecodeString(v)
	case *json.RawMessage:
		*d = v
	case *int64:
		n, err := strconv.ParseInt(string(v), 10, 64)
		*d, ok = n, err == nil
	case *float64:
		*d, ok = parseNumber(v)
	case **float64:
		var f float64
		if f, ok = parseNumber(v); ok {
			*d = &f
		}
	case **bool:
		b := string(v) == "true"
		if ok = b || string(v) == "false"; ok {
			*d = &b
		}
	case *[]string:
		if ok = v[0] == '['; ok {
			for _, e := range elements(v) {
				s, isString := DecodeString(e)
				if !isString && !isNull(e) {
					return false
				}
				*d = append(*d, s)
			}
		}
	case *[]json.RawMessage:
		if ok = v[0] == '['; ok {
			*d = elements(v)
		}
	case *map[string]json.RawMessage:
		if ok = v[0] == '{'; ok {
			*d = map[string]json.RawMessage{}
			eachField(v, func(k, e []byte) { (*d)[string(k)] = e })
		}
	case *map[string]float64:
		if ok = v[0] == '{'; ok {
			*d = map[string]float64{}
			eachField(v, func(k, e []byte) {
				f, isNumber := parseNumber(e)
				ok = ok && (isNumber || isNull(e))
				(*d)[string(k)] = f
			})
		}
	default:
		panic("wire: unsupported field type")
	}
	return ok
}

// parseNumber reads a JSON number that fits a float64.
func parseNumber(v []byte) (float64, bool) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	return f, err == nil
}

func kindName(dst any) string {
	switch dst.(type) {
	case *string:
		return "a string"
	case **bool:
		return "a boolean"
	case *int64:
		return "an integer"
	case *float64, **float64:
		return "a number"
	case *[]string:
		return "an array of strings"
	case *[]json.RawMessage:
		return "an array"
	}
	return "an object"
}
