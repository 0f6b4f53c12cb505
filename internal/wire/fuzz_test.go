// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"
)

// seedEvents adds the contract's event samples to a fuzz corpus.
func seedEvents(f *testing.F) {
	for _, name := range []string{"schema_parity_events.json", "schema_parity_samples.json"} {
		body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "promptetheus-contract", name))
		if err != nil {
			f.Fatal(err)
		}
		var events []json.RawMessage
		if err := json.Unmarshal(body, &events); err != nil {
			f.Fatal(err)
		}
		for _, e := range events {
			f.Add([]byte(e))
		}
	}
	f.Add([]byte(`{"type":"llm_call","session_id":"s","timestamp":"2026-01-01T00:00:00Z","seq":2,"idempotency_key":"k","payload":{"model":"gpt-5","input_tokens":1}}`))
	f.Add([]byte(`{"type":"tool_call","session_id":"s","timestamp":"2026-01-01T00:00:00Z","seq":1e3,"idempotency_key":"k","payload":{"arguments":{"a":[1,{"b":null}]}}}`))
}

// FuzzDecodeEvent: any input is either a valid event whose fields hold the
// contract's invariants, or an InvalidEventError; never a panic.
func FuzzDecodeEvent(f *testing.F) {
	seedEvents(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := DecodeEvent(raw, "run")
		if err != nil {
			var invalidErr *InvalidEventError
			if !errors.As(err, &invalidErr) || invalidErr.Reason == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		switch {
		case ev.Seq < 0, ev.IdempotencyKey == "", len(ev.IdempotencyKey) > MaxIdempotencyKeyLength:
			t.Fatalf("accepted a bad envelope: %+v", ev)
		case !utf8.ValidString(ev.IdempotencyKey) || !utf8.ValidString(ev.SpanID) || !utf8.ValidString(ev.ParentID):
			t.Fatalf("accepted invalid UTF-8: %+v", ev)
		case ev.SessionID != "run", ev.Payload == nil:
			t.Fatalf("incomplete event: %+v", ev)
		case ev.Timestamp.Before(minTimestamp) || ev.Timestamp.After(maxTimestamp):
			t.Fatalf("timestamp out of range: %v", ev.Timestamp)
		}
	})
}

// FuzzDecodeValidJSON: the decoder that trusts its caller to have checked
// the JSON, and the payload accessors, on any bytes at all: an event or an
// InvalidEventError, never a panic; on valid JSON the same answer as
// DecodeEvent.
func FuzzDecodeValidJSON(f *testing.F) {
	seedEvents(f)
	f.Add([]byte(`{"a`))
	f.Add([]byte(`{"type":"user_message","payload":{"metadata":{"status`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := DecodeValidJSON(raw, "run")
		if err != nil {
			var invalidErr *InvalidEventError
			if !errors.As(err, &invalidErr) || invalidErr.Reason == "" {
				t.Fatalf("error without a reason: %v", err)
			}
		}
		switch p := ev.Payload.(type) {
		case *Message:
			p.Status()
		case *Score:
			p.NumericValue()
		case *ToolResult:
			p.Failed()
		}
		(&Message{Metadata: raw}).Status()
		(&Score{Value: raw}).NumericValue()
		(&ToolResult{Error: raw}).Failed()
		if s, ok := DecodeString(raw); ok && json.Valid(raw) {
			var want string
			if err := json.Unmarshal(raw, &want); err != nil || s != want {
				t.Fatalf("DecodeString: %q, encoding/json: %q (%v)", s, want, err)
			}
		}
		if !json.Valid(raw) {
			return
		}
		want, wantErr := DecodeEvent(raw, "run")
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("DecodeValidJSON: %v, DecodeEvent: %v", err, wantErr)
		}
		if err == nil && (ev.Type != want.Type || ev.Seq != want.Seq || ev.IdempotencyKey != want.IdempotencyKey) {
			t.Fatalf("DecodeValidJSON %+v, DecodeEvent %+v", ev, want)
		}
	})
}

// FuzzDecodeEventBody: a body is refused as bad JSON exactly when
// encoding/json refuses it, refused as not an object, or split into the
// events encoding/json sees, each of which decodes or is refused with a
// reason; never a panic.
func FuzzDecodeEventBody(f *testing.F) {
	f.Add([]byte(`{"events":[{"type":"user_message"}]}`))
	f.Add([]byte(`{"events":null}`))
	f.Add([]byte(`[{}]`))
	f.Add([]byte(``))
	f.Add([]byte(`{"a":1,"b":[1,{"c":"}"}],"d":"x\"y","events":[ 1 , "a" , {"b" : [ ] } , -2.5e3, true ],"events":[{}]}`))
	f.Add([]byte(`{"\u0065vents":[{"\u0074ype":"t"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := DecodeEventBody(body, "run", 1000)
		if err != nil && !errors.Is(err, ErrBadJSON) && !errors.Is(err, ErrNotObject) && !errors.Is(err, ErrTooManyEvents) {
			t.Fatalf("unexpected error %v", err)
		}
		trimmed := bytes.TrimSpace(body)
		if errors.Is(err, ErrBadJSON) == json.Valid(trimmed) && len(trimmed) > 0 {
			t.Fatalf("ErrBadJSON is %v, json.Valid says %v", errors.Is(err, ErrBadJSON), json.Valid(trimmed))
		}
		if want, ok := batchElements(trimmed); ok && err == nil {
			if len(b.Events) != len(want) {
				t.Fatalf("%d events, encoding/json sees %d", len(b.Events), len(want))
			}
			for i := range want {
				if !bytes.Equal(b.Events[i], bytes.TrimSpace(want[i])) {
					t.Fatalf("event %d: %q, encoding/json sees %q", i, b.Events[i], want[i])
				}
			}
		}
		if err == nil && b.Bare && len(b.Events) != 1 {
			t.Fatalf("a bare body holds one event, got %d", len(b.Events))
		}
		for i := -1; i <= len(b.Events); i++ {
			ev, err := b.Event(i)
			var invalidErr *InvalidEventError
			if err != nil && (!errors.As(err, &invalidErr) || invalidErr.Reason == "") {
				t.Fatalf("event %d: error without a reason: %v", i, err)
			}
			if i < 0 || i >= len(b.Events) || b.Bare {
				continue
			}
			// The fields the split read decode as the event read on its own.
			alone, aloneErr := DecodeEvent(b.Events[i], "run")
			if fmt.Sprint(err) != fmt.Sprint(aloneErr) || (err == nil && !reflect.DeepEqual(*ev, alone)) {
				t.Fatalf("event %d: %+v, %v from the split; %+v, %v alone", i, ev, err, alone, aloneErr)
			}
		}
	})
}

// FuzzDecodeCreateRun: an accepted create never carries an id that could
// escape a path or a storage key.
func FuzzDecodeCreateRun(f *testing.F) {
	f.Add([]byte(`{"id":"trace_1","user_goal":"g","agent":"a","tags":["x"],"metadata":{"k":1}}`))
	f.Add([]byte(`{"id":"../x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ParseTimestamp(string(body))
		if ValidateRunID(string(body)) == nil && (len(body) == 0 || len(body) > MaxRunIDLength) {
			t.Fatalf("accepted run id of %d bytes", len(body))
		}
		c, err := DecodeCreateRun(body)
		if err != nil || c.ID == "" {
			return
		}
		if ValidateRunID(c.ID) != nil {
			t.Fatalf("accepted an invalid id %q", c.ID)
		}
	})
}

// batchElements is what encoding/json makes of the events array of a batch
// body; ok is false for other bodies.
func batchElements(body []byte) (elements []json.RawMessage, ok bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return nil, false
	}
	events, found := fields["events"]
	if !found || json.Unmarshal(events, &elements) != nil || bytes.TrimSpace(events)[0] != '[' {
		return nil, false
	}
	return elements, true
}
