// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package mapping // import "github.com/promptetheus/otelcol-promptetheus/internal/mapping"

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
)

// maxMetadataDepth is how deep metadata objects are flattened into
// attributes; deeper values become JSON strings.
const maxMetadataDepth = 2

// attrWriter writes attributes within the configured limits and counts what
// it had to cut.
type attrWriter struct {
	cfg       *Config
	truncated int
}

// cut shortens s to the attribute limit without splitting a UTF-8 sequence.
func (w *attrWriter) cut(s string) string {
	limit := w.cfg.MaxAttributeLength
	if limit <= 0 || len(s) <= limit {
		return s
	}
	w.truncated++
	s = s[:limit]
	// Only the last rune can have been split: drop its dangling bytes.
	for i := 0; i < utf8.UTFMax-1 && len(s) > 0; i++ {
		if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

func (w *attrWriter) putStr(m pcommon.Map, key, value string) {
	if value == "" {
		return
	}
	m.PutStr(key, w.cut(value))
}

// putContent writes user or model content, which is opt-in.
func (w *attrWriter) putContent(m pcommon.Map, key, value string) {
	if w.cfg.CaptureContent {
		w.putStr(m, key, value)
	}
}

// putJSON writes a raw JSON value as a compact JSON string; JSON strings are
// written unquoted.
func (w *attrWriter) putJSON(m pcommon.Map, key string, raw json.RawMessage) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return
	}
	w.putStr(m, key, jsonText(raw))
}

func (w *attrWriter) putStrSlice(m pcommon.Map, key string, values []string) {
	if len(values) == 0 {
		return
	}
	if limit := w.cfg.MaxArrayLength; limit > 0 && len(values) > limit {
		values = values[:limit]
		w.truncated++
	}
	s := m.PutEmptySlice(key)
	s.EnsureCapacity(len(values))
	for _, v := range values {
		s.AppendEmpty().SetStr(w.cut(v))
	}
}

// putMetadata flattens a JSON object under prefix: scalars become attributes,
// objects nest up to maxMetadataDepth, anything deeper or any array becomes
// a JSON string. Keys are sorted so the output never depends on map order.
func (w *attrWriter) putMetadata(m pcommon.Map, prefix string, raw json.RawMessage) {
	budget := w.cfg.MaxArrayLength
	if budget <= 0 {
		budget = int(^uint(0) >> 1)
	}
	w.flatten(m, prefix, raw, 1, &budget)
}

func (w *attrWriter) flatten(m pcommon.Map, prefix string, raw json.RawMessage, depth int, budget *int) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if *budget <= 0 {
			w.truncated++
			return
		}
		v := bytes.TrimSpace(obj[k])
		key := prefix + k
		if len(v) == 0 {
			continue
		}
		switch v[0] {
		case '{':
			if depth < maxMetadataDepth {
				w.flatten(m, key+".", v, depth+1, budget)
				continue
			}
			w.putJSON(m, key, v)
		case '[':
			w.putJSON(m, key, v)
		case 't', 'f':
			m.PutBool(key, v[0] == 't')
		case 'n':
			continue
		case '"':
			w.putJSON(m, key, v)
		default:
			putNumber(m, key, v)
		}
		*budget--
	}
}

// putNumber keeps integers as ints and everything else as doubles.
func putNumber(m pcommon.Map, key string, raw json.RawMessage) {
	if i, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		m.PutInt(key, i)
		return
	}
	if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
		m.PutDouble(key, f)
	}
}

// jsonText renders a raw JSON value as text: strings unquoted, anything
// else compact JSON.
func jsonText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if s, ok := wire.DecodeString(raw); ok {
		return s
	}
	// SDKs send compact JSON; only JSON with whitespace needs compacting.
	if bytes.ContainsAny(raw, " \t\r\n") {
		var buf bytes.Buffer
		if json.Compact(&buf, raw) == nil {
			raw = buf.Bytes()
		}
	}
	// Compact keeps invalid UTF-8 inside strings; OTLP strings must be UTF-8.
	return strings.ToValidUTF8(string(raw), "\uFFFD")
}
