// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
)

const referenceURL = "http://127.0.0.1:4318"

// snippet reads a snippet of the API reference and checks it is verbatim.
func snippet(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "testdata", "apiref")
	page, err := os.ReadFile(filepath.Join(dir, "api-examples.txt"))
	require.NoError(t, err)
	body, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	s := strings.TrimRight(string(body), "\n")
	require.Contains(t, string(page), s, "%s must be a verbatim snippet of the API reference", name)
	return s
}

// runCurl runs a curl snippet against the collector under test: only the
// reference's base URL is replaced by the test's address.
func runCurl(t *testing.T, dir, base, script string) map[string]any {
	t.Helper()
	cmd := exec.Command("bash", "-c", strings.ReplaceAll(script, referenceURL, base)+" --fail-with-body")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	var body map[string]any
	require.NoError(t, json.Unmarshal(out, &body), string(out))
	return body
}

func writePNG(t *testing.T, path string) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	img.Set(3, 3, color.RGBA{R: 255, A: 255})
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	return buf.Bytes()
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

func hexTraceID(project, run string) string {
	id := mapping.TraceID(project, run)
	return id.String()
}

func TestE2EAPIReferenceSnippets(t *testing.T) {
	j := startJaeger(t)
	c := startCollector(t, collectorOptions{
		exporters: map[string]string{"otlp_grpc/jaeger": jaegerExporter(j)},
	})
	base := "http://" + c.api
	work := t.TempDir()
	shot := writePNG(t, filepath.Join(work, "screenshot.png"))

	created := runCurl(t, work, base, snippet(t, "create_trace.sh"))
	assert.Equal(t, "trace_curl_1", created["trace"].(map[string]any)["id"])
	appended := runCurl(t, work, base, snippet(t, "append_events.sh"))
	assert.Equal(t, map[string]any{"accepted": 1.0, "rejected": []any{}}, appended)

	// The "Generic event batch" is a body; it is sent like the append snippet.
	events := snippet(t, "events.json")
	appendScript := snippet(t, "append_events.sh")
	batchScript := appendScript[:strings.Index(appendScript, "-d '")] + "-d @events.json"
	require.NoError(t, os.WriteFile(filepath.Join(work, "events.json"), []byte(events), 0o600))
	assert.Equal(t, 1.0, runCurl(t, work, base, batchScript)["accepted"])

	uploaded := runCurl(t, work, base, snippet(t, "upload_artifact.sh"))["artifact"].(map[string]any)
	assert.Equal(t, "screenshot.png", uploaded["filename"])
	assert.EqualValues(t, len(shot), uploaded["size_bytes"])

	// A retry of the append snippet: accepted again, never emitted twice.
	spansBefore := c.metric(t, "otelcol_receiver_accepted_spans", `receiver="promptetheus"`)
	assert.Equal(t, 1.0, runCurl(t, work, base, appendScript)["accepted"])
	assert.Equal(t, spansBefore, c.metric(t, "otelcol_receiver_accepted_spans", `receiver="promptetheus"`))

	analysis := runCurl(t, work, base, snippet(t, "analyze.sh"))["analysis"].(map[string]any)
	assert.Equal(t, "trace_curl_1", analysis["trace_id"])
	cost, ok := analysis["cost_usd"].(float64)
	require.True(t, ok, "the gpt-5 call is priced: %v", analysis["cost_usd"])
	assert.Greater(t, cost, 0.0)

	// The uploaded bytes are served back.
	download := exec.Command("curl", "-sS", "--fail-with-body", "-H", "Authorization: Bearer pt_dev_key", base+uploaded["uri"].(string))
	got, err := download.Output()
	require.NoError(t, err)
	assert.Equal(t, shot, got)

	traceID := hexTraceID("proj_acmemeet", "trace_curl_1")
	require.Equal(t, traceID, analysis["otlp_trace_id"])
	findings := analysis["findings"].([]any)
	spans := j.waitTrace(t, traceID, 4+len(findings))
	byName := map[string]jaegerSpan{}
	ids := map[string]bool{}
	var findingSpans int
	for _, s := range spans {
		require.False(t, ids[s.SpanID], "span %s appears twice", s.SpanID)
		ids[s.SpanID] = true
		byName[s.OperationName] = s
		if strings.HasPrefix(s.OperationName, "rule_finding ") {
			findingSpans++
		}
	}
	require.Len(t, spans, 4+len(findings), "root, user_message, chat, artifact and the findings")
	assert.Equal(t, len(findings), findingSpans)
	// The reference page never sends seq 1: the processor notices.
	assert.Equal(t, "seq_gap", byName["rule_finding seq_gap"].tag("promptetheus.finding.rule_id"))
	root := byName["invoke_agent demo-agent"]
	require.NotEmpty(t, root.SpanID)
	assert.Empty(t, root.parent())
	assert.Equal(t, "invoke_agent", root.tag("gen_ai.operation.name"))
	assert.Equal(t, "demo-agent", root.tag("gen_ai.agent.name"))
	assert.Equal(t, "Book a room for Tuesday", root.tag("promptetheus.user_goal"))
	assert.EqualValues(t, 240, root.tag("gen_ai.usage.input_tokens"))
	assert.Equal(t, "analyze", root.tag("promptetheus.finalized_by"))

	chat := byName["chat gpt-5"]
	assert.Equal(t, root.SpanID, chat.parent())
	assert.Equal(t, "client", chat.tag("span.kind"))
	assert.Equal(t, "chat", chat.tag("gen_ai.operation.name"))
	assert.Equal(t, "gpt-5", chat.tag("gen_ai.request.model"))
	assert.Equal(t, "openai", chat.tag("gen_ai.provider.name"))
	assert.EqualValues(t, 80, chat.tag("gen_ai.usage.output_tokens"))
	assert.Equal(t, "prompt_01", chat.tag("gen_ai.prompt.name"))
	assert.InDelta(t, cost, chat.tag("promptetheus.cost.usd"), 1e-12, "the call's cost, the run's only priced call")
	assert.InDelta(t, cost, root.tag("promptetheus.cost.usd"), 1e-12, "and the run total on the root")

	msg := byName["user_message"]
	assert.Equal(t, root.SpanID, msg.parent())
	assert.EqualValues(t, 0, msg.tag("promptetheus.event.seq"))
	assert.Equal(t, "trace_curl_1", msg.tag("promptetheus.trace.id"))

	art := byName["artifact screenshot"]
	assert.Equal(t, root.SpanID, art.parent())
	assert.Equal(t, uploaded["sha256"], art.tag("promptetheus.artifact.sha256"))
}

func TestE2EPythonSnippet(t *testing.T) {
	python := "/usr/bin/python3" // Debian's python3-httpx installs for it; .ci/run installs the package
	check := exec.Command(python, "-c", "import httpx")
	out, err := check.CombinedOutput()
	require.NoError(t, err, "the Python snippet needs Debian's python3-httpx (apt-get install python3-httpx): %s", out)

	dir := filepath.Join(repoRoot(t), "testdata", "apiref")
	page, err := os.ReadFile(filepath.Join(dir, "api-examples.txt"))
	require.NoError(t, err)
	script, err := os.ReadFile(filepath.Join(dir, "agent.py"))
	require.NoError(t, err)
	code := string(script)[strings.Index(string(script), "import os"):]
	require.Contains(t, stripSpace(string(page)), stripSpace(code), "agent.py is the reference snippet, re-indented only")

	j := startJaeger(t)
	c := startCollector(t, collectorOptions{
		exporters: map[string]string{"otlp_grpc/jaeger": jaegerExporter(j)},
	})
	run := exec.Command(python, filepath.Join(dir, "agent.py"))
	run.Env = append(os.Environ(), "PROMPTETHEUS_API_KEY=pt_dev_key", "PROMPTETHEUS_API_URL=http://"+c.api)
	out, err = run.CombinedOutput()
	require.NoError(t, err, string(out))

	work := t.TempDir()
	analyze := strings.ReplaceAll(snippet(t, "analyze.sh"), "trace_curl_1", "trace_python_1")
	analysis := runCurl(t, work, "http://"+c.api, analyze)["analysis"].(map[string]any)
	goal := analysis["goal"].(map[string]any)
	assert.Equal(t, false, goal["passed"])
	assert.Equal(t, []any{"Selected 2:00 AM instead of 2:00 PM"}, goal["mismatches"])
	assert.Contains(t, analysis["labels"], "browser_goal_mismatch")
	assert.Equal(t, 0.9, analysis["confidence"])
	assert.Equal(t, `the browser action at step 1 contradicted the requested booking constraints for goal "Book Tuesday at 2pm Pacific, but stop at confirmation"; root cause: no final browser-state verification before claiming success.`, analysis["root_cause"])
	var mismatch map[string]any
	for _, f := range analysis["findings"].([]any) {
		if f.(map[string]any)["rule_id"] == "browser_goal_mismatch" {
			mismatch = f.(map[string]any)
		}
	}
	require.NotNil(t, mismatch)

	// The same verdict is in the backend: the root in ERROR, a finding span
	// under the goal_check with the id analyze reported.
	spans := j.waitTrace(t, hexTraceID("proj_acmemeet", "trace_python_1"), 4)
	var root, check2, finding jaegerSpan
	for _, s := range spans {
		switch s.OperationName {
		case "invoke_agent browser-agent":
			root = s
		case "goal_check":
			check2 = s
		case "rule_finding browser_goal_mismatch":
			finding = s
		}
	}
	assert.Equal(t, mismatch["finding_span_id"], finding.SpanID)
	assert.Equal(t, check2.SpanID, finding.parent())
	assert.EqualValues(t, len(analysis["findings"].([]any)), root.tag("promptetheus.finding.count"))
	assert.Equal(t, []any{"browser_goal_mismatch"}, decodeJSONTag(t, root.tag("promptetheus.analysis.labels")))
	assert.Equal(t, true, root.tag("error"))
	assert.Equal(t, "goal_check_failed", root.tag("error.type"))
	assert.Equal(t, "Selected 2:00 AM instead of 2:00 PM", root.tag("otel.status_description"))
	assert.Equal(t, false, check2.tag("promptetheus.goal.passed"))
	require.Len(t, check2.Logs, 1, "the gen_ai.evaluation.result event")
	fields := map[string]any{}
	for _, f := range check2.Logs[0].Fields {
		fields[f.Key] = f.Value
	}
	assert.Equal(t, "gen_ai.evaluation.result", fields["event"])
	assert.Equal(t, "fail", fields["gen_ai.evaluation.score.label"])
}

// withProcessor puts the promptetheus processor in the pipeline, with the
// rules the receiver uses, as config/dev.yaml does.
func withProcessor(o collectorOptions) collectorOptions {
	o.processors = []string{"memory_limiter", "promptetheus"}
	o.processorYAML = "promptetheus:\n  rules: agent_rules\n  decision_wait: 1s\n"
	return o
}

// decodeJSONTag reads an array attribute, which Jaeger renders as JSON.
func decodeJSONTag(t *testing.T, v any) any {
	s, ok := v.(string)
	require.True(t, ok, "%v", v)
	var out any
	require.NoError(t, json.Unmarshal([]byte(s), &out))
	return out
}
