// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/promptetheus/otelcol-promptetheus/client"
)

// tenantSink is an OTLP/HTTP server standing in for a multi-tenant Tempo: it
// files every span under the request's X-Scope-OrgID, keeps each span's
// encoding to check that redelivered copies are identical, and can go down
// and come back on the same address.
type tenantSink struct {
	t    testing.TB
	addr string

	mu     sync.Mutex
	srv    *http.Server
	spans  map[string]map[string][]byte // tenant -> trace and span id -> span with its resource and scope
	copies int                          // spans received again, identical
	mixed  []string                     // spans whose project is not their tenant
}

func startTenantSink(t testing.TB) *tenantSink {
	s := &tenantSink{t: t, addr: addr(freePort(t)), spans: map[string]map[string][]byte{}}
	s.up()
	t.Cleanup(s.down)
	return s
}

func (s *tenantSink) url() string { return "http://" + s.addr }

// up listens on the sink's address.
func (s *tenantSink) up() {
	l, err := net.Listen("tcp", s.addr)
	require.NoError(s.t, err)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// down closes the listener and every connection: the collector's exports
// fail as when Tempo is unreachable.
func (s *tenantSink) down() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (s *tenantSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := io.Reader(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	tenant := r.Header.Get("X-Scope-OrgID")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spans[tenant] == nil {
		s.spans[tenant] = map[string][]byte{}
	}
	rss := req.Traces().ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		project, _ := rs.Resource().Attributes().Get("promptetheus.project.id")
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			for k := 0; k < ss.Spans().Len(); k++ {
				span := ss.Spans().At(k)
				if project.AsString() != tenant {
					s.mixed = append(s.mixed, fmt.Sprintf("%s of project %q under tenant %q", span.Name(), project.AsString(), tenant))
				}
				key := span.TraceID().String() + span.SpanID().String()
				enc := encodeSpan(s.t, rs, ss, span)
				if first, seen := s.spans[tenant][key]; seen {
					s.copies++
					assert.Equal(s.t, first, enc, "span %s (%s) delivered twice with other content", key, span.Name())
					continue
				}
				s.spans[tenant][key] = enc
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// encodeSpan is the protobuf encoding of one span with its resource and scope.
func encodeSpan(t testing.TB, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span) []byte {
	td := ptrace.NewTraces()
	out := td.ResourceSpans().AppendEmpty()
	rs.Resource().CopyTo(out.Resource())
	outSS := out.ScopeSpans().AppendEmpty()
	ss.Scope().CopyTo(outSS.Scope())
	span.CopyTo(outSS.Spans().AppendEmpty())
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	return b
}

// distinctSpans is the number of distinct spans per tenant.
func (s *tenantSink) distinctSpans() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for tenant, spans := range s.spans {
		out[tenant] = len(spans)
	}
	return out
}

// sendRuns sends runs of events events (the last one session_end) for each
// API key, concurrently; each run yields events + 2 spans (its events, the
// root and the missing_goal_check finding).
func sendRuns(t *testing.T, api, prefix string, keys []string, runs, events int) {
	t.Helper()
	var wg sync.WaitGroup
	for _, key := range keys {
		agent := client.New("http://"+api, key)
		for r := range runs {
			wg.Go(func() {
				s := client.NewSession(fmt.Sprintf("%s_%s_run_%d", prefix, key, r))
				var batch []client.Event
				for range events - 1 {
					batch = append(batch, s.Event("agent_message", map[string]any{"content": "working"}))
				}
				batch = append(batch, s.Event("session_end", map[string]any{"status": "completed"}))
				res, err := agent.AppendEvents(context.Background(), s.ID, batch)
				if assert.NoError(t, err) {
					assert.Equal(t, events, res.Accepted)
				}
			})
		}
	}
	wg.Wait()
}

// TestE2ETempoTenantPerProject: two projects with their own API keys send
// runs through the built collector; a loopback OTLP/HTTP server sees each
// project's spans under its own X-Scope-OrgID, none mixed, none lost.
func TestE2ETempoTenantPerProject(t *testing.T) {
	sink := startTenantSink(t)
	c := startCollector(t, collectorOptions{
		exporters: map[string]string{"tempo": "endpoint: " + sink.url() + "\nsending_queue:\n  storage: file_storage\n"},
	})
	const runs, events = 5, 20
	sendRuns(t, c.api, "tenants", []string{"pt_dev_key", "pt_other_key"}, runs, events)
	want := map[string]int{"proj_acmemeet": runs * (events + 2), "proj_other": runs * (events + 2)}
	require.Eventually(t, func() bool { return assert.ObjectsAreEqual(want, sink.distinctSpans()) }, 30*time.Second, 100*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // anything late would show now
	assert.Equal(t, want, sink.distinctSpans(), "each project under its own tenant, nothing lost")
	sink.mu.Lock()
	defer sink.mu.Unlock()
	assert.Empty(t, sink.mixed, "nothing mixed")
	assert.Zero(t, sink.copies, "nothing doubled")
	assert.Equal(t, 2.0, c.metric(t, "otelcol_exporter_tempo_tenants"), "one otlp_http exporter per project")
}

// TestE2ETempoKillWithQueuedTenants: with the tenant sink down, both
// projects' spans pile up in their persistent queues; the collector is
// SIGKILLed and restarted, it recreates both tenants from storage, and once
// the sink is back every span arrives under its tenant. Copies are allowed
// (at-least-once across a kill) but must be identical.
func TestE2ETempoKillWithQueuedTenants(t *testing.T) {
	sink := startTenantSink(t)
	c := startCollector(t, collectorOptions{
		exporters: map[string]string{"tempo": "endpoint: " + sink.url() + `
sending_queue:
  storage: file_storage
retry_on_failure:
  initial_interval: 100ms
  max_interval: 500ms
  max_elapsed_time: 0
`},
	})
	keys := []string{"pt_dev_key", "pt_other_key"}
	const runs, events = 4, 10
	perProject := runs * (events + 2)

	// Both tenants exist and deliver.
	sendRuns(t, c.api, "before", keys, runs, events)
	require.Eventually(t, func() bool {
		return assert.ObjectsAreEqual(map[string]int{"proj_acmemeet": perProject, "proj_other": perProject}, sink.distinctSpans())
	}, 30*time.Second, 100*time.Millisecond)

	// The sink goes down; what the agents send now waits in the queues.
	sink.down()
	sendRuns(t, c.api, "queued", keys, runs, events)
	queued := func(project string) float64 {
		return c.metric(t, "otelcol_exporter_queue_size", `exporter="otlp_http/tempo/`+project+`"`)
	}
	require.Eventually(t, func() bool { return queued("proj_acmemeet") > 0 && queued("proj_other") > 0 }, 30*time.Second, 100*time.Millisecond)
	time.Sleep(time.Second) // let the last acknowledged batches reach the queues

	c.stop(syscall.SIGKILL)
	c.restart(t)
	assert.Equal(t, 2.0, c.metric(t, "otelcol_exporter_tempo_tenants"), "both tenants recreated at start")
	assert.Positive(t, queued("proj_acmemeet")+queued("proj_other"), "their queues survived the kill")

	sink.up()
	want := map[string]int{"proj_acmemeet": 2 * perProject, "proj_other": 2 * perProject}
	require.Eventually(t, func() bool { return assert.ObjectsAreEqual(want, sink.distinctSpans()) }, 60*time.Second, 100*time.Millisecond)
	time.Sleep(time.Second)
	assert.Equal(t, want, sink.distinctSpans(), "every span under its tenant, none lost")
	sink.mu.Lock()
	defer sink.mu.Unlock()
	assert.Empty(t, sink.mixed, "nothing mixed")
	t.Logf("identical copies after the kill: %d of %d spans", sink.copies, 4*perProject)
}

// TestE2ETempoAndOTLPHTTPToJaeger exports the same runs through the tempo
// exporter and through otlp_http to Jaeger (which ignores the tenant).
func TestE2ETempoAndOTLPHTTPToJaeger(t *testing.T) {
	for _, exporter := range []string{"tempo", "otlp_http"} {
		t.Run(exporter, func(t *testing.T) {
			j := startJaeger(t)
			c := startCollector(t, collectorOptions{
				exporters: map[string]string{exporter + "/jaeger": "endpoint: http://" + j.otlpHTTP + "\n"},
			})
			s := client.NewSession("run_" + exporter)
			_, err := client.New("http://"+c.api, "pt_dev_key").AppendEvents(context.Background(), s.ID, []client.Event{
				s.Event("llm_call", map[string]any{"model": "claude-sonnet-4", "input_tokens": 10, "output_tokens": 3}),
				s.Event("goal_check", map[string]any{"passed": true}),
				s.Event("session_end", map[string]any{"status": "completed"}),
			})
			require.NoError(t, err)
			spans := j.waitTrace(t, hexTraceID("proj_acmemeet", s.ID), 4)
			names := map[string]bool{}
			for _, sp := range spans {
				names[sp.OperationName] = true
			}
			assert.True(t, names["chat claude-sonnet-4"] && names["goal_check"] && names["session_end"] && names["invoke_agent"], "%v", names)
		})
	}
}

// TestE2EDeployConfigValidates loads deploy/collector.yaml in the built
// distribution, with the environment it expects.
func TestE2EDeployConfigValidates(t *testing.T) {
	cmd := exec.Command(collectorBinary(t), "validate", "--config", filepath.Join(repoRoot(t), "deploy", "collector.yaml"))
	cmd.Env = append(os.Environ(),
		"PROMPTETHEUS_PROJECT_KEY_SHA256=0c1a6e1e0a0b8b9b1b6a2a9f3a1c5d2e9f8e7d6c5b4a39281706f5e4d3c2b1a0",
		"PROMPTETHEUS_CONSOLE_JWT_KEYS_FILE="+filepath.Join(repoRoot(t), "deploy", "console-keys.placeholder.json"),
		"PROMPTETHEUS_CONSOLE_JWT_ISSUER=https://auth.example.com/",
		"PROMPTETHEUS_CONSOLE_JWT_AUDIENCE=authenticated")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
}
