// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter // import "github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter"

import (
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// truncateString cuts s to at most limit bytes without splitting a UTF-8
// sequence: when the cut falls inside a character, the whole character goes.
func truncateString(s string, limit int) string {
	if limit <= 0 || len(s) <= limit {
		return s
	}
	i := limit
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// attributeTruncator walks the string attribute values of traces (resource,
// scope, span, event and link attributes, and strings nested in slices and
// maps) and counts those longer than limit. With apply it also cuts them,
// so it must only be given data the exporter owns.
type attributeTruncator struct {
	limit int
	apply bool
	count int
}

// truncateTraces returns how many string values of td exceed limit, cutting
// them when apply is true.
func truncateTraces(td ptrace.Traces, limit int, apply bool) int {
	if limit <= 0 {
		return 0
	}
	t := &attributeTruncator{limit: limit, apply: apply}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		t.attrs(rs.Resource().Attributes())
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			t.attrs(ss.Scope().Attributes())
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				t.attrs(span.Attributes())
				events := span.Events()
				for e := 0; e < events.Len(); e++ {
					t.attrs(events.At(e).Attributes())
				}
				links := span.Links()
				for l := 0; l < links.Len(); l++ {
					t.attrs(links.At(l).Attributes())
				}
			}
		}
	}
	return t.count
}

func (t *attributeTruncator) attrs(m pcommon.Map) {
	for _, v := range m.All() {
		t.value(v)
	}
}

func (t *attributeTruncator) value(v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if s := v.Str(); len(s) > t.limit {
			t.count++
			if t.apply {
				v.SetStr(truncateString(s, t.limit))
			}
		}
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		for i := 0; i < sl.Len(); i++ {
			t.value(sl.At(i))
		}
	case pcommon.ValueTypeMap:
		t.attrs(v.Map())
	}
}
