// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/promptetheus/otelcol-promptetheus/client"
)

// tenantSink is an OTLP/HTTP server that files spans by X-Scope-OrgID.
type tenantSink struct {
	mu       sync.Mutex
	byTenant map[string]map[string]int // tenant -> project attribute -> spans
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
	if s.byTenant[tenant] == nil {
		s.byTenant[tenant] = map[string]int{}
	}
	rss := req.Traces().ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		project, _ := rss.At(i).Resource().Attributes().Get("promptetheus.project.id")
		n := 0
		for j := 0; j < rss.At(i).ScopeSpans().Len(); j++ {
			n += rss.At(i).ScopeSpans().At(j).Spans().Len()
		}
		s.byTenant[tenant][project.AsString()] += n
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (s *tenantSink) spans(tenant, project string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byTenant[tenant][project]
}

// TestE2ETempoTenantPerProject: two projects with their own API keys send
// runs through the built collector; a loopback OTLP/HTTP server sees each
// project's spans under its own X-Scope-OrgID, none mixed, none lost.
func TestE2ETempoTenantPerProject(t *testing.T) {
	sink := &tenantSink{byTenant: map[string]map[string]int{}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	c := startCollector(t, collectorOptions{
		exporters: map[string]string{"tempo": "endpoint: " + srv.URL + "\nsending_queue:\n  storage: file_storage\n"},
	})
	ctx := context.Background()
	const runs, events = 5, 20
	var wg sync.WaitGroup
	for _, key := range []string{"pt_dev_key", "pt_other_key"} {
		agent := client.New("http://"+c.api, key)
		for r := range runs {
			wg.Go(func() {
				s := client.NewSession(fmt.Sprintf("%s_run_%d", key, r))
				var batch []client.Event
				for range events - 1 {
					batch = append(batch, s.Event("agent_message", map[string]any{"content": "working"}))
				}
				batch = append(batch, s.Event("session_end", map[string]any{"status": "completed"}))
				res, err := agent.AppendEvents(ctx, s.ID, batch)
				assert.NoError(t, err)
				assert.Equal(t, events, res.Accepted)
			})
		}
	}
	wg.Wait()
	// Each run: its events, the root and the missing_goal_check finding.
	want := runs * (events + 2)
	require.Eventually(t, func() bool {
		return sink.spans("proj_acmemeet", "proj_acmemeet") >= want && sink.spans("proj_other", "proj_other") >= want
	}, 30*time.Second, 100*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // anything late would show now
	sink.mu.Lock()
	defer sink.mu.Unlock()
	assert.Equal(t, map[string]map[string]int{
		"proj_acmemeet": {"proj_acmemeet": want},
		"proj_other":    {"proj_other": want},
	}, sink.byTenant, "each project under its own tenant, nothing mixed, nothing lost or doubled")
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
		"PROMPTETHEUS_CONSOLE_JWKS_URL=https://auth.example.com/.well-known/jwks.json",
		"PROMPTETHEUS_CONSOLE_JWT_ISSUER=https://auth.example.com/",
		"PROMPTETHEUS_CONSOLE_JWT_AUDIENCE=authenticated")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
}
