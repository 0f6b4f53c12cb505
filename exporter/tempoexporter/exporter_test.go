// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter/internal/metadatatest"
)

// received is one request as the backend saw it.
type received struct {
	at       time.Time
	tenant   string
	hasOrgID bool
	header   http.Header
	td       ptrace.Traces
}

// backend is a real OTLP/HTTP server on loopback that decodes every request
// and answers with respond (200 when nil).
type backend struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []received
	respond func(w http.ResponseWriter, r received, attempt int) bool
}

func newBackend(t *testing.T, respond func(w http.ResponseWriter, r received, attempt int) bool) *backend {
	b := &backend{t: t, respond: respond}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	assert.Equal(b.t, http.MethodPost, r.Method)
	assert.Equal(b.t, "/v1/traces", r.URL.Path)
	assert.Equal(b.t, "application/x-protobuf", r.Header.Get("Content-Type"))
	assert.Equal(b.t, "gzip", r.Header.Get("Content-Encoding"))
	zr, err := gzip.NewReader(r.Body)
	if !assert.NoError(b.t, err) {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	raw, err := io.ReadAll(zr)
	require.NoError(b.t, err)
	req := ptraceotlp.NewExportRequest()
	if !assert.NoError(b.t, req.UnmarshalProto(raw)) {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	_, has := r.Header[http.CanonicalHeaderKey("X-Scope-OrgID")]
	rec := received{at: time.Now(), tenant: r.Header.Get("X-Scope-OrgID"), hasOrgID: has, header: r.Header.Clone(), td: req.Traces()}

	b.mu.Lock()
	attempt := 0
	for _, p := range b.reqs {
		if p.tenant == rec.tenant {
			attempt++
		}
	}
	b.reqs = append(b.reqs, rec)
	b.mu.Unlock()

	if b.respond != nil && b.respond(w, rec, attempt) {
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := ptraceotlp.NewExportResponse().MarshalProto()
	_, _ = w.Write(out)
}

func (b *backend) requests() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.reqs...)
}

// perTenant counts requests by tenant header.
func (b *backend) perTenant() map[string]int {
	n := map[string]int{}
	for _, r := range b.requests() {
		n[r.tenant]++
	}
	return n
}

// testConfig sends synchronously (no queue) so ConsumeTraces returns the
// final error, and retries fast.
func testConfig(endpoint string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = endpoint
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.RetryConfig = configretry.BackOffConfig{
		Enabled:             true,
		InitialInterval:     10 * time.Millisecond,
		RandomizationFactor: 0,
		Multiplier:          1,
		MaxInterval:         10 * time.Millisecond,
		MaxElapsedTime:      10 * time.Second,
	}
	return cfg
}

func startExporter(t *testing.T, cfg *Config, tt *componenttest.Telemetry) exporter.Traces {
	t.Helper()
	require.NoError(t, cfg.Validate())
	exp, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return exp
}

func newTelemetry(t *testing.T) *componenttest.Telemetry {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	return tt
}

// addResource appends a resource with the given tenant attribute (none when
// tenant is empty) and one span per name.
func addResource(td ptrace.Traces, tenant string, spanNames ...string) ptrace.ResourceSpans {
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "agent")
	if tenant != "" {
		rs.Resource().Attributes().PutStr("promptetheus.project.id", tenant)
	}
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i, name := range spanNames {
		s := spans.AppendEmpty()
		s.SetName(name)
		s.SetTraceID(pcommon.TraceID{1, byte(len(name)), byte(i)})
		s.SetSpanID(pcommon.SpanID{2, byte(i)})
	}
	return rs
}

// spanNames lists span names of td with the tenant attribute of their
// resource, as "tenant/name", sorted.
func spanNames(td ptrace.Traces) []string {
	var out []string
	for _, rs := range td.ResourceSpans().All() {
		tenant := ""
		if v, ok := rs.Resource().Attributes().Get("promptetheus.project.id"); ok {
			tenant = v.AsString()
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				out = append(out, tenant+"/"+s.Name())
			}
		}
	}
	sort.Strings(out)
	return out
}

func outcome(v string) attribute.Set { return attribute.NewSet(attribute.String("outcome", v)) }

func TestTwoTenantsOneBatch(t *testing.T) {
	be := newBackend(t, nil)
	tt := newTelemetry(t)
	exp := startExporter(t, testConfig(be.srv.URL), tt)

	td := ptrace.NewTraces()
	addResource(td, "proj_a", "a1", "a2")
	addResource(td, "proj_b", "b1")
	addResource(td, "proj_a", "a3")
	td.MarkReadOnly() // as in a fanout: the exporter must not write to it
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))

	reqs := be.requests()
	require.Len(t, reqs, 2)
	got := map[string][]string{}
	for _, r := range reqs {
		got[r.tenant] = spanNames(r.td)
		// every resource of a request belongs to the request's tenant
		for _, rs := range r.td.ResourceSpans().All() {
			v, _ := rs.Resource().Attributes().Get("promptetheus.project.id")
			assert.Equal(t, r.tenant, v.Str())
		}
		assert.Contains(t, r.header.Get("User-Agent"), "/")
	}
	assert.Equal(t, map[string][]string{
		"proj_a": {"proj_a/a1", "proj_a/a2", "proj_a/a3"},
		"proj_b": {"proj_b/b1"},
	}, got)
	assert.Equal(t, "proj_a", reqs[0].tenant, "tenants are sent in order of first appearance")

	metadatatest.AssertEqualExporterTempoRequests(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: outcome("success"), Value: 2},
	}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

func TestMissingTenant(t *testing.T) {
	t.Run("default tenant", func(t *testing.T) {
		be := newBackend(t, nil)
		cfg := testConfig(be.srv.URL)
		cfg.Tenant.Default = "shared"
		exp := startExporter(t, cfg, newTelemetry(t))

		td := ptrace.NewTraces()
		addResource(td, "", "missing")
		addResource(td, "proj_a", "a1")
		// invalid values are treated as missing: header injection, pipe,
		// too long, wrong type
		addResource(td, "proj\r\nX-Evil: 1", "crlf")
		addResource(td, "a|b", "pipe")
		addResource(td, strings.Repeat("x", 151), "long")
		addResource(td, "", "bool").Resource().Attributes().PutBool("promptetheus.project.id", true)
		require.NoError(t, exp.ConsumeTraces(context.Background(), td))

		got := map[string]int{}
		for _, r := range be.requests() {
			got[r.tenant] += r.td.SpanCount()
			assert.Empty(t, r.header.Get("X-Evil"))
		}
		assert.Equal(t, map[string]int{"shared": 5, "proj_a": 1}, got)
	})

	t.Run("no default drops and counts", func(t *testing.T) {
		be := newBackend(t, nil)
		tt := newTelemetry(t)
		exp := startExporter(t, testConfig(be.srv.URL), tt)

		td := ptrace.NewTraces()
		addResource(td, "", "m1", "m2")
		addResource(td, "proj_a", "a1")
		addResource(td, "bad tenant", "m3")
		require.NoError(t, exp.ConsumeTraces(context.Background(), td))
		reqs := be.requests()
		require.Len(t, reqs, 1)
		assert.Equal(t, []string{"proj_a/a1"}, spanNames(reqs[0].td))

		// nothing left to send: no request at all
		td = ptrace.NewTraces()
		addResource(td, "", "m4")
		require.NoError(t, exp.ConsumeTraces(context.Background(), td))
		assert.Len(t, be.requests(), 1)

		metadatatest.AssertEqualExporterTempoSpansDroppedNoTenant(t, tt, []metricdata.DataPoint[int64]{{Value: 4}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	})
}

func TestTenantDisabled(t *testing.T) {
	be := newBackend(t, nil)
	cfg := testConfig(be.srv.URL)
	cfg.Tenant.Enabled = false
	cfg.Tenant.Default = "ignored"
	exp := startExporter(t, cfg, newTelemetry(t))

	td := ptrace.NewTraces()
	addResource(td, "proj_a", "a1")
	addResource(td, "proj_b", "b1")
	addResource(td, "", "none")
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))

	reqs := be.requests()
	require.Len(t, reqs, 1, "plain OTLP/HTTP: one request per push")
	assert.False(t, reqs[0].hasOrgID, "no tenant header")
	assert.Equal(t, []string{"/none", "proj_a/a1", "proj_b/b1"}, spanNames(reqs[0].td))
}

func TestCustomTenantHeader(t *testing.T) {
	var got []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("X-Tenant")+"|"+r.Header.Get("X-Scope-OrgID"))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	cfg := testConfig(srv.URL)
	cfg.Tenant.Header = "X-Tenant"
	cfg.Tenant.ResourceAttribute = "service.namespace"
	exp := startExporter(t, cfg, newTelemetry(t))

	td := ptrace.NewTraces()
	addResource(td, "", "s").Resource().Attributes().PutStr("service.namespace", "team1")
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	assert.Equal(t, []string{"team1|"}, got)
}

func TestTruncation(t *testing.T) {
	be := newBackend(t, nil)
	tt := newTelemetry(t)
	cfg := testConfig(be.srv.URL)
	cfg.MaxAttributeLength = 10
	exp := startExporter(t, cfg, tt)

	long := strings.Repeat("a", 20)
	// 9 ASCII bytes then "é" (2 bytes): a cut at 10 would split the "é".
	utf := strings.Repeat("a", 9) + "é" + "tail"
	td := ptrace.NewTraces()
	rs := addResource(td, "proj_a", "s")
	rs.Resource().Attributes().PutStr("res.long", long)
	span := rs.ScopeSpans().At(0).Spans().At(0)
	span.Attributes().PutStr("utf", utf)
	span.Attributes().PutStr("short", "ok")
	span.Attributes().PutInt("int", 1234567890123)
	sl := span.Attributes().PutEmptySlice("slice")
	sl.AppendEmpty().SetStr(long)
	sl.AppendEmpty().SetStr("ok")
	span.Attributes().PutEmptyMap("map").PutEmptyMap("nested").PutStr("k", long)
	span.Events().AppendEmpty().Attributes().PutStr("event.long", long)
	span.Links().AppendEmpty().Attributes().PutStr("link.long", long)
	// a second tenant so the split path (copies) is exercised as well
	addResource(td, "proj_b", "b").ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("b.long", long)

	orig := ptrace.NewTraces()
	td.CopyTo(orig)
	orig.MarkReadOnly()
	td.MarkReadOnly()
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	assert.Equal(t, orig, td, "the pushed data is not modified")

	reqs := be.requests()
	require.Len(t, reqs, 2)
	var a ptrace.Traces
	for _, r := range reqs {
		if r.tenant == "proj_a" {
			a = r.td
		} else {
			v, _ := r.td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Get("b.long")
			assert.Equal(t, long[:10], v.Str())
		}
	}
	ars := a.ResourceSpans().At(0)
	v, _ := ars.Resource().Attributes().Get("res.long")
	assert.Equal(t, long[:10], v.Str())
	as := ars.ScopeSpans().At(0).Spans().At(0)
	v, _ = as.Attributes().Get("utf")
	assert.Equal(t, strings.Repeat("a", 9), v.Str(), "cut before the split character")
	assert.True(t, utf8.ValidString(v.Str()))
	v, _ = as.Attributes().Get("short")
	assert.Equal(t, "ok", v.Str())
	v, _ = as.Attributes().Get("int")
	assert.Equal(t, int64(1234567890123), v.Int())
	v, _ = as.Attributes().Get("slice")
	assert.Equal(t, []any{long[:10], "ok"}, v.Slice().AsRaw())
	v, _ = as.Attributes().Get("map")
	assert.Equal(t, map[string]any{"nested": map[string]any{"k": long[:10]}}, v.Map().AsRaw())
	v, _ = as.Events().At(0).Attributes().Get("event.long")
	assert.Equal(t, long[:10], v.Str())
	v, _ = as.Links().At(0).Attributes().Get("link.long")
	assert.Equal(t, long[:10], v.Str())

	// res, utf, slice[0], map.nested.k, event, link, b.long
	metadatatest.AssertEqualExporterTempoAttributesTruncated(t, tt, []metricdata.DataPoint[int64]{{Value: 7}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

func TestTruncationSingleTenantCopiesReadOnlyInput(t *testing.T) {
	be := newBackend(t, nil)
	cfg := testConfig(be.srv.URL)
	cfg.MaxAttributeLength = 4
	exp := startExporter(t, cfg, newTelemetry(t))

	td := ptrace.NewTraces()
	addResource(td, "proj_a", "s").ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("k", "123456")
	td.MarkReadOnly() // writing to it would panic
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	v, _ := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Get("k")
	assert.Equal(t, "123456", v.Str())
	reqs := be.requests()
	require.Len(t, reqs, 1)
	v, _ = reqs[0].td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Get("k")
	assert.Equal(t, "1234", v.Str())
}

func TestTruncateString(t *testing.T) {
	for _, c := range []struct {
		in    string
		limit int
		want  string
	}{
		{"hello", 0, "hello"},
		{"hello", 5, "hello"},
		{"hello", 3, "hel"},
		{"héllo", 2, "h"},              // é is 2 bytes: never half of it
		{"héllo", 3, "hé"},             // exactly after é
		{"a😀b", 4, "a"},                // 4-byte emoji cut at bytes 2-4
		{"a😀b", 5, "a😀"},               // whole emoji fits
		{"日本語", 7, "日本"},               // 3-byte characters
		{"\xff\xfeabc", 2, "\xff\xfe"}, // invalid input stays within the limit
	} {
		got := truncateString(c.in, c.limit)
		assert.Equal(t, c.want, got, "%q/%d", c.in, c.limit)
		if c.limit > 0 {
			assert.LessOrEqual(t, len(got), c.limit)
		}
	}
}

func TestRetryAfterThenSuccess(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, _ received, attempt int) bool {
		if attempt == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	tt := newTelemetry(t)
	exp := startExporter(t, testConfig(be.srv.URL), tt)

	td := ptrace.NewTraces()
	addResource(td, "proj_a", "a1", "a2")
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))

	reqs := be.requests()
	require.Len(t, reqs, 2, "one refused, one delivered")
	assert.Equal(t, []string{"proj_a/a1", "proj_a/a2"}, spanNames(reqs[1].td))
	// the retry waited for Retry-After (1s), not the 10ms backoff
	assert.GreaterOrEqual(t, reqs[1].at.Sub(reqs[0].at), 900*time.Millisecond)

	metadatatest.AssertEqualExporterTempoRequests(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: outcome("retryable"), Value: 1},
		{Attributes: outcome("success"), Value: 1},
	}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

func TestPartialFailureRetriesOnlyFailedTenant(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, r received, attempt int) bool {
		if r.tenant == "proj_b" && attempt == 0 {
			w.WriteHeader(http.StatusBadGateway)
			return true
		}
		return false
	})
	tt := newTelemetry(t)
	exp := startExporter(t, testConfig(be.srv.URL), tt)

	td := ptrace.NewTraces()
	addResource(td, "proj_a", "a1")
	addResource(td, "proj_b", "b1", "b2")
	addResource(td, "", "dropped") // counted once, not again on retry
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))

	assert.Equal(t, map[string]int{"proj_a": 1, "proj_b": 2}, be.perTenant())
	for _, r := range be.requests() {
		if r.tenant == "proj_b" {
			assert.Equal(t, []string{"proj_b/b1", "proj_b/b2"}, spanNames(r.td))
		}
	}
	metadatatest.AssertEqualExporterTempoRequests(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: outcome("retryable"), Value: 1},
		{Attributes: outcome("success"), Value: 2},
	}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metadatatest.AssertEqualExporterTempoSpansDroppedNoTenant(t, tt, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

func TestPushReturnsOnlyFailedTenants(t *testing.T) {
	// The mechanism behind the partial retry, without exporterhelper.
	be := newBackend(t, func(w http.ResponseWriter, r received, _ int) bool {
		if r.tenant == "proj_b" {
			w.WriteHeader(http.StatusGatewayTimeout)
			return true
		}
		return false
	})
	cfg := testConfig(be.srv.URL)
	e, err := newExporter(cfg, metadatatest.NewSettings(newTelemetry(t)))
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, e.shutdown(context.Background())) }()

	td := ptrace.NewTraces()
	addResource(td, "proj_a", "a1")
	addResource(td, "proj_b", "b1")
	err = e.pushTraces(context.Background(), td)
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	tErr, ok := errors.AsType[consumererror.Traces](err)
	require.True(t, ok, "a consumererror.Traces")
	assert.Equal(t, []string{"proj_b/b1"}, spanNames(tErr.Data()))
	assert.ErrorContains(t, err, "HTTP 504")
	assert.ErrorContains(t, err, "tenant proj_b")
}

func TestPermanentError(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, _ received, _ int) bool {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "invalid span: trace id is empty\r\nforged log line\n"+strings.Repeat("x", 1000))
		return true
	})
	tt := newTelemetry(t)
	cfg := testConfig(be.srv.URL)
	cfg.ClientConfig.Headers.Set("Authorization", "Bearer s3cret-token")
	exp := startExporter(t, cfg, tt)

	td := ptrace.NewTraces()
	addResource(td, "proj_a", "a1")
	err := exp.ConsumeTraces(context.Background(), td)
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
	assert.ErrorContains(t, err, "HTTP 400")
	assert.ErrorContains(t, err, "invalid span: trace id is empty  forged log line")
	assert.NotContains(t, err.Error(), "\n")
	assert.NotContains(t, err.Error(), "s3cret")
	assert.Less(t, len(err.Error()), 600, "only a snippet of the body")
	assert.Len(t, be.requests(), 1, "not retried")

	metadatatest.AssertEqualExporterTempoRequests(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: outcome("permanent"), Value: 1},
	}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

func TestPermanentAndRetryableTenants(t *testing.T) {
	// proj_a is refused for good, proj_b once for a while: proj_a is dropped
	// (not retried), proj_b retried until delivered.
	be := newBackend(t, func(w http.ResponseWriter, r received, attempt int) bool {
		switch {
		case r.tenant == "proj_a":
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return true
		case attempt == 0:
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	})
	exp := startExporter(t, testConfig(be.srv.URL), newTelemetry(t))
	td := ptrace.NewTraces()
	addResource(td, "proj_a", "a1")
	addResource(td, "proj_b", "b1")
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	assert.Equal(t, map[string]int{"proj_a": 1, "proj_b": 2}, be.perTenant())
}

func TestConnectionErrorIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	endpoint := srv.URL
	srv.Close() // nothing listens any more

	cfg := testConfig(endpoint)
	cfg.RetryConfig.Enabled = false
	cfg.TracesEndpoint = strings.Replace(endpoint, "http://", "http://user:pw@", 1) + "/v1/traces?key=secret"
	exp := startExporter(t, cfg, newTelemetry(t))
	td := ptrace.NewTraces()
	addResource(td, "proj_a", "a1")
	err := exp.ConsumeTraces(context.Background(), td)
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	assert.NotContains(t, err.Error(), "pw")
	assert.NotContains(t, err.Error(), "secret")
}

func TestRetryAfterParsing(t *testing.T) {
	d, ok := retryAfter("7")
	assert.True(t, ok)
	assert.Equal(t, 7*time.Second, d)
	d, ok = retryAfter(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	assert.True(t, ok)
	assert.Greater(t, d, 58*time.Minute)
	_, ok = retryAfter("")
	assert.False(t, ok)
	_, ok = retryAfter("soon")
	assert.False(t, ok)
}

func TestDefaultQueueBatchesThenSplits(t *testing.T) {
	be := newBackend(t, nil)
	cfg := createDefaultConfig().(*Config) // sending_queue with batching
	cfg.ClientConfig.Endpoint = be.srv.URL
	require.NoError(t, cfg.Validate())
	exp, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(newTelemetry(t)), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))

	for _, tenant := range []string{"proj_a", "proj_b", "proj_a"} {
		td := ptrace.NewTraces()
		addResource(td, tenant, "s-"+tenant)
		require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	}
	// shutdown flushes the queue
	require.NoError(t, exp.Shutdown(context.Background()))

	got := map[string][]string{}
	for _, r := range be.requests() {
		got[r.tenant] = append(got[r.tenant], spanNames(r.td)...)
	}
	assert.Equal(t, map[string][]string{
		"proj_a": {"proj_a/s-proj_a", "proj_a/s-proj_a"},
		"proj_b": {"proj_b/s-proj_b"},
	}, got)
	assert.Len(t, be.requests(), 2, "the three pushes were batched, then split by tenant")
}
