// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptetheus/otelcol-promptetheus/client"
)

// otlpAgentTrace is an agent instrumented with the GenAI semantic
// conventions, sent as OTLP/HTTP JSON: an invoke_agent root (sent last, as
// SDKs end it last) with a chat call, a chat call that timed out and a tool
// call.
const otlpAgentTrace = `{"resourceSpans":[{"resource":{"attributes":[
 {"key":"service.name","value":{"stringValue":"travel-service"}}]},
 "scopeSpans":[{"scope":{"name":"opentelemetry.instrumentation.openai_agents"},"spans":[
  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","parentSpanId":"eee19b7ec3c1b174",
   "name":"chat gpt-4o","kind":3,"startTimeUnixNano":"%[1]d","endTimeUnixNano":"%[2]d","attributes":[
   {"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
   {"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},
   {"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},
   {"key":"gen_ai.response.model","value":{"stringValue":"gpt-4o-2024-08-06"}},
   {"key":"server.address","value":{"stringValue":"api.openai.com"}},
   {"key":"server.port","value":{"intValue":"443"}},
   {"key":"gen_ai.usage.input_tokens","value":{"intValue":"1200"}},
   {"key":"gen_ai.usage.output_tokens","value":{"intValue":"300"}}]},
  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b177","parentSpanId":"eee19b7ec3c1b174",
   "name":"chat gpt-4o","kind":3,"startTimeUnixNano":"%[1]d","endTimeUnixNano":"%[2]d","status":{"code":2},"attributes":[
   {"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
   {"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},
   {"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},
   {"key":"error.type","value":{"stringValue":"timeout"}}]},
  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b176","parentSpanId":"eee19b7ec3c1b174",
   "name":"execute_tool get_weather","kind":1,"startTimeUnixNano":"%[2]d","endTimeUnixNano":"%[3]d","attributes":[
   {"key":"gen_ai.operation.name","value":{"stringValue":"execute_tool"}},
   {"key":"gen_ai.tool.name","value":{"stringValue":"get_weather"}},
   {"key":"gen_ai.tool.call.id","value":{"stringValue":"call_1"}}]},
  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
   "name":"invoke_agent travel-planner","kind":1,"startTimeUnixNano":"%[1]d","endTimeUnixNano":"%[3]d","attributes":[
   {"key":"gen_ai.operation.name","value":{"stringValue":"invoke_agent"}},
   {"key":"gen_ai.agent.name","value":{"stringValue":"travel-planner"}}]}]}]}]}`

// webTrace is a plain web request: no agent, no LLM call.
const webTrace = `{"resourceSpans":[{"resource":{"attributes":[
 {"key":"service.name","value":{"stringValue":"checkout-web"}}]},
 "scopeSpans":[{"scope":{"name":"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"},"spans":[
  {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203332","parentSpanId":"b7ad6b7169203331",
   "name":"POST","kind":3,"startTimeUnixNano":"%[1]d","endTimeUnixNano":"%[2]d","attributes":[
   {"key":"server.address","value":{"stringValue":"payments.internal"}},
   {"key":"http.request.method","value":{"stringValue":"POST"}}]},
  {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331",
   "name":"GET /checkout","kind":2,"startTimeUnixNano":"%[1]d","endTimeUnixNano":"%[3]d","attributes":[
   {"key":"http.request.method","value":{"stringValue":"GET"}},
   {"key":"http.response.status_code","value":{"intValue":"200"}}]}]}]}]}`

// TestE2EAgentMetricsInPrometheus sends runs through the Promptetheus API
// and an agent trace and a web request over OTLP to the built collector;
// a real Prometheus scrapes the agent_metrics connector's prometheus exporter
// and the collector's own telemetry, loads deploy/'s alert rules, and
// answers PromQL with the exact counts sent.
func TestE2EAgentMetricsInPrometheus(t *testing.T) {
	ports := freePorts(t, 2)
	metricsAddr, otlpAddr := addr(ports[0]), addr(ports[1])
	opts := withProcessor(collectorOptions{
		agentMetrics:      metricsAddr,
		receiverExtra:     "sessions:\n  idle_timeout: 2s\n",
		extraReceivers:    "otlp:\n  protocols:\n    http:\n      endpoint: " + otlpAddr + "\n",
		pipelineReceivers: []string{"promptetheus", "otlp"},
	})
	c := startCollector(t, opts)
	rules, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "prometheus", "rules", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, rules, "deploy/prometheus/rules holds the alert rules")
	prom := startPrometheus(t, map[string]string{"agent_metrics": metricsAddr, "otelcol": c.metrics}, rules...)

	// Runs through the Promptetheus API: 3 passed, 2 failed, 3 without a goal
	// check (one of them loops), and 1 passed run that never ends and is
	// finalised by the idle timeout. Every run makes one gpt-5 call.
	ctx := context.Background()
	agent := client.New("http://"+c.api, "pt_dev_key")
	llm := map[string]any{"model": "gpt-5", "input_tokens": 100, "output_tokens": 20, "latency_ms": 800}
	type run struct {
		agent string
		goal  *bool
		loop  bool
		noEnd bool
	}
	passed, failed := true, false
	var runs []run
	for range 3 {
		runs = append(runs, run{agent: "booking-agent", goal: &passed})
	}
	for range 2 {
		runs = append(runs, run{agent: "booking-agent", goal: &failed})
	}
	for i := range 3 {
		runs = append(runs, run{agent: "support-agent", loop: i == 0})
	}
	runs = append(runs, run{agent: "idle-agent", goal: &passed, noEnd: true})
	for i, r := range runs {
		s := client.NewSession(fmt.Sprintf("metrics_run_%d", i))
		_, err := agent.CreateTrace(ctx, client.CreateTraceRequest{ID: s.ID, Agent: r.agent, UserGoal: "Book a room for Tuesday"})
		require.NoError(t, err)
		events := []client.Event{s.Event("llm_call", llm)}
		if r.loop {
			for range 3 {
				events = append(events, s.Event("tool_call", map[string]any{"tool_name": "search_rooms", "arguments": map[string]any{"day": "Tuesday"}}))
			}
		}
		if r.goal != nil {
			goal := map[string]any{"passed": *r.goal}
			if !*r.goal {
				goal["mismatches"] = []string{"booked Wednesday"}
			}
			events = append(events, s.Event("goal_check", goal))
		}
		if !r.noEnd {
			events = append(events, s.Event("session_end", map[string]any{"status": "completed"}))
		}
		res, err := agent.AppendEvents(ctx, s.ID, events)
		require.NoError(t, err)
		require.Equal(t, len(events), res.Accepted, "%+v", res.Rejected)
	}

	// Over OTLP/HTTP JSON: a web request, then an agent judged by the
	// processor. The pipeline is synchronous, so once the agent's run shows
	// in Prometheus anything the web request yielded would show too.
	now := time.Now().UnixNano()
	postOTLP(t, "http://"+otlpAddr+"/v1/traces", fmt.Sprintf(webTrace, now-2e8, now-1e8, now))
	postOTLP(t, "http://"+otlpAddr+"/v1/traces", fmt.Sprintf(otlpAgentTrace, now-3e9, now-1e9, now))

	t.Run("runs by outcome", func(t *testing.T) {
		for outcome, want := range map[string]float64{"passed": 4, "failed": 2, "unknown": 3} {
			prom.waitValue(t, `sum(promptetheus_agent_runs_total{promptetheus_project_id="proj_acmemeet", promptetheus_run_outcome="`+outcome+`"})`, want)
		}
		prom.waitValue(t, `promptetheus_agent_runs_total{gen_ai_agent_name="booking-agent", promptetheus_run_outcome="passed"}`, 3)
		prom.waitValue(t, `promptetheus_agent_runs_total{gen_ai_agent_name="idle-agent", promptetheus_run_outcome="passed"}`, 1)
		prom.waitValue(t, `sum(promptetheus_agent_run_duration_seconds_count{promptetheus_project_id="proj_acmemeet"})`, 9)
	})
	t.Run("LLM calls", func(t *testing.T) {
		gpt5 := `gen_ai_operation_name="chat", gen_ai_provider_name="openai", gen_ai_request_model="gpt-5"`
		prom.waitValue(t, `sum(gen_ai_client_token_usage_sum{`+gpt5+`, gen_ai_token_type="input"})`, 900)
		prom.waitValue(t, `sum(gen_ai_client_token_usage_sum{`+gpt5+`, gen_ai_token_type="output"})`, 180)
		prom.waitValue(t, `sum(gen_ai_client_token_usage_count{`+gpt5+`, gen_ai_token_type="output"})`, 9)
		// 100 input tokens are in the bucket (64, 256].
		prom.waitValue(t, `sum(gen_ai_client_token_usage_bucket{`+gpt5+`, gen_ai_token_type="input", le="64"})`, 0)
		prom.waitValue(t, `sum(gen_ai_client_token_usage_bucket{`+gpt5+`, gen_ai_token_type="input", le="256"})`, 9)
		prom.waitValue(t, `sum(gen_ai_client_operation_duration_seconds_count{`+gpt5+`})`, 9)
		prom.waitValue(t, `gen_ai_client_token_usage_sum{gen_ai_request_model="gpt-4o", gen_ai_response_model="gpt-4o-2024-08-06", `+
			`gen_ai_token_type="output", server_address="api.openai.com", server_port="443"}`, 300)
		prom.waitValue(t, `sum(gen_ai_client_operation_duration_seconds_count{gen_ai_request_model="gpt-4o", error_type="timeout"})`, 1)
		prom.waitValue(t, `sum(gen_ai_client_operation_duration_seconds_count{gen_ai_request_model="gpt-4o", error_type=""})`, 1)
	})
	t.Run("loop finding", func(t *testing.T) {
		prom.waitValue(t, `sum(promptetheus_agent_findings_total{gen_ai_agent_name="support-agent", promptetheus_finding_rule_id="loop"})`, 1)
	})
	t.Run("OTLP agent run judged by the processor", func(t *testing.T) {
		// No project for OTLP sources: the label is absent.
		prom.waitValue(t, `sum(promptetheus_agent_runs_total{gen_ai_agent_name="travel-planner", promptetheus_project_id="", promptetheus_run_outcome="unknown"})`, 1)
	})
	t.Run("runs finalised by the idle timeout", func(t *testing.T) {
		prom.waitValue(t, `otelcol_receiver_promptetheus_traces_finalized{finalized_by="idle_timeout"}`, 1)
	})
	t.Run("cost of priced calls", func(t *testing.T) {
		prom.waitValue(t, `count(sum(promptetheus_agent_cost_USD_total{gen_ai_agent_name="booking-agent", gen_ai_request_model="gpt-5"}) > 0)`, 1)
	})
	t.Run("the web request yields no metric", func(t *testing.T) {
		prom.waitValue(t, `count(promptetheus_agent_runs_total{gen_ai_agent_name="travel-planner"})`, 1)
		assert.Empty(t, prom.query(t, `{gen_ai_agent_name="checkout-web"}`))
		assert.Empty(t, prom.query(t, `{server_address="payments.internal"}`))
	})
	t.Run("dashboard queries answer", func(t *testing.T) {
		// Every Prometheus panel on the agent metrics, as Grafana would send
		// it with "All" selected, answers with data.
		// rate() and increase() need two samples of a series: give
		// Prometheus a few scrapes after the last count changed.
		for _, q := range dashboardAgentQueries(t) {
			assert.Eventually(t, func() bool { return len(prom.query(t, q)) > 0 }, 20*time.Second, 250*time.Millisecond, q)
		}
	})
	t.Run("alert rules evaluate", func(t *testing.T) {
		var data struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		}
		require.Eventually(t, func() bool {
			prom.api(t, "/api/v1/rules", url.Values{}, &data)
			for _, g := range data.Groups {
				for _, r := range g.Rules {
					if r.Health == "unknown" {
						return false
					}
				}
			}
			return len(data.Groups) > 0
		}, 30*time.Second, 250*time.Millisecond)
		for _, g := range data.Groups {
			for _, r := range g.Rules {
				assert.Equal(t, "ok", r.Health, "%s/%s: %s", g.Name, r.Name, r.LastError)
			}
		}
	})
}

func postOTLP(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader([]byte(strings.ReplaceAll(body, "\n", ""))))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// dashboardAgentQueries returns the dashboard's PromQL queries on the
// collector's metrics (not Tempo's span metrics), its variables replaced.
func dashboardAgentQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "grafana", "dashboards", "promptetheus-agents.json"))
	require.NoError(t, err)
	var dashboard struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dashboard))
	vars := strings.NewReplacer("$__range", "1h", "$__rate_interval", "1m", "$project", ".*", "$agent", ".*")
	var out []string
	for _, p := range dashboard.Panels {
		for _, tg := range p.Targets {
			if tg.Expr != "" && !strings.Contains(tg.Expr, "traces_spanmetrics") {
				out = append(out, vars.Replace(tg.Expr))
			}
		}
	}
	require.GreaterOrEqual(t, len(out), 10)
	return out
}
