// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package runstore // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/runstore"

import (
	"encoding/json"
	"errors"
	"fmt"
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
	fieldSummary       protowire.Number = 9  // bytes: JSON
	fieldUserFindings  protowire.Number = 10 // bytes: JSON
	fieldSpans         protowire.Number = 15 // bytes: OTLP protobuf
	fieldPendingID     protowire.Number = 1
	fieldPendingRaw    protowire.Number = 2
	maxStoredBatchSize                  = 1 << 30
)

var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// encodeBatch encodes a batch's record and spans into one compressed value.
func encodeBatch(b *session.Batch) ([]byte, error) {
	rec := &b.Record
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
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
		var packed []byte
		for _, q := range rec.Seqs {
			packed = protowire.AppendVarint(packed, protowire.EncodeZigZag(q))
		}
		buf = protowire.AppendTag(buf, fieldSeqs, protowire.BytesType)
		buf = protowire.AppendBytes(buf, packed)
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
	summary, err := json.Marshal(&rec.Summary)
	if err != nil {
		return nil, err
	}
	buf = protowire.AppendTag(buf, fieldSummary, protowire.BytesType)
	buf = protowire.AppendBytes(buf, summary)
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
	return s2.Encode(nil, buf), nil
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
