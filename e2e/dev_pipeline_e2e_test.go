// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestE2EDevPipelineLeavesOtherTracesAlone sends traces that are no agent's,
// of random shapes (several resources and scopes, orphans, links, events,
// every attribute type, every status), as OTLP/HTTP JSON through the dev
// configuration that `make run` uses, verbatim but for its ports, and reads
// them back from Jaeger: exactly the spans, attributes and status sent.
func TestE2EDevPipelineLeavesOtherTracesAlone(t *testing.T) {
	j := startJaeger(t)
	ports := freePorts(t, 7)
	override := fmt.Sprintf(`
extensions:
  health_check:
    endpoint: %s
receivers:
  promptetheus:
    endpoint: %s
  otlp:
    protocols:
      grpc:
        endpoint: %s
      http:
        endpoint: %s
exporters:
  prometheus:
    endpoint: %s
  debug:
    verbosity: basic
service:
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %d
`, addr(ports[0]), addr(ports[1]), addr(ports[2]), addr(ports[3]), addr(ports[4]), ports[5])
	overridePath := filepath.Join(t.TempDir(), "ports.yaml")
	require.NoError(t, os.WriteFile(overridePath, []byte(override), 0o600))
	c := start(t, "collector", []string{"PROMPTETHEUS_DATA_DIR=" + t.TempDir(), "JAEGER_OTLP_GRPC=" + j.otlpGRPC},
		collectorBinary(t), "--config", filepath.Join(repoRoot(t), "config", "dev.yaml"), "--config", overridePath)
	waitHTTP(t, c, "http://"+addr(ports[0]))

	rng := rand.New(rand.NewPCG(7, 11))
	traces := map[pcommon.TraceID]ptrace.Traces{}
	for i := range 6 {
		id := pcommon.TraceID{0x0e, byte(i), byte(rng.Uint32())}
		traces[id] = randomTrace(rng, id)
	}
	// Each trace is split over two requests, resources apart, as SDKs of
	// several services would send it.
	for half := range 2 {
		req := ptrace.NewTraces()
		for _, td := range traces {
			for k := 0; k < td.ResourceSpans().Len(); k++ {
				if k%2 == half {
					td.ResourceSpans().At(k).CopyTo(req.ResourceSpans().AppendEmpty())
				}
			}
		}
		body, err := (&ptrace.JSONMarshaler{}).MarshalTraces(req)
		require.NoError(t, err)
		resp, err := http.Post("http://"+addr(ports[3])+"/v1/traces", "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}

	for id, sent := range traces {
		j.waitTrace(t, id.String(), sent.SpanCount())
	}
	time.Sleep(2 * time.Second) // the processor's decision_wait: anything it added would show now
	for id, sent := range traces {
		assertDelivered(t, j.fullTrace(t, id.String()), sent, false)
	}
}

// randomTrace is a trace of no agent: plain service spans of random shape.
func randomTrace(rng *rand.Rand, id pcommon.TraceID) ptrace.Traces {
	td := ptrace.NewTraces()
	words := []string{"GET /cart", "SELECT orders", "publish", "render", "cache.get", "POST /pay", "resize"}
	var ids []pcommon.SpanID
	base := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	for r := range 1 + rng.IntN(3) {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r))
		rs.Resource().Attributes().PutStr("deployment.environment.name", "prod")
		for s := range 1 + rng.IntN(2) {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(fmt.Sprintf("lib-%d", s))
			ss.Scope().SetVersion("1.2.3")
			for range 2 + rng.IntN(5) {
				span := ss.Spans().AppendEmpty()
				span.SetTraceID(id)
				sid := pcommon.SpanID{byte(len(ids) + 1), byte(rng.Uint32()), 7}
				span.SetSpanID(sid)
				switch {
				case len(ids) == 0:
				case rng.IntN(6) == 0:
					span.SetParentSpanID(pcommon.SpanID{0xde, 0xad}) // its parent is in no one's hands
				default:
					span.SetParentSpanID(ids[rng.IntN(len(ids))])
				}
				ids = append(ids, sid)
				span.SetName(words[rng.IntN(len(words))])
				span.SetKind(ptrace.SpanKind(rng.IntN(6)))
				start := base.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
				span.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
				span.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(1+rng.IntN(500)) * time.Millisecond)))
				switch rng.IntN(3) {
				case 1:
					span.Status().SetCode(ptrace.StatusCodeOk)
				case 2:
					span.Status().SetCode(ptrace.StatusCodeError)
					span.Status().SetMessage("upstream timed out")
				}
				attrs := span.Attributes()
				attrs.PutStr("http.route", "/cart/{id}")
				attrs.PutInt("http.response.status_code", int64(200+rng.IntN(400)))
				attrs.PutDouble("app.ratio", rng.Float64())
				attrs.PutBool("app.cached", rng.IntN(2) == 0)
				tags := attrs.PutEmptySlice("app.tags")
				tags.AppendEmpty().SetStr("a")
				tags.AppendEmpty().SetStr("b")
				if rng.IntN(2) == 0 {
					ev := span.Events().AppendEmpty()
					ev.SetName("retry")
					ev.SetTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Millisecond)))
					ev.Attributes().PutInt("attempt", 2)
				}
				if len(ids) > 2 && rng.IntN(3) == 0 {
					link := span.Links().AppendEmpty()
					link.SetTraceID(pcommon.TraceID{0x11})
					link.SetSpanID(pcommon.SpanID{0x22})
				}
			}
		}
	}
	return td
}
