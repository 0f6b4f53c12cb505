// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
)

var instrumentedTestdata = flag.Bool("instrumented-testdata", false,
	"write the OTLP the instrumented agents send to processor/promptetheusprocessor/testdata/instrumented")

// TestE2EInstrumentedAgents runs agents traced by real instrumentation
// libraries (e2e/agents, from npm) against the built collector's OTLP/HTTP
// receiver with the promptetheus processor, and reads the traces back from
// Jaeger: the libraries' spans arrive unchanged, agent loops are flagged on
// the repeated tool spans, and a trace that is no agent is left alone.
func TestE2EInstrumentedAgents(t *testing.T) {
	agents := installAgents(t)
	j := startJaeger(t)
	otlp := freePort(t)
	startCollector(t, withProcessor(collectorOptions{
		exporters:         map[string]string{"otlp_grpc/jaeger": jaegerExporter(j)},
		extraReceivers:    fmt.Sprintf("otlp:\n  protocols:\n    http:\n      endpoint: %s\n", addr(otlp)),
		pipelineReceivers: []string{"promptetheus", "otlp"},
	}))
	rec := startOTLPRecorder(t, "http://"+addr(otlp)+"/v1/traces")

	t.Run("checkout_web_http", func(t *testing.T) {
		sent, traceID := runInstrumented(t, agents, "checkout-web.mjs", rec, "checkout_web_http")
		require.Equal(t, 3, sent.SpanCount(), "client GET, server GET and `load cart`")
		j.waitTrace(t, traceID, sent.SpanCount())
		// Findings are emitted with the root span, which came last: give a
		// wrong one time to arrive before asserting there is none.
		time.Sleep(2 * time.Second)
		tr := j.fullTrace(t, traceID)
		for _, sp := range tr.Spans {
			assert.False(t, strings.HasPrefix(sp.OperationName, conventions.SpanNameFindingPrefix), "%s on a web request", sp.OperationName)
		}
		assertDelivered(t, tr, sent, false)
	})

	t.Run("langgraph_openinference", func(t *testing.T) {
		sent, traceID := runInstrumented(t, agents, "langgraph-loop.mjs", rec, "langgraph_openinference")
		tools := repeatedToolSpans(sent, func(sp ptrace.Span) (string, bool) {
			kind, _ := sp.Attributes().Get("openinference.span.kind")
			name, _ := sp.Attributes().Get("tool.name")
			input, _ := sp.Attributes().Get("input.value")
			return name.Str() + " " + input.Str(), kind.Str() == "TOOL"
		})
		require.Len(t, tools, 4, "the agent calls search_flights with the same arguments four times")
		tr := waitFinding(t, j, traceID, sent.SpanCount())
		assertDelivered(t, tr, sent, true)
		assertLoopFinding(t, tr, tools)
	})

	t.Run("openai_genai", func(t *testing.T) {
		sent, traceID := runInstrumented(t, agents, "openai-loop.mjs", rec, "openai_genai")
		tools := repeatedToolSpans(sent, func(sp ptrace.Span) (string, bool) {
			op, _ := sp.Attributes().Get("gen_ai.operation.name")
			name, _ := sp.Attributes().Get("gen_ai.tool.name")
			args, _ := sp.Attributes().Get("gen_ai.tool.call.arguments")
			return name.Str() + " " + args.Str(), op.Str() == "execute_tool"
		})
		require.Len(t, tools, 4, "the agent calls lookup_order with the same arguments four times")
		tr := waitFinding(t, j, traceID, sent.SpanCount())
		assertDelivered(t, tr, sent, true)
		assertLoopFinding(t, tr, tools)
	})
}

var (
	npmOnce sync.Once
	npmErr  error
)

// installAgents checks for Node.js 20+ and npm and installs e2e/agents from
// its lockfile, once per test binary. It returns the agents' directory.
func installAgents(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "e2e", "agents")
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on PATH: the instrumented agents need Node.js 20+ and npm (Debian: apt-get install nodejs npm; .ci/run installs them)", tool)
		}
	}
	out, err := exec.Command("node", "--version").Output()
	require.NoError(t, err)
	major, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), ".", 2)[0])
	require.NoError(t, err, "node --version: %s", out)
	require.GreaterOrEqual(t, major, 20, "the instrumented agents need Node.js 20+, found %s", out)
	npmOnce.Do(func() {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--prefer-offline")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			npmErr = fmt.Errorf("npm ci in %s: %w\n%s", dir, err, tail(string(out), 4000))
		}
	})
	require.NoError(t, npmErr)
	return dir
}

// runInstrumented runs one agent script against the recorder and returns
// the spans it sent and the id of the one trace it produced. With
// -instrumented-testdata it also writes them to the processor's testdata.
func runInstrumented(t *testing.T, dir, script string, rec *otlpRecorder, golden string) (ptrace.Traces, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Dir = dir
	// The script's own OTEL_* settings only: none inherited from the shell.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="+rec.url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "node %s:\n%s", script, tail(stderr.String(), 4000))

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var run struct {
		TraceIDs []string `json:"trace_ids"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &run), stdout.String())
	require.Len(t, run.TraceIDs, 1, "one run, one trace")

	sent, failures := rec.take()
	require.Empty(t, failures, "the collector refused what %s sent", script)
	require.Positive(t, sent.SpanCount(), "%s sent no span", script)
	for _, sp := range flatten(sent) {
		require.Equal(t, run.TraceIDs[0], sp.span.TraceID().String(), "%s sent a span of another trace", script)
	}
	if *instrumentedTestdata {
		writeInstrumentedTestdata(t, golden, sent)
	}
	return sent, run.TraceIDs[0]
}

// writeInstrumentedTestdata writes td as ptrace.JSONMarshaler does (OTLP
// JSON, as OTLP/HTTP carries it), indented for review.
func writeInstrumentedTestdata(t *testing.T, name string, td ptrace.Traces) {
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, json.Indent(&out, b, "", "  "))
	out.WriteByte('\n')
	path := filepath.Join(repoRoot(t), "processor", "promptetheusprocessor", "testdata", "instrumented", name+".json")
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
	t.Logf("wrote %s (%d spans)", path, td.SpanCount())
}

// otlpRecorder is an OTLP/HTTP traces endpoint on loopback that keeps what
// it is sent and forwards each request, byte for byte, to the collector:
// the test knows exactly what the instrumentation library exported.
type otlpRecorder struct {
	url      string
	upstream string

	mu       sync.Mutex
	sent     ptrace.Traces
	failures []string
}

// maxOTLPBody bounds one export request; the agents' are under 1 MiB.
const maxOTLPBody = 16 << 20

func startOTLPRecorder(t *testing.T, upstream string) *otlpRecorder {
	rec := &otlpRecorder{upstream: upstream, sent: ptrace.NewTraces()}
	srv := httptest.NewServer(http.HandlerFunc(rec.serveHTTP))
	t.Cleanup(srv.Close)
	rec.url = srv.URL + "/v1/traces"
	return rec
}

func (rec *otlpRecorder) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOTLPBody))
	if err != nil {
		rec.fail(w, http.StatusRequestEntityTooLarge, "reading the request: %v", err)
		return
	}
	req := ptraceotlp.NewExportRequest()
	contentType := r.Header.Get("Content-Type")
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/v1/traces":
		rec.fail(w, http.StatusNotFound, "%s %s", r.Method, r.URL.Path)
		return
	case strings.HasPrefix(contentType, "application/x-protobuf"):
		err = req.UnmarshalProto(body)
	case strings.HasPrefix(contentType, "application/json"):
		err = req.UnmarshalJSON(body)
	default:
		err = fmt.Errorf("content type %q", contentType)
	}
	if err != nil {
		rec.fail(w, http.StatusBadRequest, "decoding the request: %v", err)
		return
	}
	resp, err := http.Post(rec.upstream, contentType, bytes.NewReader(body))
	if err != nil {
		rec.fail(w, http.StatusBadGateway, "forwarding to the collector: %v", err)
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxOTLPBody))
	rec.mu.Lock()
	req.Traces().ResourceSpans().MoveAndAppendTo(rec.sent.ResourceSpans())
	if resp.StatusCode != http.StatusOK {
		rec.failures = append(rec.failures, fmt.Sprintf("collector answered %d: %s", resp.StatusCode, answer))
	}
	rec.mu.Unlock()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

func (rec *otlpRecorder) fail(w http.ResponseWriter, code int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	rec.mu.Lock()
	rec.failures = append(rec.failures, msg)
	rec.mu.Unlock()
	http.Error(w, msg, code)
}

// take returns what was sent since the last take, and the failures.
func (rec *otlpRecorder) take() (ptrace.Traces, []string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	sent, failures := rec.sent, rec.failures
	rec.sent, rec.failures = ptrace.NewTraces(), nil
	return sent, failures
}

// sentSpan is a span as sent, with its resource and scope.
type sentSpan struct {
	resource pcommon.Resource
	scope    pcommon.InstrumentationScope
	span     ptrace.Span
}

func flatten(td ptrace.Traces) []sentSpan {
	var out []sentSpan
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			for k := 0; k < ss.Spans().Len(); k++ {
				out = append(out, sentSpan{rs.Resource(), ss.Scope(), ss.Spans().At(k)})
			}
		}
	}
	return out
}

// repeatedToolSpans returns the hex ids of the tool spans (isTool) whose
// call (the tool and its arguments) is the most repeated.
func repeatedToolSpans(td ptrace.Traces, call func(ptrace.Span) (key string, isTool bool)) []string {
	byCall := map[string][]string{}
	var most string
	for _, s := range flatten(td) {
		key, ok := call(s.span)
		if !ok {
			continue
		}
		byCall[key] = append(byCall[key], s.span.SpanID().String())
		if len(byCall[key]) > len(byCall[most]) {
			most = key
		}
	}
	return byCall[most]
}

// jaegerTrace is a trace as Jaeger's query API returns it, with the times
// of its spans and its processes (resources).
type jaegerTrace struct {
	Spans []struct {
		jaegerSpan
		StartTime int64 `json:"startTime"`
		Duration  int64 `json:"duration"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
		Tags        []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"processes"`
}

func (j *jaeger) fullTrace(t *testing.T, traceID string) jaegerTrace {
	t.Helper()
	resp, err := http.Get("http://" + j.query + "/api/traces/" + traceID)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var out struct {
		Data []jaegerTrace `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &out))
	require.Len(t, out.Data, 1)
	return out.Data[0]
}

// waitFinding waits for the sent spans of an agent trace, then briefly for
// its `rule_finding loop` span (emitted with the root, which came last), and
// returns the trace.
func waitFinding(t *testing.T, j *jaeger, traceID string, sent int) jaegerTrace {
	t.Helper()
	j.waitTrace(t, traceID, sent)
	deadline := time.Now().Add(10 * time.Second)
	for {
		tr := j.fullTrace(t, traceID)
		for _, sp := range tr.Spans {
			if sp.OperationName == conventions.SpanNameFindingPrefix+"loop" {
				return tr
			}
		}
		if time.Now().After(deadline) {
			return tr
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// jaegerOwnTags are the tags Jaeger derives from the span's kind, status and
// scope, or adds itself; every other tag is an attribute.
var jaegerOwnTags = map[string]bool{
	"span.kind": true, "otel.status_code": true, "otel.status_description": true, "error": true,
	"otel.scope.name": true, "otel.scope.version": true, "@jaeger@warnings": true,
}

// assertDelivered checks that every sent span is in the Jaeger trace with
// its name, parent, times, kind, scope, resource, events and attributes
// unchanged. With verdict, the root span may also carry the processor's
// verdict (promptetheus.* attributes and status), and Jaeger may hold
// rule_finding spans besides; without it, nothing else.
func assertDelivered(t *testing.T, tr jaegerTrace, sent ptrace.Traces, verdict bool) {
	t.Helper()
	got := map[string]int{}
	for i, sp := range tr.Spans {
		got[sp.SpanID] = i
	}
	for _, s := range flatten(sent) {
		id := s.span.SpanID().String()
		i, ok := got[id]
		if !assert.True(t, ok, "span %s %q did not reach Jaeger", id, s.span.Name()) {
			continue
		}
		delete(got, id)
		g := tr.Spans[i]
		isRoot := s.span.ParentSpanID().IsEmpty()
		assert.Equal(t, s.span.Name(), g.OperationName, "span %s", id)
		assert.Equal(t, s.span.ParentSpanID().String(), g.parent(), "parent of %s %q", id, s.span.Name())
		assert.Equal(t, int64(s.span.StartTimestamp())/1000, g.StartTime, "start of %s %q", id, s.span.Name())
		assert.InDelta(t, int64(s.span.EndTimestamp()-s.span.StartTimestamp())/1000, g.Duration, 1, "duration of %s %q", id, s.span.Name())
		assert.Equal(t, s.scope.Name(), g.tag("otel.scope.name"), "scope of %s %q", id, s.span.Name())
		assert.Len(t, g.Logs, s.span.Events().Len(), "events of %s %q", id, s.span.Name())
		if kind := strings.ToLower(strings.TrimPrefix(s.span.Kind().String(), "Kind")); kind != "internal" && kind != "unspecified" {
			assert.Equal(t, kind, g.tag("span.kind"), "kind of %s %q", id, s.span.Name())
		}
		if !(verdict && isRoot) {
			assert.Equal(t, jaegerStatus(s.span.Status().Code()), g.tag("otel.status_code"), "status of %s %q", id, s.span.Name())
		}

		want := attributesAsJaegerTags(t, s.span.Attributes())
		have := map[string]any{}
		for _, tg := range g.Tags {
			if jaegerOwnTags[tg.Key] || (verdict && isRoot && strings.HasPrefix(tg.Key, "promptetheus.")) {
				continue
			}
			have[tg.Key] = tg.Value
		}
		assert.Equal(t, want, have, "attributes of %s %q", id, s.span.Name())

		proc := tr.Processes[g.ProcessID]
		svc, _ := s.resource.Attributes().Get("service.name")
		assert.Equal(t, svc.Str(), proc.ServiceName, "service of %s %q", id, s.span.Name())
		res := attributesAsJaegerTags(t, s.resource.Attributes())
		delete(res, "service.name")
		procTags := map[string]any{}
		for _, tg := range proc.Tags {
			procTags[tg.Key] = tg.Value
		}
		assert.Equal(t, res, procTags, "resource of %s %q", id, s.span.Name())
	}
	for id, i := range got {
		name := tr.Spans[i].OperationName
		assert.True(t, verdict && strings.HasPrefix(name, conventions.SpanNameFindingPrefix),
			"span %s %q in Jaeger was not sent", id, name)
	}
}

func jaegerStatus(code ptrace.StatusCode) any {
	switch code {
	case ptrace.StatusCodeOk:
		return "OK"
	case ptrace.StatusCodeError:
		return "ERROR"
	}
	return nil
}

// attributesAsJaegerTags renders attributes as Jaeger's JSON does: numbers
// as JSON numbers, arrays and maps as JSON text.
func attributesAsJaegerTags(t *testing.T, attrs pcommon.Map) map[string]any {
	out := map[string]any{}
	for k, v := range attrs.All() {
		switch v.Type() {
		case pcommon.ValueTypeInt:
			out[k] = float64(v.Int())
		case pcommon.ValueTypeSlice, pcommon.ValueTypeMap:
			b, err := json.Marshal(v.AsRaw())
			require.NoError(t, err)
			out[k] = string(b)
		default:
			out[k] = v.AsRaw()
		}
	}
	return out
}

// assertLoopFinding checks the processor flagged the loop: a `rule_finding
// loop` span under one of the repeated tool spans, listing all of them as
// its evidence.
func assertLoopFinding(t *testing.T, tr jaegerTrace, toolSpanIDs []string) {
	t.Helper()
	names := map[string]string{}
	for _, sp := range tr.Spans {
		names[sp.SpanID] = sp.OperationName
	}
	var findings []jaegerSpan
	for _, sp := range tr.Spans {
		if strings.HasPrefix(sp.OperationName, conventions.SpanNameFindingPrefix) {
			t.Logf("%s on %s %q: %v", sp.OperationName, sp.parent(), names[sp.parent()], sp.tag(conventions.AttrFindingMessage))
		}
		if sp.OperationName == conventions.SpanNameFindingPrefix+"loop" {
			findings = append(findings, sp.jaegerSpan)
		}
	}
	require.NotEmpty(t, findings, "no `rule_finding loop` span: the processor did not flag the repeated tool calls %v", toolSpanIDs)
	for _, f := range findings {
		assert.Equal(t, "loop", f.tag(conventions.AttrFindingRuleID))
		assert.Contains(t, toolSpanIDs, f.parent(), "rule_finding loop must be parented to a repeated tool span")
		raw := f.tag(conventions.AttrFindingEvidenceSpans)
		if !assert.NotNil(t, raw, "rule_finding loop has no %s", conventions.AttrFindingEvidenceSpans) {
			continue
		}
		var evidence []string
		s, ok := raw.(string)
		require.True(t, ok, "%s is %T, want a string array", conventions.AttrFindingEvidenceSpans, raw)
		require.NoError(t, json.Unmarshal([]byte(s), &evidence), "%s = %s", conventions.AttrFindingEvidenceSpans, s)
		assert.ElementsMatch(t, toolSpanIDs, evidence, "%s must list the repeated tool spans", conventions.AttrFindingEvidenceSpans)
	}
}
