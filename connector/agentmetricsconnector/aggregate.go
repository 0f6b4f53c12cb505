// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentmetricsconnector // import "github.com/promptetheus/otelcol-promptetheus/connector/agentmetricsconnector"

import (
	"encoding/binary"
	"sort"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
)

// series is the cumulative state of one attribute set of one metric.
type series struct {
	attrs pcommon.Map
	start pcommon.Timestamp
	// counters
	intSum    int64
	doubleSum float64
	// histograms
	count   uint64
	sum     float64
	buckets []uint64
}

func (s *series) record(def *metricDef, v float64) {
	switch def.kind {
	case kindIntCounter:
		s.intSum += int64(v)
	case kindDoubleCounter:
		s.doubleSum += v
	case kindHistogram:
		s.count++
		s.sum += v
		// Bucket i holds (bounds[i-1], bounds[i]]; the last one what is above.
		s.buckets[sort.SearchFloat64s(def.bounds, v)]++
	}
}

// metricState holds the series of one metric, in the order they appeared,
// at most limit of them, the overflow series included.
type metricState struct {
	def      *metricDef
	limit    int
	index    map[string]*series
	ordered  []*series
	overflow *series
}

func (m *metricState) newSeries(attrs pcommon.Map, now pcommon.Timestamp) *series {
	s := &series{attrs: attrs, start: now}
	if m.def.kind == kindHistogram {
		s.buckets = make([]uint64, len(m.def.bounds)+1)
	}
	m.ordered = append(m.ordered, s)
	return s
}

// record adds one measurement; it reports whether the measurement went to
// the overflow series.
func (m *metricState) record(key []byte, attrs []attr, v float64, now pcommon.Timestamp) bool {
	s, ok := m.index[string(key)]
	overflowed := false
	if !ok {
		if len(m.index) < m.limit-1 {
			s = m.newSeries(toMap(attrs), now)
			m.index[string(key)] = s
		} else {
			overflowed = true
			if m.overflow == nil {
				overflow := pcommon.NewMap()
				overflow.PutBool(conventions.MetricAttrOverflow, true)
				m.overflow = m.newSeries(overflow, now)
			}
			s = m.overflow
		}
	}
	s.record(m.def, v)
	return overflowed
}

func (m *metricState) len() int { return len(m.ordered) }

// appendTo writes the metric's cumulative data points, time-stamped now.
func (m *metricState) appendTo(metrics pmetric.MetricSlice, now pcommon.Timestamp) {
	if len(m.ordered) == 0 {
		return
	}
	metric := metrics.AppendEmpty()
	metric.SetName(m.def.name)
	metric.SetUnit(m.def.unit)
	metric.SetDescription(m.def.description)
	switch m.def.kind {
	case kindIntCounter, kindDoubleCounter:
		sum := metric.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dps := sum.DataPoints()
		dps.EnsureCapacity(len(m.ordered))
		for _, s := range m.ordered {
			dp := dps.AppendEmpty()
			s.attrs.CopyTo(dp.Attributes())
			dp.SetStartTimestamp(s.start)
			dp.SetTimestamp(now)
			if m.def.kind == kindIntCounter {
				dp.SetIntValue(s.intSum)
			} else {
				dp.SetDoubleValue(s.doubleSum)
			}
		}
	case kindHistogram:
		hist := metric.SetEmptyHistogram()
		hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dps := hist.DataPoints()
		dps.EnsureCapacity(len(m.ordered))
		for _, s := range m.ordered {
			dp := dps.AppendEmpty()
			s.attrs.CopyTo(dp.Attributes())
			dp.SetStartTimestamp(s.start)
			dp.SetTimestamp(now)
			dp.SetCount(s.count)
			dp.SetSum(s.sum)
			dp.ExplicitBounds().FromRaw(m.def.bounds)
			dp.BucketCounts().FromRaw(s.buckets)
		}
	}
}

// appendKey encodes an attribute set unambiguously: each key and value
// length-prefixed, ints marked apart from strings.
func appendKey(buf []byte, attrs []attr) []byte {
	for _, a := range attrs {
		buf = binary.AppendUvarint(buf, uint64(len(a.key)))
		buf = append(buf, a.key...)
		if a.isNum {
			buf = append(buf, 'i')
			buf = binary.AppendVarint(buf, a.num)
			continue
		}
		buf = append(buf, 's')
		buf = binary.AppendUvarint(buf, uint64(len(a.str)))
		buf = append(buf, a.str...)
	}
	return buf
}

func toMap(attrs []attr) pcommon.Map {
	m := pcommon.NewMap()
	m.EnsureCapacity(len(attrs))
	for _, a := range attrs {
		if a.isNum {
			m.PutInt(a.key, a.num)
		} else {
			m.PutStr(a.key, a.str)
		}
	}
	return m
}
