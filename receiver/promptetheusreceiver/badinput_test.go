// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/promptetheus/otelcol-promptetheus/internal/testutil"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/metadata"
)

// event renders one event of run t1 with a payload and envelope overrides.
func badEvent(seq int, typ, payload string, overrides ...string) string {
	fields := map[string]string{
		"type": `"` + typ + `"`, "session_id": `"t1"`, "timestamp": `"2026-01-01T00:00:00Z"`,
		"seq": fmt.Sprint(seq), "idempotency_key": fmt.Sprintf(`"t1:k:%d"`, seq), "payload": payload,
	}
	for i := 0; i+1 < len(overrides); i += 2 {
		fields[overrides[i]] = overrides[i+1]
	}
	var parts []string
	for _, k := range []string{"type", "session_id", "timestamp", "seq", "idempotency_key", "payload", "span_id", "parent_id"} {
		if v, ok := fields[k]; ok && v != "" {
			parts = append(parts, `"`+k+`":`+v)
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// TestBadEventsKeepTheirSiblings sends each bad event in a batch beside a
// valid one: the bad one is refused (or cut down to the limits) with its
// documented reason, the valid one always lands.
func TestBadEventsKeepTheirSiblings(t *testing.T) {
	nested := strings.Repeat(`{"a":`, 2000) + `1` + strings.Repeat(`}`, 2000)
	huge := strings.Repeat("é", 600_000) // 1.2 MB of content
	many := `[` + strings.TrimSuffix(strings.Repeat(`"m",`, 20000), ",") + `]`
	cases := []struct {
		name   string
		event  string
		reason string // "" when the event is accepted (cut to the limits)
	}{
		{"wrong type for seq", badEvent(1, "user_message", `{}`, "seq", `"1"`), "event.seq must be an integer"},
		{"missing fields", badEvent(1, "user_message", ``, "timestamp", ""), "event missing required envelope field(s): timestamp, payload"},
		{"negative seq", badEvent(1, "user_message", `{}`, "seq", `-4`), "event.seq must be >= 0"},
		{"duplicate seq, other key", badEvent(0, "user_message", `{}`, "idempotency_key", `"t1:other:0"`), "seq 0 already recorded with a different idempotency_key"},
		{"far past", badEvent(1, "user_message", `{}`, "timestamp", `"0001-01-01T00:00:00Z"`), "event.timestamp is out of range"},
		{"far future", badEvent(1, "user_message", `{}`, "timestamp", `"3000-01-01T00:00:00Z"`), "event.timestamp is out of range"},
		{"huge number", badEvent(1, "metric", `{"name":"m","value":1e999}`), "metric.payload.value must be a number"},
		{"NUL in key", badEvent(1, "user_message", `{}`, "idempotency_key", `"k\u0000"`), "event.idempotency_key contains invalid characters"},
		{"invalid UTF-8 in key", badEvent(1, "user_message", `{}`, "idempotency_key", "\"k\xff\""), "event.idempotency_key contains invalid characters"},
		{"NUL in span id", badEvent(1, "state_change", `{"name":"span_start"}`, "span_id", `"s\u0000"`), "event.span_id contains invalid characters"},
		{"unknown type", badEvent(1, "nope", `{}`), "unknown event type: 'nope'"},
		{"raw prompt", badEvent(1, "llm_call", `{"model":"m","prompt":"all my secrets"}`), "llm_call payload must use prompt_ref/messages_ref, not raw prompt"},
		{"huge string", badEvent(1, "user_message", `{"content":"`+huge+`"}`), ""},
		{"huge array", badEvent(1, "goal_check", `{"passed":false,"mismatches":`+many+`}`), ""},
		{"deep nesting", badEvent(1, "tool_call", `{"tool_name":"t","call_id":"c","arguments":`+nested+`}`), ""},
		{"invalid UTF-8 in content", badEvent(1, "user_message", "{\"content\":\"a\xffb\"}"), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := startReceiver(t, testReceiverConfig(t), nil)
			body := `{"events":[` + badEvent(0, "user_message", `{"content":"valid"}`) + `,` + c.event + `]}`
			r := s.post(t, "/api/traces/t1/events", testKey, body)
			require.Equal(t, 200, r.status, string(r.body))
			got := r.json(t)
			if c.reason == "" {
				assert.EqualValues(t, 2, got["accepted"], "%s", got["rejected"])
			} else {
				assert.EqualValues(t, 1, got["accepted"])
				require.Len(t, got["rejected"], 1)
				assert.Equal(t, c.reason, got["rejected"].([]any)[0].(map[string]any)["reason"])
			}
			var valid bool
			for _, sp := range testutil.SpansOf(s.sink) {
				seq, _ := sp.Attributes().Get("promptetheus.event.seq")
				valid = valid || seq.Int() == 0
				sp.Attributes().Range(func(k string, v pcommon.Value) bool {
					if v.Type() == pcommon.ValueTypeStr {
						assert.LessOrEqual(t, len(v.Str()), 2048, k)
					}
					if v.Type() == pcommon.ValueTypeSlice {
						assert.LessOrEqual(t, v.Slice().Len(), 128, k)
					}
					return true
				})
			}
			assert.True(t, valid, "the valid sibling landed")
		})
	}
}

// TestBadRequests covers what fails a whole request: each gets its status
// and detail, and nothing reaches the pipeline.
func TestBadRequests(t *testing.T) {
	cfg := testReceiverConfig(t)
	s := startReceiver(t, cfg, nil)
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	_, _ = zw.Write([]byte(`{"events":[`))
	_, _ = zw.Write(bytes.Repeat([]byte(" "), 64<<20))
	_, _ = zw.Write([]byte(`]}`))
	require.NoError(t, zw.Close())
	cases := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		detail                   string
	}{
		{"NaN is not JSON", http.MethodPost, "/api/traces/t1/events", `{"events":[{"seq":NaN}]}`, nil, 400, "malformed JSON body"},
		{"too deep to parse", http.MethodPost, "/api/traces/t1/events", `{"events":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, nil, 400, "malformed JSON body"},
		{"gzip bomb", http.MethodPost, "/api/traces/t1/events", bomb.String(), []string{"Content-Encoding", "gzip"}, 413, "request body exceeds 5242880 bytes"},
		{"oversized body", http.MethodPost, "/api/traces/t1/events", `{"events":[` + strings.Repeat(" ", 6<<20) + `]}`, nil, 413, "request body exceeds 5242880 bytes"},
		{"slash in run id", http.MethodPost, "/api/traces/a%2Fb/events", oneEvent, nil, 400, "trace id must not contain slashes"},
		{"NUL in run id", http.MethodPost, "/api/traces/a%00b/events", oneEvent, nil, 400, "trace id must not contain control characters"},
		{"too many events", http.MethodPost, "/api/traces/t1/events", `{"events":[` + strings.TrimSuffix(strings.Repeat("{},", 1001), ",") + `]}`, nil, 413, "too many events in one request: the limit is 1000"},
		{"artifact of another type", http.MethodPost, "/api/traces/t1/artifacts", "%PDF", []string{"Content-Type", "application/pdf"}, 415, "unsupported artifact content-type: 'application/pdf'"},
		{"artifact id traversal", http.MethodPost, "/api/traces/t1/artifacts", "x", []string{"Content-Type", "image/png", "X-Promptetheus-Artifact-Id", "../../x"}, 400, "artifact id must be 1-128 letters, digits, '_', '-' or '.'"},
		{"unknown route", http.MethodGet, "/api/nothing", "", nil, 404, "Not Found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.do(t, c.method, c.path, testKey, strings.NewReader(c.body), c.headers...)
			assert.Equal(t, c.status, r.status, string(r.body))
			assert.Equal(t, c.detail, r.json(t)["detail"])
		})
	}
	assert.Zero(t, s.sink.SpanCount())
}

// TestSecretsNeverLeak sends good and bad credentials and checks that no
// key, token or JWT shows in any response or any log line (the receiver's
// and the console auth extension's), at debug level.
func TestSecretsNeverLeak(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	idp := testutil.NewOIDCProvider(t)
	oidc := startOIDC(t, idp.Issuer(), consoleAudience, zap.New(core))
	cfg := testReceiverConfig(t)
	cfg.Console.Authenticator = &oidcID
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	sink := new(consumertest.TracesSink)
	r, err := NewFactory().CreateTraces(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), hostWith(map[component.ID]component.Component{oidcID: oidc})))
	s := &testServer{url: "http://" + cfg.ServerConfig.NetAddr.Endpoint, sink: sink, rcv: r.(*promptetheusReceiver)}

	expired := idp.Claims(consoleAudience)
	expired.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Minute))
	secrets := []string{
		testKey, otherKey, testConsole, "pt_live_guess_0123456789",
		idp.Sign(t, idp.Claims(consoleAudience)), idp.Sign(t, expired),
	}
	var bodies []string
	for _, token := range secrets {
		for _, path := range []string{"/api/traces/t1/events", "/api/traces/t1/analyze", "/api/traces/t1/artifacts"} {
			bodies = append(bodies, string(s.post(t, path, token, oneEvent).body))
		}
	}
	require.NoError(t, r.Shutdown(context.Background()))
	require.NotEmpty(t, logs.FilterMessageSnippet("Authentication failed").All(), "the extension logged the refused JWT")

	var logText strings.Builder
	for _, e := range logs.All() {
		fmt.Fprintln(&logText, e.Message, e.ContextMap())
	}
	for _, secret := range secrets {
		for _, b := range bodies {
			assert.NotContains(t, b, secret)
		}
		assert.NotContains(t, logText.String(), secret)
	}
}
