// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package mapping // import "github.com/promptetheus/otelcol-promptetheus/internal/mapping"

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"

	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
)

// Pending holds the first halves of paired spans, as the raw events
// received, until their partner arrives: tool calls and results by call_id,
// state span starts and ends by span_id. It is serialisable, so a run's open
// pairs survive restarts.
type Pending struct {
	Tools  map[string]json.RawMessage `json:"tools,omitempty"`
	States map[string]json.RawMessage `json:"states,omitempty"`
}

// NewPending returns empty pending halves.
func NewPending() Pending {
	return Pending{Tools: map[string]json.RawMessage{}, States: map[string]json.RawMessage{}}
}

// Clone returns a copy that can change without touching p.
func (p Pending) Clone() Pending {
	return Pending{Tools: maps.Clone(p.Tools), States: maps.Clone(p.States)}
}

// Add maps one accepted event, pairing halves through pending. In a run that
// is already finalised (late) nothing waits: a half without its partner is
// emitted at once, unmatched.
func (b *Builder) Add(ev *wire.Event, raw json.RawMessage, pending *Pending, late bool) {
	switch pl := ev.Payload.(type) {
	case *wire.ToolCall:
		b.pairTool(ev, raw, pl.CallID, pending, late)
	case *wire.ToolResult:
		b.pairTool(ev, raw, pl.CallID, pending, late)
	case *wire.StateChange:
		if !Paired(ev) {
			b.AddEvent(ev)
			return
		}
		if other, ok := b.take(pending.States, ev.SpanID, ev.SessionID); ok {
			otherName := other.Payload.(*wire.StateChange).Name
			switch {
			case pl.Name == wire.StateSpanEnd && otherName == wire.StateSpanStart:
				b.AddStateSpan(other, ev)
				return
			case pl.Name == wire.StateSpanStart && otherName == wire.StateSpanEnd:
				b.AddStateSpan(ev, other)
				return
			}
			b.addHalf(other) // two starts or two ends: the earlier closes unmatched
		}
		if late {
			b.addHalf(ev)
			return
		}
		b.hold(pending.States, ev.SpanID, ev, raw)
	default:
		b.AddEvent(ev)
	}
}

// pairTool pairs a tool_call with its tool_result by call id, whichever
// arrives first. A second half of the same kind closes the first unmatched.
func (b *Builder) pairTool(ev *wire.Event, raw json.RawMessage, callID string, pending *Pending, late bool) {
	if other, ok := b.take(pending.Tools, callID, ev.SessionID); ok {
		switch {
		case other.Type == ev.Type:
			b.addHalf(other)
		case ev.Type == wire.TypeToolCall:
			b.AddToolSpan(ev, other)
			return
		default:
			b.AddToolSpan(other, ev)
			return
		}
	}
	if callID == "" || late {
		b.addHalf(ev)
		return
	}
	b.hold(pending.Tools, callID, ev, raw)
}

// FlushPending emits every pending half as an unmatched span, in a stable
// order, and empties pending.
func (b *Builder) FlushPending(pending *Pending, runID string) {
	for _, m := range []map[string]json.RawMessage{pending.Tools, pending.States} {
		for _, id := range slices.Sorted(maps.Keys(m)) {
			if ev, ok := b.take(m, id, runID); ok {
				b.addHalf(ev)
			}
		}
	}
}

// addHalf emits one half of a pair without its partner.
func (b *Builder) addHalf(ev *wire.Event) {
	switch p := ev.Payload.(type) {
	case *wire.ToolCall:
		b.AddToolSpan(ev, nil)
	case *wire.ToolResult:
		b.AddToolSpan(nil, ev)
	case *wire.StateChange:
		if p.Name == wire.StateSpanStart {
			b.AddStateSpan(ev, nil)
		} else {
			b.AddStateSpan(nil, ev)
		}
	}
}

// hold keeps ev as a pending half. The raw event is copied out of the request
// body, which it must not keep alive, and is what state persists; the
// decoded event is remembered by the copy's address, so that a partner in
// the same batch does not decode it again.
func (b *Builder) hold(pending map[string]json.RawMessage, id string, ev *wire.Event, raw json.RawMessage) {
	kept := bytes.Clone(raw)
	pending[id] = kept
	if len(kept) > 0 {
		if b.held == nil {
			b.held = map[*byte]*wire.Event{}
		}
		b.held[&kept[0]] = ev
	}
}

// take removes a pending half and returns it decoded. Pending events were
// validated before they were kept, so decoding cannot fail; if it did, the
// half is dropped rather than the whole run.
func (b *Builder) take(pending map[string]json.RawMessage, id, runID string) (*wire.Event, bool) {
	raw, ok := pending[id]
	if !ok {
		return nil, false
	}
	delete(pending, id)
	if len(raw) > 0 {
		if ev, held := b.held[&raw[0]]; held {
			return ev, true
		}
	}
	ev, err := wire.DecodeValidJSON(raw, runID)
	if err != nil {
		return nil, false
	}
	return &ev, true
}
