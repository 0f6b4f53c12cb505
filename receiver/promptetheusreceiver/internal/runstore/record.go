// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package runstore // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/runstore"

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"
)

// A stored batch is one value: its record in the protobuf wire format
// (written with protowire, no generated code: the fields below), then its
// spans as OTLP protobuf, the whole compressed with S2 (protobuf repeats
// attribute keys span after span, and the storage's cost follows the bytes
// it writes). The record's dedup keys, seqs and pending halves dominate it;
// JSON spent most of a batch's encoding time on them, so they are binary.
// The totals and user findings, small and of a changing shape, stay JSON.
const (
	fieldSent          protowire.Number = 1  // zigzag varint
	fieldAt            protowire.Number = 2  // varint, Unix nanoseconds
	fieldKeys          protowire.Number = 3  // bytes: 16 a key
	fieldSeqs          protowire.Number = 4  // bytes: packed zigzag varints
	fieldHeldTool      protowire.Number = 5  // bytes: a pending half, {1: id, 2: raw event}
	fieldHeldState     protowire.Number = 6  // bytes: idem
	fieldPairedTool    protowire.Number = 7  // bytes: an id
	fieldPairedState   protowire.Number = 8  // bytes: an id
	fieldSummaryJSON   protowire.Number = 9  // bytes: JSON, written by older versions
	fieldUserFindings  protowire.Number = 10 // bytes: JSON
	fieldSummary       protowire.Number = 11 // bytes: the totals, fields below
	fieldSpans         protowire.Number = 15 // bytes: OTLP protobuf
	fieldPendingID     protowire.Number = 1
	fieldPendingRaw    protowire.Number = 2
	maxStoredBatchSize                  = 1 << 30
)

// The run's totals, in field 11.
const (
	fieldStart            protowire.Number = 1 // varint, Unix nanoseconds (UTC, from span timestamps)
	fieldEnd              protowire.Number = 2 // idem
	fieldLastSeq          protowire.Number = 3 // varint, two's complement, as are the counts
	fieldEvents           protowire.Number = 4
	fieldLLMCalls         protowire.Number = 5
	fieldToolCalls        protowire.Number = 6
	fieldErrors           protowire.Number = 7
	fieldInputTokens      protowire.Number = 8
	fieldOutputTokens     protowire.Number = 9
	fieldCostUSD          protowire.Number = 10 // fixed64, IEEE 754
	fieldPricedLLMCalls   protowire.Number = 11
	fieldUnpricedLLMCalls protowire.Number = 12
	fieldGoalSeq          protowire.Number = 13 // varint, two's complement
	fieldGoal             protowire.Number = 14 // bytes: JSON of the goal check
	fieldSessionStatus    protowire.Number = 15 // bytes
	fieldSessionError     protowire.Number = 16 // bytes
)

// bufPool holds the buffers a batch is encoded in; maxPooledBuffer keeps a
// rare huge batch from staying in the pool.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledBuffer = 1 << 20

func putBuf(bp *[]byte) {
	if cap(*bp) <= maxPooledBuffer {
		bufPool.Put(bp)
	}
}

// encodeBatch encodes a batch's record and spans into one compressed value
// in *dst, which it may replace with a larger buffer.
func encodeBatch(b *session.Batch, dst *[]byte) ([]byte, error) {
	rec := &b.Record
	bp := bufPool.Get().(*[]byte)
	defer putBuf(bp)
	buf := (*bp)[:0]

	buf = protowire.AppendTag(buf, fieldSent, protowire.VarintType)
	buf = protowire.AppendVarint(buf, protowire.EncodeZigZag(rec.Sent))
	buf = protowire.AppendTag(buf, fieldAt, protowire.VarintType)
	buf = protowire.AppendVarint(buf, uint64(rec.At.UnixNano()))
	if len(rec.Keys) > 0 {
		buf = protowire.AppendTag(buf, fieldKeys, protowire.BytesType)
		buf = protowire.AppendBytes(buf, rec.Keys)
	}
	if len(rec.Seqs) > 0 {
		size := 0
		for _, q := range rec.Seqs {
			size += protowire.SizeVarint(protowire.EncodeZigZag(q))
		}
		buf = protowire.AppendTag(buf, fieldSeqs, protowire.BytesType)
		buf = protowire.AppendVarint(buf, uint64(size))
		for _, q := range rec.Seqs {
			buf = protowire.AppendVarint(buf, protowire.EncodeZigZag(q))
		}
	}
	buf = appendHeld(buf, fieldHeldTool, rec.Held.Tools)
	buf = appendHeld(buf, fieldHeldState, rec.Held.States)
	for _, id := range rec.Paired.Tools {
		buf = protowire.AppendTag(buf, fieldPairedTool, protowire.BytesType)
		buf = protowire.AppendString(buf, id)
	}
	for _, id := range rec.Paired.States {
		buf = protowire.AppendTag(buf, fieldPairedState, protowire.BytesType)
		buf = protowire.AppendString(buf, id)
	}
	buf, err := appendSummary(buf, &rec.Summary)
	if err != nil {
		return nil, err
	}
	if len(rec.User) > 0 {
		user, err := json.Marshal(rec.User)
		if err != nil {
			return nil, err
		}
		buf = protowire.AppendTag(buf, fieldUserFindings, protowire.BytesType)
		buf = protowire.AppendBytes(buf, user)
	}
	if b.SpanCount() > 0 {
		spans, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(b.Spans())
		if err != nil {
			return nil, err
		}
		buf = protowire.AppendTag(buf, fieldSpans, protowire.BytesType)
		buf = protowire.AppendBytes(buf, spans)
	}
	*bp = buf
	*dst = s2.Encode((*dst)[:cap(*dst)], buf)
	return *dst, nil
}

// appendSummary writes the run's totals as field 11.
func appendSummary(buf []byte, s *mapping.Summary) ([]byte, error) {
	var goal []byte
	if s.Goal != nil {
		var err error
		if goal, err = json.Marshal(s.Goal); err != nil {
			return nil, err
		}
	}
	// The message is small: written after a one-byte length that is
	// patched, or moved when it does not fit.
	buf = protowire.AppendTag(buf, fieldSummary, protowire.BytesType)
	at := len(buf)
	buf = append(buf, 0)
	if !s.Start.IsZero() {
		buf = appendInt(buf, fieldStart, s.Start.UnixNano())
	}
	if !s.End.IsZero() {
		buf = appendInt(buf, fieldEnd, s.End.UnixNano())
	}
	buf = appendInt(buf, fieldLastSeq, s.LastSeq)
	buf = appendInt(buf, fieldEvents, s.Events)
	buf = appendInt(buf, fieldLLMCalls, s.LLMCalls)
	buf = appendInt(buf, fieldToolCalls, s.ToolCalls)
	buf = appendInt(buf, fieldErrors, s.Errors)
	buf = appendInt(buf, fieldInputTokens, s.InputTokens)
	buf = appendInt(buf, fieldOutputTokens, s.OutputTokens)
	buf = protowire.AppendTag(buf, fieldCostUSD, protowire.Fixed64Type)
	buf = protowire.AppendFixed64(buf, math.Float64bits(s.CostUSD))
	buf = appendInt(buf, fieldPricedLLMCalls, s.PricedLLMCalls)
	buf = appendInt(buf, fieldUnpricedLLMCalls, s.UnpricedLLMCalls)
	buf = appendInt(buf, fieldGoalSeq, s.GoalSeq)
	if goal != nil {
		buf = protowire.AppendTag(buf, fieldGoal, protowire.BytesType)
		buf = protowire.AppendBytes(buf, goal)
	}
	if s.SessionStatus != "" {
		buf = protowire.AppendTag(buf, fieldSessionStatus, protowire.BytesType)
		buf = protowire.AppendString(buf, s.SessionStatus)
	}
	if s.SessionError != "" {
		buf = protowire.AppendTag(buf, fieldSessionError, protowire.BytesType)
		buf = protowire.AppendString(buf, s.SessionError)
	}
	size := len(buf) - at - 1
	if size < 0x80 {
		buf[at] = byte(size)
		return buf, nil
	}
	msg := append([]byte(nil), buf[at+1:]...)
	return protowire.AppendBytes(buf[:at], msg), nil
}

func appendInt(buf []byte, num protowire.Number, v int64) []byte {
	buf = protowire.AppendTag(buf, num, protowire.VarintType)
	return protowire.AppendVarint(buf, uint64(v))
}

// decodeSummary reads field 11. Fields it does not know are skipped.
func decodeSummary(m []byte) (mapping.Summary, error) {
	s := mapping.NewSummary()
	for len(m) > 0 {
		num, typ, n := protowire.ConsumeTag(m)
		if n < 0 {
			return s, errBadRecord
		}
		m = m[n:]
		switch typ {
		case protowire.VarintType:
			u, n := protowire.ConsumeVarint(m)
			if n < 0 {
				return s, errBadRecord
			}
			m = m[n:]
			v := int64(u)
			switch num {
			case fieldStart:
				s.Start = time.Unix(0, v).UTC()
			case fieldEnd:
				s.End = time.Unix(0, v).UTC()
			case fieldLastSeq:
				s.LastSeq = v
			case fieldEvents:
				s.Events = v
			case fieldLLMCalls:
				s.LLMCalls = v
			case fieldToolCalls:
				s.ToolCalls = v
			case fieldErrors:
				s.Errors = v
			case fieldInputTokens:
				s.InputTokens = v
			case fieldOutputTokens:
				s.OutputTokens = v
			case fieldPricedLLMCalls:
				s.PricedLLMCalls = v
			case fieldUnpricedLLMCalls:
				s.UnpricedLLMCalls = v
			case fieldGoalSeq:
				s.GoalSeq = v
			}
		case protowire.Fixed64Type:
			u, n := protowire.ConsumeFixed64(m)
			if n < 0 {
				return s, errBadRecord
			}
			m = m[n:]
			if num == fieldCostUSD {
				s.CostUSD = math.Float64frombits(u)
			}
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(m)
			if n < 0 {
				return s, errBadRecord
			}
			m = m[n:]
			switch num {
			case fieldGoal:
				if err := json.Unmarshal(v, &s.Goal); err != nil {
					return s, err
				}
			case fieldSessionStatus:
				s.SessionStatus = string(v)
			case fieldSessionError:
				s.SessionError = string(v)
			}
		default:
			return s, fmt.Errorf("%w: totals field %d of type %d", errBadRecord, num, typ)
		}
	}
	return s, nil
}

// appendHeld writes pending halves in a stable order.
func appendHeld(buf []byte, field protowire.Number, held map[string]json.RawMessage) []byte {
	ids := make([]string, 0, len(held))
	for id := range held {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		var m []byte
		m = protowire.AppendTag(m, fieldPendingID, protowire.BytesType)
		m = protowire.AppendString(m, id)
		m = protowire.AppendTag(m, fieldPendingRaw, protowire.BytesType)
		m = protowire.AppendBytes(m, held[id])
		buf = protowire.AppendTag(buf, field, protowire.BytesType)
		buf = protowire.AppendBytes(buf, m)
	}
	return buf
}

var errBadRecord = errors.New("malformed stored batch")

// decodeBatch reads a stored batch: its record and its spans' OTLP bytes
// (nil for a batch without spans). Any input gives a record or an error.
func decodeBatch(value []byte) (rec session.Record, spans []byte, err error) {
	if n, err := s2.DecodedLen(value); err != nil || n > maxStoredBatchSize {
		return rec, nil, errBadRecord
	}
	buf, err := s2.Decode(nil, value)
	if err != nil {
		return rec, nil, err
	}
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return rec, nil, errBadRecord
		}
		buf = buf[n:]
		if typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(buf)
			if n < 0 {
				return rec, nil, errBadRecord
			}
			buf = buf[n:]
			switch num {
			case fieldSent:
				rec.Sent = protowire.DecodeZigZag(v)
			case fieldAt:
				rec.At = time.Unix(0, int64(v)).UTC()
			}
			continue
		}
		if typ != protowire.BytesType {
			return rec, nil, fmt.Errorf("%w: field %d of type %d", errBadRecord, num, typ)
		}
		v, n := protowire.ConsumeBytes(buf)
		if n < 0 {
			return rec, nil, errBadRecord
		}
		buf = buf[n:]
		switch num {
		case fieldKeys:
			if len(v)%16 != 0 {
				return rec, nil, errBadRecord
			}
			rec.Keys = v
		case fieldSeqs:
			for len(v) > 0 {
				q, n := protowire.ConsumeVarint(v)
				if n < 0 {
					return rec, nil, errBadRecord
				}
				rec.Seqs = append(rec.Seqs, protowire.DecodeZigZag(q))
				v = v[n:]
			}
		case fieldHeldTool, fieldHeldState:
			id, raw, ok := consumeHeld(v)
			if !ok {
				return rec, nil, errBadRecord
			}
			m := &rec.Held.Tools
			if num == fieldHeldState {
				m = &rec.Held.States
			}
			if *m == nil {
				*m = map[string]json.RawMessage{}
			}
			(*m)[id] = raw
		case fieldPairedTool:
			rec.Paired.Tools = append(rec.Paired.Tools, string(v))
		case fieldPairedState:
			rec.Paired.States = append(rec.Paired.States, string(v))
		case fieldSummary:
			if rec.Summary, err = decodeSummary(v); err != nil {
				return rec, nil, err
			}
		case fieldSummaryJSON:
			rec.Summary = mapping.NewSummary()
			if err := json.Unmarshal(v, &rec.Summary); err != nil {
				return rec, nil, err
			}
		case fieldUserFindings:
			if err := json.Unmarshal(v, &rec.User); err != nil {
				return rec, nil, err
			}
		case fieldSpans:
			spans = v
		}
	}
	return rec, spans, nil
}

func consumeHeld(m []byte) (id string, raw json.RawMessage, ok bool) {
	for len(m) > 0 {
		num, typ, n := protowire.ConsumeTag(m)
		if n < 0 || typ != protowire.BytesType {
			return "", nil, false
		}
		v, k := protowire.ConsumeBytes(m[n:])
		if k < 0 {
			return "", nil, false
		}
		m = m[n+k:]
		switch num {
		case fieldPendingID:
			id = string(v)
		case fieldPendingRaw:
			raw = json.RawMessage(v)
		}
	}
	return id, raw, true
}
