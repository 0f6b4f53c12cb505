// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"gopkg.in/yaml.v3"

	"github.com/promptetheus/otelcol-promptetheus/client"
	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
)

// consumerConfig runs every component of ours in the distribution the
// consumer built: the receiver and the collector's otlp receiver judged by the
// same agent_rules, the tempo exporter to a loopback sink, agent_metrics to
// the debug exporter.
const consumerConfig = `
extensions:
  agent_rules:
receivers:
  promptetheus:
    endpoint: %[1]s
    api_keys:
      - project: proj_acme
        key: pt_acme_key_0123456789
    rules: agent_rules
    artifacts:
      directory: %[2]s/artifacts
  otlp:
    protocols:
      http:
        endpoint: %[3]s
processors:
  promptetheus:
    rules: agent_rules
    decision_wait: 0s
connectors:
  agent_metrics:
    metrics_flush_interval: 1s
exporters:
  debug:
    verbosity: basic
  tempo:
    endpoint: %[4]s
service:
  extensions: [agent_rules]
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [promptetheus, otlp]
      processors: [promptetheus]
      exporters: [tempo, debug, agent_metrics]
    metrics:
      receivers: [agent_metrics]
      exporters: [debug]
`

// TestE2EConsumerBuild builds a distribution as someone else would: the
// Collector Builder on a user's manifest (testdata/consumer) that takes the
// collector's otlp receiver and debug exporter and our five components by
// their modules, this checkout standing in for the released versions. The
// binary it compiles must hold our modules, serve /health, accept an event
// batch and carry the run, and an agent trace sent over OTLP, through the
// processor and the tempo exporter.
//
// The builder compiles static (CGO_ENABLED=0) with -trimpath, as `make build`
// does, so the packages the two distributions share come from the build cache.
func TestE2EConsumerBuild(t *testing.T) {
	root := repoRoot(t)
	out := t.TempDir()
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "consumer", "builder-config.yaml.tmpl"))
	require.NoError(t, err)
	var manifest strings.Builder
	require.NoError(t, tmpl.Execute(&manifest, map[string]string{"Output": out, "Repo": root}))
	manifestPath := filepath.Join(t.TempDir(), "builder-config.yaml")
	require.NoError(t, os.WriteFile(manifestPath, []byte(manifest.String()), 0o600))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	builder := exec.CommandContext(ctx, "go", "tool", "-modfile="+filepath.Join(root, "internal", "tools", "devtools", "go.mod"),
		"builder", "--config", manifestPath)
	builder.Dir = root
	builder.Env = append(os.Environ(), "GOWORK=off")
	started := time.Now()
	logs, err := builder.CombinedOutput()
	require.NoError(t, err, "the Collector Builder failed:\n%s", tail(string(logs), 8000))
	t.Logf("generated, resolved and compiled in %s", time.Since(started).Round(time.Second))
	bin := filepath.Join(out, "otelcol-agents")

	t.Run("components", func(t *testing.T) {
		listed, err := exec.Command(bin, "components").Output()
		require.NoError(t, err)
		type component struct {
			Name   string `yaml:"name"`
			Module string `yaml:"module"`
		}
		var components struct {
			Receivers  []component `yaml:"receivers"`
			Processors []component `yaml:"processors"`
			Exporters  []component `yaml:"exporters"`
			Connectors []component `yaml:"connectors"`
			Extensions []component `yaml:"extensions"`
		}
		require.NoError(t, yaml.Unmarshal(listed, &components))
		got := map[string]string{}
		for kind, list := range map[string][]component{
			"receivers": components.Receivers, "processors": components.Processors, "exporters": components.Exporters,
			"connectors": components.Connectors, "extensions": components.Extensions,
		} {
			for _, c := range list {
				got[kind+"/"+c.Name] = c.Module
			}
		}
		const m = "github.com/promptetheus/otelcol-promptetheus/"
		for id, module := range map[string]string{
			"receivers/promptetheus":   m + "receiver/promptetheusreceiver v0.1.0",
			"processors/promptetheus":  m + "processor/promptetheusprocessor v0.1.0",
			"extensions/agent_rules":   m + "extension/agentrulesextension v0.1.0",
			"connectors/agent_metrics": m + "connector/agentmetricsconnector v0.1.0",
			"exporters/tempo":          m + "exporter/tempoexporter v0.1.0",
			"receivers/otlp":           "go.opentelemetry.io/collector/receiver/otlpreceiver v0.165.0",
			"exporters/debug":          "go.opentelemetry.io/collector/exporter/debugexporter v0.165.0",
			// Only what the manifest names.
			"extensions/health_check":   "",
			"processors/memory_limiter": "",
		} {
			assert.Equal(t, module, got[id], id)
		}
	})

	sink := startTenantSink(t)
	ports := freePorts(t, 2)
	api, otlp := addr(ports[0]), addr(ports[1])
	config := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(config, []byte(fmt.Sprintf(consumerConfig, api, t.TempDir(), otlp, sink.url())), 0o600))
	p := start(t, "otelcol-agents", nil, bin, "--config", config)
	waitHTTP(t, p, "http://"+api+"/health")

	agent := client.New("http://"+api, "pt_acme_key_0123456789")
	s := client.NewSession("consumer_run_1")
	_, err = agent.CreateTrace(ctx, client.CreateTraceRequest{ID: s.ID, Agent: "booking-agent", UserGoal: "Book a room for Tuesday"})
	require.NoError(t, err)
	batch := []client.Event{
		s.Event("tool_call", map[string]any{"tool_name": "search_rooms", "arguments": map[string]any{"day": "Tuesday"}}),
		s.Event("goal_check", map[string]any{"passed": true}),
		s.Event("session_end", map[string]any{"status": "completed"}),
	}
	res, err := agent.AppendEvents(ctx, s.ID, batch)
	require.NoError(t, err)
	require.Equal(t, len(batch), res.Accepted, "%+v", res.Rejected)

	// An agent instrumented with OpenTelemetry, its project a resource
	// attribute (OTEL_RESOURCE_ATTRIBUTES), judged by the processor.
	now := time.Now().UnixNano()
	otlpAgent := strings.Replace(otlpAgentTrace, `{"key":"service.name","value":{"stringValue":"travel-service"}}`,
		`{"key":"service.name","value":{"stringValue":"travel-service"}},{"key":"promptetheus.project.id","value":{"stringValue":"proj_travel"}}`, 1)
	require.NotEqual(t, otlpAgentTrace, otlpAgent)
	postOTLP(t, "http://"+otlp+"/v1/traces", fmt.Sprintf(otlpAgent, now-3e9, now-1e9, now))

	// Each project's spans under its own tenant, with the verdict on the run's
	// root and on the OTLP trace's agent span.
	require.Eventually(t, func() bool {
		return judgedRoot(t, sink, "proj_acme", "") && judgedRoot(t, sink, "proj_travel", "invoke_agent travel-planner")
	}, 30*time.Second, 100*time.Millisecond, "judged spans under both tenants")
	sink.mu.Lock()
	assert.Empty(t, sink.mixed, "no span under another project's tenant")
	sink.mu.Unlock()

	// agent_metrics measured both judged runs; the debug exporter logs what it gets.
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(p.log)
		return strings.Contains(string(b), `"otelcol.signal": "metrics"`)
	}, 30*time.Second, 200*time.Millisecond, "agent metrics through the debug exporter")
}

// judgedRoot says whether the sink holds, under tenant, a span carrying the
// verdict attributes (with name, when it is set).
func judgedRoot(t *testing.T, sink *tenantSink, tenant, name string) bool {
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for _, enc := range sink.spans[tenant] {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(enc)
		require.NoError(t, err)
		span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
		if _, judged := span.Attributes().Get(conventions.AttrFindingCount); judged && (name == "" || span.Name() == name) {
			return true
		}
	}
	return false
}
