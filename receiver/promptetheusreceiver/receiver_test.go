// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/testutil"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/metadata"
)

const (
	testKey     = "pt_test_key_a"
	otherKey    = "pt_test_key_b"
	testConsole = "pt_test_console"
)

// freeAddr returns a loopback address with a free port.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func testReceiverConfig(t *testing.T) *Config {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = freeAddr(t)
	cfg.WorkspaceID = "ws_dev"
	cfg.APIKeys = []APIKeyConfig{{Project: "proj_dev", Key: testKey}, {Project: "proj_other", Key: otherKey}}
	cfg.Console.Tokens = []configopaque.String{testConsole}
	cfg.Console.Projects = []string{"proj_dev"}
	cfg.Artifacts.Directory = t.TempDir()
	return cfg
}

// testServer is a started receiver on loopback.
type testServer struct {
	url  string
	sink *consumertest.TracesSink
	rcv  *promptetheusReceiver
}

func startReceiver(t *testing.T, cfg *Config, next consumer.Traces) *testServer {
	t.Helper()
	return startReceiverOn(t, componenttest.NewNopHost(), cfg, next)
}

// startReceiverOn starts the receiver on host, which holds its extensions.
func startReceiverOn(t *testing.T, host component.Host, cfg *Config, next consumer.Traces) *testServer {
	t.Helper()
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.TracesSink)
	if next == nil {
		next = sink
	}
	r, err := NewFactory().CreateTraces(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, next)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return &testServer{url: "http://" + cfg.ServerConfig.NetAddr.Endpoint, sink: sink, rcv: r.(*promptetheusReceiver)}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var out map[string]any
	require.NoError(t, json.Unmarshal(r.body, &out), string(r.body))
	return out
}

func (s *testServer) do(t *testing.T, method, path, token string, body io.Reader, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, body)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (s *testServer) post(t *testing.T, path, token, body string, headers ...string) response {
	return s.do(t, http.MethodPost, path, token, strings.NewReader(body), headers...)
}

const oneEvent = `{"events":[{"type":"user_message","session_id":"x","timestamp":"2026-01-01T00:00:00Z","seq":0,"idempotency_key":"k0","payload":{"content":"hi"}}]}`

func TestHealth(t *testing.T) {
	s := startReceiver(t, testReceiverConfig(t), nil)
	r := s.do(t, http.MethodGet, "/health", "", nil)
	assert.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"status":"ok"}`, string(r.body))
}

func TestAuthentication(t *testing.T) {
	s := startReceiver(t, testReceiverConfig(t), nil)
	cases := []struct {
		name, token string
		path        string
		status      int
		detail      string
	}{
		{"missing", "", "/api/traces/t1/events", 401, "missing or invalid credential"},
		{"unknown key", "pt_live_nope", "/api/traces/t1/events", 401, "missing or invalid credential"},
		{"api key on analyze", testKey, "/api/traces/t1/analyze", 403, "principal is not allowed for this endpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.post(t, c.path, c.token, oneEvent)
			assert.Equal(t, c.status, r.status)
			assert.Equal(t, c.detail, r.json(t)["detail"])
			assert.NotContains(t, string(r.body), testKey)
		})
	}
	r := s.do(t, http.MethodPost, "/api/traces/t1/events", "", strings.NewReader(oneEvent), "Authorization", "Basic abc")
	assert.Equal(t, 401, r.status)
	assert.Empty(t, testutil.SpansOf(s.sink), "nothing unauthenticated reaches the pipeline")

	// Like the reference: a bare token without "Bearer" is accepted, and a
	// console token asked for another workspace is no credential there.
	r = s.do(t, http.MethodPost, "/api/traces/t1/events", "", strings.NewReader(oneEvent), "Authorization", testKey)
	assert.Equal(t, 200, r.status)
	r = s.post(t, "/api/traces/t1/analyze", testConsole, "", "X-Promptetheus-Workspace-Id", "ws_other")
	assert.Equal(t, 401, r.status)
	r = s.post(t, "/api/traces/t1/analyze", testConsole, "", "X-Promptetheus-Workspace-Id", "ws_dev")
	assert.Equal(t, 200, r.status)
}

func TestAnotherProjectsRunIsForbidden(t *testing.T) {
	s := startReceiver(t, testReceiverConfig(t), nil)
	require.Equal(t, 200, s.post(t, "/api/traces/t1/events", testKey, oneEvent).status)
	r := s.post(t, "/api/traces/t1/events", otherKey, oneEvent)
	assert.Equal(t, 403, r.status)
	assert.Equal(t, "trace belongs to another project", r.json(t)["detail"])
	assert.Len(t, testutil.SpansOf(s.sink), 1)
}

func TestEventsBatchAccountsForEveryEvent(t *testing.T) {
	s := startReceiver(t, testReceiverConfig(t), nil)
	body := `{"events":[
		{"type":"user_message","session_id":"t1","timestamp":"2026-01-01T00:00:00Z","seq":0,"idempotency_key":"k0","payload":{"content":"hi"}},
		{"type":"not_a_real_type","session_id":"t1","timestamp":"2026-01-01T00:00:00Z","seq":1,"idempotency_key":"k1","payload":{}},
		{"type":"llm_call","session_id":"t1","timestamp":"2026-01-01T00:00:00Z","seq":2,"idempotency_key":"k2","payload":{"model":"gpt-5","prompt":"raw"}},
		"not an object",
		{"type":"agent_message","session_id":"t1","timestamp":"2026-01-01T00:00:01Z","seq":4,"idempotency_key":"k4","payload":{"content":"ok"}}
	]}`
	r := s.post(t, "/api/traces/t1/events", testKey, body)
	require.Equal(t, 200, r.status, string(r.body))
	got := r.json(t)
	rejected := got["rejected"].([]any)
	assert.EqualValues(t, 2, got["accepted"])
	require.Len(t, rejected, 3)
	assert.Equal(t, map[string]any{"index": 1.0, "idempotency_key": "k1", "reason": "unknown event type: 'not_a_real_type'"}, rejected[0])
	assert.Equal(t, 2.0, rejected[1].(map[string]any)["index"])
	assert.Equal(t, map[string]any{"index": 3.0, "reason": "event must be a mapping"}, rejected[2], "no key, no idempotency_key field")
	assert.Len(t, testutil.SpansOf(s.sink), 2)

	// The SDK replays the whole batch when unsure: nothing is emitted twice.
	r = s.post(t, "/api/traces/t1/events", testKey, body)
	require.Equal(t, 200, r.status)
	assert.EqualValues(t, 2, r.json(t)["accepted"])
	assert.Len(t, testutil.SpansOf(s.sink), 2)
}

func TestBareEvents(t *testing.T) {
	s := startReceiver(t, testReceiverConfig(t), nil)
	r := s.post(t, "/api/traces/t1/events", testKey, `{"type":"user_message","session_id":"t1","timestamp":"2026-01-01T00:00:00Z","seq":0,"idempotency_key":"k0","payload":{"content":"hi"}}`)
	assert.Equal(t, 200, r.status)
	assert.JSONEq(t, `{"accepted":1,"rejected":[]}`, string(r.body))

	r = s.post(t, "/api/traces/t1/events", testKey, `{"type":"nope","session_id":"t1","timestamp":"2026-01-01T00:00:00Z","seq":1,"idempotency_key":"k1","payload":{}}`)
	assert.Equal(t, 422, r.status)
	assert.JSONEq(t, `{"detail":"unknown event type"}`, string(r.body))
}

func TestMalformedBodies(t *testing.T) {
	cfg := testReceiverConfig(t)
	cfg.MaxEventsBodySize = 1024
	s := startReceiver(t, cfg, nil)
	cases := []struct {
		name    string
		body    string
		headers []string
		status  int
		detail  string
	}{
		{"bad json", `{"events": [`, nil, 400, "malformed JSON body"},
		{"not an object", `[1,2]`, nil, 400, "request body must be a JSON object"},
		{"oversize", `{"events":[` + strings.Repeat(" ", 2048) + `]}`, nil, 413, "request body exceeds 1024 bytes"},
		{"bad gzip", "not gzip at all", []string{"Content-Encoding", "gzip"}, 400, "malformed gzip body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.post(t, "/api/traces/t1/events", testKey, c.body, c.headers...)
			assert.Equal(t, c.status, r.status, string(r.body))
			assert.Equal(t, c.detail, r.json(t)["detail"])
		})
	}
	for _, body := range []string{``, `{}`, `{"events":[]}`, `{"events":{"not":"an event"}}`} {
		r := s.post(t, "/api/traces/t1/events", testKey, body)
		assert.Equal(t, 200, r.status, body)
		assert.EqualValues(t, 0, r.json(t)["accepted"], body)
	}
	// A gzip bomb: small on the wire, over the limit once inflated.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(`{"events":[` + strings.Repeat(" ", 1<<20) + `]}`))
	require.NoError(t, zw.Close())
	r := s.do(t, http.MethodPost, "/api/traces/t1/events", testKey, &buf, "Content-Encoding", "gzip")
	assert.Equal(t, 413, r.status, string(r.body))
	assert.Empty(t, testutil.SpansOf(s.sink))
	_, exists := s.rcv.runs.Owner("t1")
	assert.False(t, exists, "bad requests create no run")
}

func TestGzipBatch(t *testing.T) {
	s := startReceiver(t, testReceiverConfig(t), nil)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(oneEvent))
	require.NoError(t, zw.Close())
	r := s.do(t, http.MethodPost, "/api/traces/t1/events", testKey, &buf, "Content-Encoding", "gzip")
	assert.Equal(t, 200, r.status, string(r.body))
	assert.Len(t, testutil.SpansOf(s.sink), 1)
}

func TestPipelineRefusalAnswers503WithRetryAfter(t *testing.T) {
	s := startReceiver(t, testReceiverConfig(t), consumertest.NewErr(assert.AnError))
	r := s.post(t, "/api/traces/t1/events", testKey, oneEvent)
	assert.Equal(t, 503, r.status)
	assert.Equal(t, "5", r.header.Get("Retry-After"))
	assert.NotEmpty(t, r.json(t)["detail"])
}

func TestCreateThenAnalyze(t *testing.T) {
	s := startReceiver(t, testReceiverConfig(t), nil)
	r := s.post(t, "/api/traces", testKey, `{"id":"trace_python_1","agent":"browser-agent","project_id":"proj_elsewhere","user_goal":"Book Tuesday at 2pm"}`)
	require.Equal(t, 201, r.status, string(r.body))
	trace := r.json(t)["trace"].(map[string]any)
	assert.Equal(t, "proj_dev", trace["project_id"], "the key chooses the project, not the body")
	assert.Equal(t, "ws_dev", trace["workspace_id"])

	r = s.post(t, "/api/traces/trace_python_1/events", testKey, `{"events":[
		{"type":"user_message","session_id":"trace_python_1","timestamp":"2026-01-01T00:00:00Z","seq":0,"idempotency_key":"trace_python_1:dev:0","payload":{"content":"Book Tuesday"}},
		{"type":"goal_check","session_id":"trace_python_1","timestamp":"2026-01-01T00:00:01Z","seq":1,"idempotency_key":"trace_python_1:dev:1","payload":{"passed":false,"mismatches":["Selected 2:00 AM instead of 2:00 PM"]}}]}`)
	require.Equal(t, 200, r.status)

	r = s.post(t, "/api/traces/trace_python_1/analyze", testConsole, "")
	require.Equal(t, 200, r.status, string(r.body))
	analysis := r.json(t)["analysis"].(map[string]any)
	goal := analysis["goal"].(map[string]any)
	assert.Equal(t, false, goal["passed"])
	assert.Equal(t, []any{"Selected 2:00 AM instead of 2:00 PM"}, goal["mismatches"])

	var root ptrace.Span
	for _, sp := range testutil.SpansOf(s.sink) {
		if sp.ParentSpanID().IsEmpty() {
			root = sp
		}
	}
	require.Equal(t, "invoke_agent browser-agent", root.Name())
	assert.Equal(t, ptrace.StatusCodeError, root.Status().Code())
	assert.Equal(t, "Selected 2:00 AM instead of 2:00 PM", root.Status().Message())
	by, _ := root.Attributes().Get(conventions.AttrFinalizedBy)
	assert.Equal(t, "analyze", by.Str())

	r = s.do(t, http.MethodGet, "/api/traces/trace_python_1/analysis", testConsole, nil)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, analysis["otlp_trace_id"], r.json(t)["analysis"].(map[string]any)["otlp_trace_id"])

	r = s.post(t, "/api/traces/unknown_run/analyze", testConsole, "")
	assert.Equal(t, 404, r.status)
}

func TestIdleRunsAreFinalised(t *testing.T) {
	cfg := testReceiverConfig(t)
	cfg.Sessions.IdleTimeout = 200 * time.Millisecond
	s := startReceiver(t, cfg, nil)
	require.Equal(t, 200, s.post(t, "/api/traces/t1/events", testKey, oneEvent).status)
	var root ptrace.Span
	require.Eventually(t, func() bool {
		for _, sp := range testutil.SpansOf(s.sink) {
			if sp.ParentSpanID().IsEmpty() {
				root = sp
				return true
			}
		}
		return false
	}, 5*time.Second, 50*time.Millisecond)
	by, _ := root.Attributes().Get(conventions.AttrFinalizedBy)
	assert.Equal(t, "idle_timeout", by.Str())
	count, ok := root.Attributes().Get(conventions.AttrFindingCount)
	require.True(t, ok, "the receiver judges the runs it finalises")
	assert.Equal(t, int64(len(testutil.SpansOf(s.sink))-2), count.Int(), "the event, the root and one span per finding")
}

func TestRulesExtensionMustExist(t *testing.T) {
	cfg := testReceiverConfig(t)
	id := component.MustNewIDWithName("agent_rules", "missing")
	cfg.Rules = &id
	r, err := NewFactory().CreateTraces(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = r.Start(context.Background(), componenttest.NewNopHost())
	assert.ErrorContains(t, err, `rules: extension "agent_rules/missing" not found`)
	require.NoError(t, r.Shutdown(context.Background()))
}

// TestCreateRoutedByHeader: behind a load balancer that routes runs by id,
// a create names its run in a header too; one that names another run than
// its body would land on the wrong node, so it is refused.
func TestCreateRoutedByHeader(t *testing.T) {
	s := startReceiver(t, testReceiverConfig(t), nil)
	r := s.post(t, "/api/traces", testKey, `{"id":"run_1","agent":"a"}`, headerTraceID, "run_2")
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "X-Promptetheus-Trace-Id 'run_2' does not match the trace id 'run_1' of the body", r.json(t)["detail"])

	r = s.post(t, "/api/traces", testKey, `{"agent":"a"}`, headerTraceID, "run_3")
	require.Equal(t, http.StatusCreated, r.status)
	assert.Equal(t, "run_3", r.json(t)["trace"].(map[string]any)["id"], "a create without id takes the routed one")

	r = s.post(t, "/api/traces", testKey, `{"id":"run_4","agent":"a"}`, headerTraceID, "run_4")
	assert.Equal(t, http.StatusCreated, r.status)
}
