// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
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
		DecodeString(raw)
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

// FuzzDecodeEventBody: a body is refused with a known error or split into
// raw events, each of which decodes or is refused with a reason; never a
// panic.
func FuzzDecodeEventBody(f *testing.F) {
	f.Add([]byte(`{"events":[{"type":"user_message"}]}`))
	f.Add([]byte(`{"events":null}`))
	f.Add([]byte(`[{}]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := DecodeEventBody(body)
		if err != nil && !errors.Is(err, ErrBadJSON) && !errors.Is(err, ErrNotObject) {
			t.Fatalf("unexpected error %v", err)
		}
		if err == nil && b.Bare && len(b.Events) != 1 {
			t.Fatalf("a bare body holds one event, got %d", len(b.Events))
		}
		for i := -1; i <= len(b.Events); i++ {
			_, err := b.Decode(i, "run")
			var invalidErr *InvalidEventError
			if err != nil && (!errors.As(err, &invalidErr) || invalidErr.Reason == "") {
				t.Fatalf("event %d: error without a reason: %v", i, err)
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

// FuzzScanner checks the validator and the zero-copy scanner against
// encoding/json: the same verdict, the same fields of an object, the same
// elements of an array.
func FuzzScanner(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":[1,{"c":"}"}],"d":"x\"y","a":{"z":null}}`))
	f.Add([]byte(`[ 1 , "a" , {"b" : [ ] } , -2.5e3, true ]`))
	f.Add([]byte(`{"\u0074ype":"t"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON %v, json.Valid %v", got, want)
		}
		b = bytes.TrimSpace(b)
		if !json.Valid(b) || len(b) == 0 {
			return
		}
		switch b[0] {
		case '{':
			var want map[string]json.RawMessage
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			got := map[string]json.RawMessage{}
			f := fieldsOf(b)
			for k, v, ok := f.next(); ok; k, v, ok = f.next() {
				got[string(k)] = v
			}
			f.close()
			if len(got) != len(want) {
				t.Fatalf("%d fields, want %d", len(got), len(want))
			}
			for k, v := range want {
				if !bytes.Equal(bytes.TrimSpace(got[k]), bytes.TrimSpace(v)) {
					t.Fatalf("field %q: %q, want %q", k, got[k], v)
				}
			}
		case '[':
			var want []json.RawMessage
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			got := elements(b)
			if len(got) != len(want) {
				t.Fatalf("%d elements, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], bytes.TrimSpace(want[i])) {
					t.Fatalf("element %d: %q, want %q", i, got[i], want[i])
				}
			}
		}
	})
}
