// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// envelope returns a valid event of typ with payload, with extra fields
// replacing envelope fields when given.
func envelopeJSON(typ, payload string, replace ...string) json.RawMessage {
	fields := map[string]string{
		"type":            `"` + typ + `"`,
		"session_id":      `"s1"`,
		"timestamp":       `"2026-01-01T00:00:00Z"`,
		"seq":             `0`,
		"idempotency_key": `"s1:n:0"`,
		"payload":         payload,
	}
	for i := 0; i+1 < len(replace); i += 2 {
		if replace[i+1] == "" {
			delete(fields, replace[i])
			continue
		}
		fields[replace[i]] = replace[i+1]
	}
	var parts []string
	for k, v := range fields {
		parts = append(parts, `"`+k+`":`+v)
	}
	return json.RawMessage("{" + strings.Join(parts, ",") + "}")
}

func TestDecodeEventAcceptsEveryType(t *testing.T) {
	payloads := map[string]string{
		TypeUserMessage:    `{"content":"hi"}`,
		TypeAgentMessage:   `{"content":"hi"}`,
		TypeToolCall:       `{"tool_name":"search","arguments":{"q":"x"},"call_id":"c1"}`,
		TypeToolResult:     `{"call_id":"c1","result":[1,2],"error":null}`,
		TypeRetrieval:      `{"query":"q","documents":[{"id":1}]}`,
		TypeBrowserAction:  `{"action":"click","target":"#b","url":"https://x","value":"v"}`,
		TypeDOMSnapshot:    `{"url":"https://x","visible_text":"t","selected_values":{"a":"b"},"warnings":["w"]}`,
		TypeScreenshot:     `{"artifact_id":"a1","storage_path":"p","size_bytes":10,"source_type":"bytes"}`,
		TypeReplayArtifact: `{"artifact_id":"a1","artifact_type":"screen_recording","duration_ms":10,"event_time_map":{"1":5}}`,
		TypeGoalCheck:      `{"passed":false,"mismatches":["m"]}`,
		TypeStateChange:    `{"name":"span_start","span_name":"plan","before":{},"after":1}`,
		TypeSessionEnd:     `{"status":"failed","error":"boom"}`,
		TypeLLMCall:        `{"model":"gpt-5","prompt_ref":"p","messages_ref":"m","input_tokens":1,"output_tokens":2,"latency_ms":3.5}`,
		TypeScore:          `{"name":"s","value":true}`,
		TypeError:          `{"message":"m","error_type":"E","traceback":"tb","handled":false}`,
		TypeMetric:         `{"name":"n","value":1.5,"unit":"ms"}`,
	}
	require.Len(t, payloads, 16)
	require.ElementsMatch(t, EventTypes(), func() []string {
		var out []string
		for k := range payloads {
			out = append(out, k)
		}
		return out
	}())
	for typ, payload := range payloads {
		t.Run(typ, func(t *testing.T) {
			ev, err := DecodeEvent(envelopeJSON(typ, payload, "metadata", `{"k":"v"}`), "run_from_path")
			require.NoError(t, err)
			assert.Equal(t, typ, ev.Type)
			assert.Equal(t, "run_from_path", ev.SessionID, "the path's run id replaces session_id")
			assert.Equal(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ev.Timestamp)
			assert.NotNil(t, ev.Payload)
			assert.JSONEq(t, `{"k":"v"}`, string(ev.Metadata))
		})
	}
}

func TestDecodeEventRejections(t *testing.T) {
	cases := []struct {
		name   string
		raw    json.RawMessage
		reason string
	}{
		{"not an object", json.RawMessage(`[1]`), "event must be a mapping"},
		{"null", json.RawMessage(`null`), "event must be a mapping"},
		{"unknown type", envelopeJSON("not_a_real_type", `{}`), "unknown event type: 'not_a_real_type'"},
		{"unknown type with a quote", envelopeJSON(`it's`, `{}`), `unknown event type: "it's"`},
		{"unknown type with escapes", envelopeJSON(`a\\b\n\u0007`, `{}`), `unknown event type: 'a\\b\n\x07'`},
		{"missing fields", envelopeJSON("x", `{}`, "type", "", "seq", "", "payload", ""), "event missing required envelope field(s): type, seq, payload"},
		{"type not a string", envelopeJSON("x", `{}`, "type", `5`), "event.type must be a string"},
		{"session_id null", envelopeJSON(TypeUserMessage, `{}`, "session_id", `null`), "event.session_id must be a string"},
		{"session_id empty", envelopeJSON(TypeUserMessage, `{}`, "session_id", `""`), "event.session_id must be nonempty"},
		{"negative seq", envelopeJSON(TypeUserMessage, `{}`, "seq", `-1`), "event.seq must be >= 0"},
		{"fractional seq", envelopeJSON(TypeUserMessage, `{}`, "seq", `1.0`), "event.seq must be an integer"},
		{"string seq", envelopeJSON(TypeUserMessage, `{}`, "seq", `"3"`), "event.seq must be an integer"},
		{"bool seq", envelopeJSON(TypeUserMessage, `{}`, "seq", `true`), "event.seq must be an integer"},
		{"huge seq", envelopeJSON(TypeUserMessage, `{}`, "seq", `1e30`), "event.seq must be an integer"},
		{"empty key", envelopeJSON(TypeUserMessage, `{}`, "idempotency_key", `"  "`), "event.idempotency_key must be nonempty"},
		{"numeric key", envelopeJSON(TypeUserMessage, `{}`, "idempotency_key", `7`), "event.idempotency_key must be a string"},
		{"key with NUL", envelopeJSON(TypeUserMessage, `{}`, "idempotency_key", `"a\u0000b"`), "event.idempotency_key contains invalid characters"},
		{"huge key", envelopeJSON(TypeUserMessage, `{}`, "idempotency_key", `"`+strings.Repeat("k", 600)+`"`), "event.idempotency_key is longer than 512 bytes"},
		{"bad timestamp", envelopeJSON(TypeUserMessage, `{}`, "timestamp", `"yesterday"`), "event.timestamp must be an RFC 3339 timestamp"},
		{"numeric timestamp", envelopeJSON(TypeUserMessage, `{}`, "timestamp", `1767225600`), "event.timestamp must be a string"},
		{"far future", envelopeJSON(TypeUserMessage, `{}`, "timestamp", `"9999-01-01T00:00:00Z"`), "event.timestamp is out of range"},
		{"far past", envelopeJSON(TypeUserMessage, `{}`, "timestamp", `"1900-01-01T00:00:00Z"`), "event.timestamp is out of range"},
		{"payload array", envelopeJSON(TypeUserMessage, `[]`), "event.payload must be a mapping"},
		{"payload null", envelopeJSON(TypeUserMessage, `null`), "event.payload must be a mapping"},
		{"empty span_id", envelopeJSON(TypeUserMessage, `{}`, "span_id", `""`), "event.span_id must be nonempty"},
		{"numeric parent_id", envelopeJSON(TypeUserMessage, `{}`, "parent_id", `5`), "event.parent_id must be a string or None"},
		{"content not a string", envelopeJSON(TypeUserMessage, `{"content":5}`), "user_message.payload.content must be a string"},
		{"llm without model", envelopeJSON(TypeLLMCall, `{}`), "llm_call.payload.model must be a string"},
		{"llm empty model", envelopeJSON(TypeLLMCall, `{"model":""}`), "llm_call.payload.model must be nonempty"},
		{"llm raw prompt", envelopeJSON(TypeLLMCall, `{"model":"m","prompt":"secret"}`), "llm_call payload must use prompt_ref/messages_ref, not raw prompt"},
		{"llm raw both", envelopeJSON(TypeLLMCall, `{"model":"m","messages":[],"prompt":"p"}`), "llm_call payload must use prompt_ref/messages_ref, not raw prompt, messages"},
		{"negative tokens", envelopeJSON(TypeLLMCall, `{"model":"m","input_tokens":-1}`), "llm_call.payload.input_tokens must be >= 0"},
		{"fractional tokens", envelopeJSON(TypeLLMCall, `{"model":"m","input_tokens":1.5}`), "llm_call.payload.input_tokens must be an integer"},
		{"null tokens", envelopeJSON(TypeLLMCall, `{"model":"m","output_tokens":null}`), "llm_call.payload.output_tokens must be an integer"},
		{"goal passed string", envelopeJSON(TypeGoalCheck, `{"passed":"yes"}`), "goal_check.payload.passed must be a boolean"},
		{"mismatches not strings", envelopeJSON(TypeGoalCheck, `{"passed":false,"mismatches":[1]}`), "goal_check.payload.mismatches must be an array of strings"},
		{"score string value", envelopeJSON(TypeScore, `{"name":"s","value":"high"}`), "score.payload.value must be a number or a boolean"},
		{"huge number", envelopeJSON(TypeMetric, `{"name":"m","value":1e400}`), "metric.payload.value must be a number"},
		{"negative duration", envelopeJSON(TypeStateChange, `{"name":"x","duration_ms":-5}`), "state_change.payload.duration_ms must be >= 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeEvent(c.raw, "s1")
			var invalidErr *InvalidEventError
			require.ErrorAs(t, err, &invalidErr)
			assert.Equal(t, c.reason, invalidErr.Reason)
		})
	}
}

// TestDecodeEventFieldOrder: the payload means the same wherever the type
// is, and the last of duplicate keys wins, as in Python.
func TestDecodeEventFieldOrder(t *testing.T) {
	const head = `"session_id":"s","timestamp":"2026-01-01T00:00:00Z","seq":1,"idempotency_key":"k"`
	for _, c := range []struct {
		name, raw, typ, content, reason string
	}{
		{"type first", `{"type":"user_message",` + head + `,"payload":{"content":"a"}}`, TypeUserMessage, "a", ""},
		{"type last", `{"payload":{"content":"a"},` + head + `,"type":"user_message"}`, TypeUserMessage, "a", ""},
		{"type last, bad payload", `{"payload":{"content":5},` + head + `,"type":"user_message"}`, "", "", "user_message.payload.content must be a string"},
		{"type replaced after the payload", `{"type":"tool_call",` + head + `,"payload":{"content":"a"},"type":"user_message"}`, TypeUserMessage, "a", ""},
		{"payload replaced", `{"type":"user_message",` + head + `,"payload":{"content":5},"payload":{"content":"b"}}`, TypeUserMessage, "b", ""},
		{"payload replaced by a non-object", `{"type":"user_message",` + head + `,"payload":{"content":"a"},"payload":[1]}`, "", "", "event.payload must be a mapping"},
		{"duplicate payload field", `{"type":"user_message",` + head + `,"payload":{"content":"a","content":"c"}}`, TypeUserMessage, "c", ""},
		{"escaped names", `{"\u0074ype":"user_message",` + head + `,"pay\u006coad":{"con\u0074ent":"a"}}`, TypeUserMessage, "a", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev, err := DecodeEvent(json.RawMessage(c.raw), "r")
			if c.reason != "" {
				assert.EqualError(t, err, c.reason)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.typ, ev.Type)
			require.IsType(t, &Message{}, ev.Payload)
			assert.Equal(t, c.content, ev.Payload.(*Message).Content)
			again, err := DecodeValidJSON(json.RawMessage(c.raw), "r")
			require.NoError(t, err)
			assert.Equal(t, ev, again)
		})
	}
}

// TestUnknownTypeBareAndBatch: the reference names the unknown type in a
// batch's rejected list and not in a bare event's 422 detail.
func TestUnknownTypeBareAndBatch(t *testing.T) {
	event := string(envelopeJSON("not_real", `{}`))
	batch, err := DecodeEventBody([]byte(`{"events":[`+event+`]}`), "r", 1000)
	require.NoError(t, err)
	_, err = batch.Event(0)
	assert.EqualError(t, err, "unknown event type: 'not_real'")

	bare, err := DecodeEventBody([]byte(event), "r", 1000)
	require.NoError(t, err)
	require.True(t, bare.Bare)
	_, err = bare.Event(0)
	var invalidErr *InvalidEventError
	require.ErrorAs(t, err, &invalidErr)
	assert.Equal(t, ReasonUnknownType, invalidErr.Reason)

	// Other reasons read the same either way.
	bare, err = DecodeEventBody(envelopeJSON(TypeUserMessage, `{}`, "seq", `-1`), "r", 1000)
	require.NoError(t, err)
	_, err = bare.Event(0)
	assert.EqualError(t, err, "event.seq must be >= 0")
	_, err = bare.Event(1)
	assert.Error(t, err, "an index past the body is an error, not a panic")
}

func TestPythonRepr(t *testing.T) {
	// Expected values are Python 3's repr() of the same strings.
	for in, want := range map[string]string{
		"not_real":                    `'not_real'`,
		"it's":                        `"it's"`,
		`say "hi"`:                    `'say "hi"'`,
		`both ' and "`:                `'both \' and "'`,
		`back\slash`:                  `'back\\slash'`,
		"tab\there\nnl\rcr":           `'tab\there\nnl\rcr'`,
		"bell\x07":                    `'bell\x07'`,
		"\x7f":                        `'\x7f'`,
		"é日本":                         `'é日本'`,
		"nbsp\u00a0":                  `'nbsp\xa0'`,
		"zw\u200b":                    `'zw\u200b'`,
		"ls\u2028":                    `'ls\u2028'`,
		"\U0001F600":                  `'😀'`,
		"priv\ue000":                  `'priv\ue000'`,
		"astral-unassigned\U000E0001": `'astral-unassigned\U000e0001'`,
		" lead space":                 `' lead space'`,
		"":                            `''`,
	} {
		assert.Equal(t, want, pythonRepr(in), "%q", in)
	}
}

// TestDecodersDoNotPanicOnInvalidJSON: DecodeValidJSON trusts its caller to
// have checked the JSON, but a broken promise is an error, never a panic.
func TestDecodersDoNotPanicOnInvalidJSON(t *testing.T) {
	inputs := []string{
		`{"a`, `{"a"`, `{"a":`, `{"a":}`, `{"a" 1}`, `{"type":"user_message","payload":{"content`,
		`{"type":"llm_call","payload":{"model":"m","input_tokens":`, `{"payload":[`, `{"payload":{"x":[}`, `{`, `{"`, `"`,
		`{"type":"goal_check","session_id":"s","timestamp":"2026-01-01T00:00:00Z","seq":1,"idempotency_key":"k","payload":{"mismatches":[}}`,
		`{"type":"dom_snapshot","session_id":"s","timestamp":"2026-01-01T00:00:00Z","seq":1,"idempotency_key":"k","payload":{"selected_values":{"a`,
		`{"type":"replay_artifact","session_id":"s","timestamp":"2026-01-01T00:00:00Z","seq":1,"idempotency_key":"k","payload":{"event_time_map":{"1":}}}`,
		`{"type":"user_message","session_id":"s","timestamp":"2026-01-01T00:00:00Z","seq":1,"idempotency_key":"k","payload":{"metadata":{"status`,
	}
	for _, in := range inputs {
		assert.NotPanics(t, func() {
			ev, err := DecodeValidJSON(json.RawMessage(in), "r")
			if err == nil {
				if m, ok := ev.Payload.(*Message); ok {
					m.Status()
				}
			}
		}, in)
		assert.NotPanics(t, func() { (&Message{Metadata: json.RawMessage(in)}).Status() }, in)
	}
	_, err := DecodeValidJSON(json.RawMessage(`{"a`), "r")
	assert.Error(t, err)
}

func TestParseTimestamp(t *testing.T) {
	for _, s := range []string{"2026-06-12T12:34:56.000Z", "2026-06-12T14:34:56+02:00", "2026-06-12T12:34:56", "2026-06-12T12:34:56.000000", "2026-06-12T12:34:56,000Z"} {
		ts, err := ParseTimestamp(s)
		require.NoError(t, err, s)
		assert.Equal(t, time.Date(2026, 6, 12, 12, 34, 56, 0, time.UTC), ts, s)
		// An event's timestamp takes a faster path for strict RFC 3339.
		ts, err = decodeTimestamp([]byte(`"` + s + `"`))
		require.NoError(t, err, s)
		assert.Equal(t, time.Date(2026, 6, 12, 12, 34, 56, 0, time.UTC), ts, s)
	}
}

func TestDecodeEventBody(t *testing.T) {
	b, err := DecodeEventBody([]byte(`{"events":[{"a":1},{"b":2}]}`), "r", 1000)
	require.NoError(t, err)
	assert.False(t, b.Bare)
	assert.Len(t, b.Events, 2)

	b, err = DecodeEventBody([]byte(`{"type":"user_message"}`), "r", 1000)
	require.NoError(t, err)
	assert.True(t, b.Bare)

	for _, empty := range []string{``, `  `, `{}`} {
		b, err = DecodeEventBody([]byte(empty), "r", 1000)
		require.NoError(t, err)
		assert.Empty(t, b.Events, "an empty body accepts nothing")
	}

	b, err = DecodeEventBody([]byte(`{"events":null}`), "r", 1000)
	require.NoError(t, err)
	require.Len(t, b.Events, 1, "events that are not an array are a batch of one")
	_, err = DecodeEvent(b.Events[0], "r")
	assert.EqualError(t, err, "event must be a mapping")

	for body, want := range map[string]error{`[]`: ErrNotObject, `"x"`: ErrNotObject, `{"events":`: ErrBadJSON, `{x}`: ErrBadJSON} {
		_, err := DecodeEventBody([]byte(body), "r", 1000)
		assert.ErrorIs(t, err, want, body)
	}

	// More events than allowed; bad JSON past the bound is still bad JSON;
	// the last "events" is the batch.
	for body, want := range map[string]error{`{"events":[{},{},{}]}`: ErrTooManyEvents, `{"events":[{},{},{]}`: ErrBadJSON, `{"events":[1,2,3],"events":[{}]}`: nil} {
		_, err := DecodeEventBody([]byte(body), "r", 2)
		assert.Equal(t, want, err, body)
	}
}

// TestBatchEventsCheckedOnce: events of a batch are checked as the body is
// split, each with the run of the request path or its own reason.
func TestBatchEventsCheckedOnce(t *testing.T) {
	good := string(envelopeJSON(TypeUserMessage, `{"content":"hi"}`))
	b, err := DecodeEventBody([]byte(`{"events":[`+good+`, 7, `+string(envelopeJSON(TypeUserMessage, `{}`, "seq", `-1`))+`]}`), "run_from_path", 1000)
	require.NoError(t, err)
	require.Len(t, b.Events, 3)
	ev, err := b.Event(0)
	require.NoError(t, err)
	alone, err := DecodeEvent(b.Events[0], "run_from_path")
	require.NoError(t, err)
	assert.Equal(t, alone, *ev)
	assert.Equal(t, "run_from_path", ev.SessionID)
	_, err = b.Event(1)
	assert.EqualError(t, err, "event must be a mapping")
	_, err = b.Event(2)
	assert.EqualError(t, err, "event.seq must be >= 0")
}

func TestDecodeCreateRun(t *testing.T) {
	c, err := DecodeCreateRun([]byte(`{"id":"trace_1","user_goal":"g","agent":"a","project_id":"ignored","tags":["x"],"metadata":{"k":1}}`))
	require.NoError(t, err)
	assert.Equal(t, "trace_1", c.ID)
	assert.Equal(t, []string{"x"}, c.Tags)

	for body, want := range map[string]string{
		`{"id":"a/b"}`:      "trace id must not contain slashes",
		`{"id":"a\u0000b"}`: "trace id must not contain control characters",
		`{"agent":5}`:       "agent must be a string",
		`{"metadata":[1]}`:  "metadata must be an object",
		`{"tags":["` + strings.Repeat("t", 300) + `"]}`: "a tag is longer than 256 bytes",
	} {
		_, err := DecodeCreateRun([]byte(body))
		require.Error(t, err, body)
		assert.Equal(t, want, err.Error(), body)
	}
	_, err = DecodeCreateRun([]byte(`{"id":`))
	assert.ErrorIs(t, err, ErrBadJSON)
	c, err = DecodeCreateRun(nil)
	require.NoError(t, err, "every field is optional")
	assert.Empty(t, c.ID)
}
