// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package wire // import "github.com/promptetheus/otelcol-promptetheus/internal/wire"

import (
	"bytes"
	"encoding/json"
)

// A small scanner over JSON that json.Valid has accepted: it finds the
// fields of an object and the elements of an array as sub-slices of the
// input, without copying or decoding them. Splitting a batch and reading an
// envelope this way costs one validation pass instead of several decodes.

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
// the valid JSON object b, in order.
func eachField(b []byte, f func(key string, value []byte)) {
	i := skipSpace(b, 1)
	for i < len(b) && b[i] == '"' {
		n := skipString(b[i:])
		key, _ := rawString(b[i : i+n])
		i = skipSpace(b, i+n) + 1 // the colon
		i = skipSpace(b, i)
		v := skipValue(b[i:])
		f(key, b[i:i+v])
		i = skipSpace(b, i+v)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
}

// elements returns the elements of the valid JSON array b.
func elements(b []byte) []json.RawMessage {
	var out []json.RawMessage
	i := skipSpace(b, 1)
	for i < len(b) && b[i] != ']' {
		n := skipValue(b[i:])
		out = append(out, b[i:i+n])
		i = skipSpace(b, i+n)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return out
}

// validObject reports whether b is valid JSON and an object.
func validObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}
