// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// contractSample is one route of the Promptetheus published contract samples.
type contractSample struct {
	Request  json.RawMessage `json:"request"`
	Response json.RawMessage `json:"response"`
	Status   int             `json:"status"`
}

// assertSameShape checks that got has every key of want, recursively, with
// a value of the same JSON kind; keys listed in exact must also be equal.
func assertSameShape(t *testing.T, path string, want, got any, exact map[string]bool) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		require.Truef(t, ok, "%s: want an object, got %T", path, got)
		for k, wv := range w {
			gv, present := g[k]
			require.Truef(t, present, "%s.%s is missing", path, k)
			assertSameShape(t, path+"."+k, wv, gv, exact)
		}
	case []any:
		g, ok := got.([]any)
		require.Truef(t, ok, "%s: want an array, got %T", path, got)
		if len(w) > 0 && len(g) > 0 {
			assertSameShape(t, path+"[0]", w[0], g[0], exact)
		}
	default:
		require.Equalf(t, fmt.Sprintf("%T", want), fmt.Sprintf("%T", got), "%s: JSON kind", path)
	}
	if exact[path] {
		assert.Equalf(t, want, got, "%s", path)
	}
}

func decodeAny(t *testing.T, raw []byte) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(raw, &v), string(raw))
	return v
}

// TestContractSamples replays every ingest route of the published contract
// samples against a live receiver and compares status and response shape.
// The console routes the samples also show (list_sessions, fix_agent,
// regression_run) belong to the Promptetheus console, not to its ingest side.
func TestContractSamples(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "promptetheus-contract", "api_contract_samples.json"))
	require.NoError(t, err)
	var samples map[string]contractSample
	require.NoError(t, json.Unmarshal(raw, &samples))

	// The samples come from a dev workspace "ws_dev" with project "proj_dev".
	s := startReceiver(t, testReceiverConfig(t), nil)

	create := samples["create_trace"]
	r := s.post(t, "/api/traces", testKey, string(create.Request))
	require.Equal(t, create.Status, r.status, string(r.body))
	assertSameShape(t, "", decodeAny(t, create.Response), decodeAny(t, r.body), map[string]bool{
		".trace.id": true, ".trace.workspace_id": true, ".trace.project_id": true, ".trace.user_goal": true, ".trace.agent": true,
	})

	batch := samples["append_events_batch"]
	r = s.post(t, "/api/traces/trace_demo_1/events", testKey, string(batch.Request))
	require.Equal(t, batch.Status, r.status, string(r.body))
	assert.JSONEq(t, string(batch.Response), string(r.body))

	upload := samples["upload_artifact"]
	r = s.post(t, "/api/traces/trace_demo_1/artifacts", testKey, string(upload.Request))
	require.Equal(t, upload.Status, r.status, string(r.body))
	assertSameShape(t, "", decodeAny(t, upload.Response), decodeAny(t, r.body), nil)
	artifact := r.json(t)["artifact"].(map[string]any)
	assert.Regexp(t, regexp.MustCompile(`^artifacts/ws_dev/trace_demo_1/[A-Za-z0-9_.-]+/step-3\.png$`), artifact["storage_path"])

	analyze := samples["analyze"]
	r = s.post(t, "/api/traces/trace_demo_1/analyze", testConsole, "")
	require.Equal(t, analyze.Status, r.status, string(r.body))
	assertSameShape(t, "", decodeAny(t, analyze.Response), decodeAny(t, r.body), map[string]bool{
		".fallback": true, ".analysis.fallback": true,
	})

	bad := samples["error_422_single_event"]
	r = s.post(t, "/api/traces/trace_demo_1/events", testKey, string(bad.Request))
	require.Equal(t, bad.Status, r.status)
	assert.JSONEq(t, string(bad.Response), string(r.body))
}
