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

// encodeBatch encodes a batch's record and spans into one compressed value,
// in dst when it is large enough.
func encodeBatch(b *session.Batch, dst []byte) ([]byte, error) {
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
	return s2.Encode(dst[:cap(dst)], buf), nil
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
	m := make([]byte, 0, 128) // on the stack unless a long error outgrows it
	if !s.Start.IsZero() {
		m = appendInt(m, fieldStart, s.Start.UnixNano())
	}
	if !s.End.IsZero() {
		m = appendInt(m, fieldEnd, s.End.UnixNano())
	}
	for _, f := range summaryInts(s) {
		m = appendInt(m, f.num, *f.v)
	}
	m = protowire.AppendTag(m, fieldCostUSD, protowire.Fixed64Type)
	m = protowire.AppendFixed64(m, math.Float64bits(s.CostUSD))
	if goal != nil {
		m = protowire.AppendTag(m, fieldGoal, protowire.BytesType)
		m = protowire.AppendBytes(m, goal)
	}
	if s.SessionStatus != "" {
		m = protowire.AppendTag(m, fieldSessionStatus, protowire.BytesType)
		m = protowire.AppendString(m, s.SessionStatus)
	}
	if s.SessionError != "" {
		m = protowire.AppendTag(m, fieldSessionError, protowire.BytesType)
		m = protowire.AppendString(m, s.SessionError)
	}
	buf = protowire.AppendTag(buf, fieldSummary, protowire.BytesType)
	return protowire.AppendBytes(buf, m), nil
}

// summaryInts are the integer fields of the totals, written and read
// alike.
func summaryInts(s *mapping.Summary) [10]struct {
	num protowire.Number
	v   *int64
} {
	return [...]struct {
		num protowire.Number
		v   *int64
	}{
		{fieldLastSeq, &s.LastSeq}, {fieldEvents, &s.Events}, {fieldLLMCalls, &s.LLMCalls},
		{fieldToolCalls, &s.ToolCalls}, {fieldErrors, &s.Errors}, {fieldInputTokens, &s.InputTokens},
		{fieldOutputTokens, &s.OutputTokens}, {fieldPricedLLMCalls, &s.PricedLLMCalls},
		{fieldUnpricedLLMCalls, &s.UnpricedLLMCalls}, {fieldGoalSeq, &s.GoalSeq},
	}
}

func appendInt(buf []byte, num protowire.Number, v int64) []byte {
	buf = protowire.AppendTag(buf, num, protowire.VarintType)
	return protowire.AppendVarint(buf, uint64(v))
}

// walkFields calls fn with each field of the protobuf message m: v holds
// a varint or fixed64 value, b a bytes value. Groups and 32-bit fields,
// which no version writes, are an error.
func walkFields(m []byte, fn func(num protowire.Number, v uint64, b []byte) error) error {
	for len(m) > 0 {
		num, typ, n := protowire.ConsumeTag(m)
		if n < 0 {
			return errBadRecord
		}
		m = m[n:]
		var v uint64
		var b []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(m)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(m)
		case protowire.BytesType:
			b, n = protowire.ConsumeBytes(m)
		default:
			return fmt.Errorf("%w: field %d of type %d", errBadRecord, num, typ)
		}
		if n < 0 {
			return errBadRecord
		}
		m = m[n:]
		if err := fn(num, v, b); err != nil {
			return err
		}
	}
	return nil
}

// decodeSummary reads field 11; fields it does not know are skipped.
func decodeSummary(m []byte) (mapping.Summary, error) {
	s := mapping.NewSummary()
	ints := summaryInts(&s)
	err := walkFields(m, func(num protowire.Number, u uint64, b []byte) error {
		for _, f := range ints {
			if f.num == num {
				*f.v = int64(u)
				return nil
			}
		}
		switch num {
		case fieldStart:
			s.Start = time.Unix(0, int64(u)).UTC()
		case fieldEnd:
			s.End = time.Unix(0, int64(u)).UTC()
		case fieldCostUSD:
			s.CostUSD = math.Float64frombits(u)
		case fieldGoal:
			return json.Unmarshal(b, &s.Goal)
		case fieldSessionStatus:
			s.SessionStatus = string(b)
		case fieldSessionError:
			s.SessionError = string(b)
		}
		return nil
	})
	return s, err
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
	err = walkFields(buf, func(num protowire.Number, u uint64, v []byte) error {
		switch num {
		case fieldSent:
			rec.Sent = protowire.DecodeZigZag(u)
		case fieldAt:
			rec.At = time.Unix(0, int64(u)).UTC()
		case fieldKeys:
			if len(v)%16 != 0 {
				return errBadRecord
			}
			rec.Keys = v
		case fieldSeqs:
			for len(v) > 0 {
				q, n := protowire.ConsumeVarint(v)
				if n < 0 {
					return errBadRecord
				}
				rec.Seqs = append(rec.Seqs, protowire.DecodeZigZag(q))
				v = v[n:]
			}
		case fieldHeldTool, fieldHeldState:
			id, raw, err := decodeHeld(v)
			if err != nil {
				return err
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
			var err error
			rec.Summary, err = decodeSummary(v)
			return err
		case fieldSummaryJSON:
			rec.Summary = mapping.NewSummary()
			return json.Unmarshal(v, &rec.Summary)
		case fieldUserFindings:
			return json.Unmarshal(v, &rec.User)
		case fieldSpans:
			spans = v
		}
		return nil
	})
	if err != nil {
		return session.Record{}, nil, err
	}
	return rec, spans, nil
}

func decodeHeld(m []byte) (id string, raw json.RawMessage, err error) {
	err = walkFields(m, func(num protowire.Number, _ uint64, v []byte) error {
		switch num {
		case fieldPendingID:
			id = string(v)
		case fieldPendingRaw:
			raw = json.RawMessage(v)
		}
		return nil
	})
	return id, raw, err
}
