// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter/internal/metadata"
)

const projectAttr = "promptetheus.project.id"

// tempoBackend is a real OTLP/HTTP server on loopback standing in for Tempo:
// it decodes every request and files its spans under the request's
// X-Scope-OrgID. It answers status (200 unless set).
type tempoBackend struct {
	t      testing.TB
	srv    *httptest.Server
	status atomic.Int32

	mu       sync.Mutex
	requests int
	headers  []http.Header
	spans    map[string]map[string]int // tenant -> span name -> copies
}

func newTempoBackend(t testing.TB) *tempoBackend {
	b := &tempoBackend{t: t, spans: map[string]map[string]int{}}
	b.status.Store(http.StatusOK)
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *tempoBackend) serve(w http.ResponseWriter, r *http.Request) {
	if status := int(b.status.Load()); status != http.StatusOK {
		w.WriteHeader(status)
		return
	}
	body := io.Reader(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if !assert.NoError(b.t, err) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	require.NoError(b.t, err)
	req := ptraceotlp.NewExportRequest()
	if !assert.NoError(b.t, req.UnmarshalProto(raw)) {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	tenants := r.Header.Values("X-Scope-OrgID")
	assert.LessOrEqual(b.t, len(tenants), 1, "one tenant header per request")
	tenant := r.Header.Get("X-Scope-OrgID")

	b.mu.Lock()
	defer b.mu.Unlock()
	b.requests++
	b.headers = append(b.headers, r.Header.Clone())
	if b.spans[tenant] == nil {
		b.spans[tenant] = map[string]int{}
	}
	rss := req.Traces().ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		if p, ok := rss.At(i).Resource().Attributes().Get(projectAttr); ok && validTenant(p.AsString()) {
			assert.Equal(b.t, p.AsString(), tenant, "a project's spans under another tenant")
		}
		for j := 0; j < rss.At(i).ScopeSpans().Len(); j++ {
			spans := rss.At(i).ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				b.spans[tenant][spans.At(k).Name()]++
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	resp, _ := ptraceotlp.NewExportResponse().MarshalProto()
	_, _ = w.Write(resp)
}

// received returns the spans received per tenant: span name -> copies.
func (b *tempoBackend) received() map[string]map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]map[string]int{}
	for tenant, spans := range b.spans {
		out[tenant] = map[string]int{}
		for name, n := range spans {
			out[tenant][name] = n
		}
	}
	return out
}

// waitFor waits until the backend received exactly want.
func (b *tempoBackend) waitFor(t testing.TB, want map[string]map[string]int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && !assert.ObjectsAreEqual(want, b.received()) {
		time.Sleep(10 * time.Millisecond)
	}
	require.Equal(t, want, b.received())
}

// spanCount is the number of distinct spans received.
func (b *tempoBackend) spanCount() int {
	n := 0
	for _, spans := range b.received() {
		n += len(spans)
	}
	return n
}

// traces builds one resource per project (no attribute for ""), each with
// spans named <project>/<prefix><i>.
func traces(prefix string, spansPerProject int, projects ...string) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, p := range projects {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "agent")
		if p != "" {
			rs.Resource().Attributes().PutStr(projectAttr, p)
		}
		ss := rs.ScopeSpans().AppendEmpty()
		for i := range spansPerProject {
			s := ss.Spans().AppendEmpty()
			s.SetName(fmt.Sprintf("%s/%s%d", p, prefix, i))
			s.SetTraceID([16]byte{1, byte(i)})
			s.SetSpanID([8]byte{2, byte(i)})
		}
	}
	return td
}

// expected is what traces(prefix, n, projects...) delivers: one copy each.
func expected(into map[string]map[string]int, prefix string, n int, projects ...string) map[string]map[string]int {
	if into == nil {
		into = map[string]map[string]int{}
	}
	for _, p := range projects {
		if into[p] == nil {
			into[p] = map[string]int{}
		}
		for i := range n {
			into[p][fmt.Sprintf("%s/%s%d", p, prefix, i)]++
		}
	}
	return into
}

// testConfig sends to the backend with quick retries that never give up.
func testConfig(b *tempoBackend) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.OTLPHTTP.ClientConfig.Endpoint = b.srv.URL
	cfg.OTLPHTTP.RetryConfig = configretry.BackOffConfig{
		Enabled:         true,
		InitialInterval: 10 * time.Millisecond,
		MaxInterval:     50 * time.Millisecond,
		Multiplier:      1.5,
		MaxElapsedTime:  0,
	}
	cfg.OTLPHTTP.QueueConfig.Get().NumConsumers = 2
	return cfg
}

// hostWith is a host serving the given extensions.
type hostWith map[component.ID]component.Component

func (h hostWith) GetExtensions() map[component.ID]component.Component { return h }

var fileStorageID = component.MustNewID("file_storage")

// fileStorageHost starts the real file_storage extension on dir.
func fileStorageHost(t testing.TB, dir string) hostWith {
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return hostWith{fileStorageID: ext}
}

// startExporter creates and starts a tempo exporter reporting to tt.
func startExporter(t testing.TB, cfg *Config, tt *componenttest.Telemetry, host component.Host) *tempoExporter {
	t.Helper()
	set := exporter.Settings{ID: component.NewID(metadata.Type), TelemetrySettings: tt.NewTelemetrySettings(), BuildInfo: component.NewDefaultBuildInfo()}
	exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	return exp.(*tempoExporter)
}

// activeTenants reads the tenants gauge (an up-down counter).
func activeTenants(t testing.TB, tt *componenttest.Telemetry) int64 {
	return sumOf(t, tt, "otelcol_exporter_tempo_tenants")
}

// sumOf adds up the data points of an int sum or gauge whose attributes
// include every filter.
func sumOf(t testing.TB, tt *componenttest.Telemetry, name string, filters ...attribute.KeyValue) int64 {
	t.Helper()
	m, err := tt.GetMetric(name)
	if err != nil {
		return 0
	}
	var points []metricdata.DataPoint[int64]
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		points = d.DataPoints
	case metricdata.Gauge[int64]:
		points = d.DataPoints
	default:
		t.Fatalf("%s is a %T", name, m.Data)
	}
	var total int64
	for _, dp := range points {
		matched := true
		for _, f := range filters {
			v, ok := dp.Attributes.Value(f.Key)
			matched = matched && ok && v == f.Value
		}
		if matched {
			total += dp.Value
		}
	}
	return total
}
