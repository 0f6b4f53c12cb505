// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter/internal/metadata"
)

const waitFor = 10 * time.Second

func TestEachTenantUnderItsOwnHeader(t *testing.T) {
	b := newTempoBackend(t)
	cfg := testConfig(b)
	cfg.OTLPHTTP.ClientConfig.Headers.Set("X-Team", configopaque.String("agents"))
	tt := componenttest.NewTelemetry()
	exp := startExporter(t, cfg, tt, componenttest.NewNopHost())

	td := traces("s", 3, "proj_a", "proj_b", "proj_a")
	td.MarkReadOnly() // MutatesData is false: any write panics
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	require.NoError(t, exp.ConsumeTraces(context.Background(), traces("t", 2, "proj_b")))

	want := expected(expected(nil, "s", 3, "proj_a", "proj_b", "proj_a"), "t", 2, "proj_b")
	b.waitFor(t, want)
	require.NoError(t, exp.Shutdown(context.Background()))

	b.mu.Lock()
	for _, h := range b.headers {
		assert.Equal(t, "agents", h.Get("X-Team"), "the otlp_http settings apply to every tenant")
	}
	b.mu.Unlock()
	assert.Equal(t, int64(2), sumOf(t, tt, "otelcol_exporter_tempo_tenants_created"))
	assert.Equal(t, int64(2), sumOf(t, tt, "otelcol_exporter_tempo_tenants_shut_down"))
	assert.Zero(t, activeTenants(t, tt))
	assert.Equal(t, int64(11), sumOf(t, tt, "otelcol_exporter_sent_spans"), "the tenant exporters report the standard metrics")
	assert.Equal(t, int64(5), sumOf(t, tt, "otelcol_exporter_sent_spans", attribute.String("exporter", "otlp_http/tempo/proj_b")))
}

func TestDefaultTenant(t *testing.T) {
	b := newTempoBackend(t)
	cfg := testConfig(b)
	cfg.Tenant.Default = "shared"
	exp := startExporter(t, cfg, componenttest.NewTelemetry(), componenttest.NewNopHost())
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()

	require.NoError(t, exp.ConsumeTraces(context.Background(), traces("s", 2, "", "proj_a")))
	require.Eventually(t, func() bool { return b.spanCount() == 4 }, waitFor, 10*time.Millisecond)
	assert.Equal(t, map[string]map[string]int{
		"shared": {"/s0": 1, "/s1": 1},
		"proj_a": {"proj_a/s0": 1, "proj_a/s1": 1},
	}, b.received())
}

func TestNoTenantRefused(t *testing.T) {
	b := newTempoBackend(t)
	tt := componenttest.NewTelemetry()
	exp := startExporter(t, testConfig(b), tt, componenttest.NewNopHost())
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()

	err := exp.ConsumeTraces(context.Background(), traces("s", 2, "", "proj_a"))
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err), "retrying cannot give spans a tenant")
	assert.ErrorContains(t, err, "2 spans refused: their resource has no valid promptetheus.project.id attribute and tenant.default is empty")
	assert.Equal(t, int64(2), sumOf(t, tt, "otelcol_exporter_tempo_refused_spans", attribute.String("reason", "no_tenant")))

	require.Eventually(t, func() bool { return b.spanCount() == 2 }, waitFor, 10*time.Millisecond)
	assert.Equal(t, expected(nil, "s", 2, "proj_a"), b.received(), "the spans with a tenant still go")
}

func TestMaxTenants(t *testing.T) {
	b := newTempoBackend(t)
	cfg := testConfig(b)
	cfg.Tenant.MaxTenants = 2
	cfg.Tenant.IdleTimeout = 200 * time.Millisecond
	tt := componenttest.NewTelemetry()
	exp := startExporter(t, cfg, tt, componenttest.NewNopHost())
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	ctx := context.Background()

	require.NoError(t, exp.ConsumeTraces(ctx, traces("s", 1, "proj_a", "proj_b")))
	err := exp.ConsumeTraces(ctx, traces("s", 3, "proj_c", "proj_a"))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err), "the tenant may fit once an idle one is shut down")
	assert.ErrorContains(t, err, "tenant proj_c: refused: tenant.max_tenants reached: 2 tenants are active; retry once an idle one is shut down")
	assert.ErrorIs(t, err, errTenantLimit)
	var failed consumererror.Traces
	require.ErrorAs(t, err, &failed)
	assert.Equal(t, []string{"proj_c/s0", "proj_c/s1", "proj_c/s2"}, names(failed.Data()), "only the refused tenant's spans are to be retried")
	assert.Equal(t, int64(3), sumOf(t, tt, "otelcol_exporter_tempo_refused_spans", attribute.String("reason", "tenant_limit")))
	assert.Equal(t, int64(2), activeTenants(t, tt))

	// Once the others are idle and shut down, the third tenant fits.
	require.Eventually(t, func() bool { return activeTenants(t, tt) == 0 }, waitFor, 10*time.Millisecond)
	require.NoError(t, exp.ConsumeTraces(ctx, failed.Data()))
	want := expected(expected(nil, "s", 1, "proj_a", "proj_b"), "s", 3, "proj_c", "proj_a")
	b.waitFor(t, want)
}

// TestIdleShutdownWaitsForAnEmptyQueue: a tenant whose backend refuses its
// spans keeps its exporter (and queue) past idle_timeout; once the queue
// drained, the exporter is shut down.
func TestIdleShutdownWaitsForAnEmptyQueue(t *testing.T) {
	b := newTempoBackend(t)
	b.status.Store(http.StatusServiceUnavailable)
	cfg := testConfig(b)
	cfg.Tenant.IdleTimeout = 100 * time.Millisecond
	tt := componenttest.NewTelemetry()
	exp := startExporter(t, cfg, tt, componenttest.NewNopHost())
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()

	require.NoError(t, exp.ConsumeTraces(context.Background(), traces("s", 2, "proj_a")))
	time.Sleep(5 * cfg.Tenant.IdleTimeout)
	assert.Equal(t, int64(1), activeTenants(t, tt), "not shut down with spans in its queue")
	assert.Equal(t, int64(1), sumOf(t, tt, "otelcol_exporter_queue_size", attribute.String("exporter", "otlp_http/tempo/proj_a")))

	b.status.Store(http.StatusOK)
	require.Eventually(t, func() bool { return activeTenants(t, tt) == 0 }, waitFor, 10*time.Millisecond)
	assert.Equal(t, expected(nil, "s", 2, "proj_a"), b.received())
	assert.Equal(t, int64(1), sumOf(t, tt, "otelcol_exporter_tempo_tenants_shut_down"))

	// The tenant comes back with its next data.
	require.NoError(t, exp.ConsumeTraces(context.Background(), traces("t", 1, "proj_a")))
	require.Eventually(t, func() bool { return b.spanCount() == 3 }, waitFor, 10*time.Millisecond)
	assert.Equal(t, int64(2), sumOf(t, tt, "otelcol_exporter_tempo_tenants_created"))
}

// TestWithoutQueue: with sending_queue disabled the tenant exporter sends
// within ConsumeTraces, and backend errors reach the caller.
func TestWithoutQueue(t *testing.T) {
	b := newTempoBackend(t)
	cfg := testConfig(b)
	cfg.OTLPHTTP.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.OTLPHTTP.RetryConfig.Enabled = false
	cfg.Tenant.IdleTimeout = 50 * time.Millisecond
	tt := componenttest.NewTelemetry()
	exp := startExporter(t, cfg, tt, componenttest.NewNopHost())
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()

	require.NoError(t, exp.ConsumeTraces(context.Background(), traces("s", 1, "proj_a")))
	assert.Equal(t, 1, b.spanCount(), "sent before ConsumeTraces returned")

	b.status.Store(http.StatusBadRequest)
	err := exp.ConsumeTraces(context.Background(), traces("t", 1, "proj_a", "proj_b"))
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
	assert.ErrorContains(t, err, "tenant proj_a:")
	assert.ErrorContains(t, err, "tenant proj_b:")

	require.Eventually(t, func() bool { return activeTenants(t, tt) == 0 }, waitFor, 10*time.Millisecond,
		"without a queue, idle tenants are shut down")
}

// TestConcurrentTenantsChurn sends from many goroutines to tenants that are
// shut down for idleness and created again meanwhile: every span arrives
// once, under its tenant. Between the two rounds every tenant is retired, so
// the second round creates them all again.
func TestConcurrentTenantsChurn(t *testing.T) {
	b := newTempoBackend(t)
	cfg := testConfig(b)
	cfg.Tenant.IdleTimeout = time.Millisecond
	cfg.Tenant.MaxTenants = 1000
	tt := componenttest.NewTelemetry()
	exp := startExporter(t, cfg, tt, componenttest.NewNopHost())

	want := map[string]map[string]int{}
	var mu sync.Mutex
	for round := range 2 {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 25 {
					prefix := fmt.Sprintf("r%dg%di%d_", round, g, i)
					projects := []string{fmt.Sprintf("proj_%d", (7*g+i)%20), fmt.Sprintf("proj_%d", i%20)}
					assert.NoError(t, exp.ConsumeTraces(context.Background(), traces(prefix, 2, projects...)))
					mu.Lock()
					expected(want, prefix, 2, projects...)
					mu.Unlock()
					time.Sleep(time.Duration(i%3) * time.Millisecond) // gaps in which the sweeper may retire tenants
				}
			})
		}
		wg.Wait()
		require.Eventually(t, func() bool { return activeTenants(t, tt) == 0 }, waitFor, time.Millisecond)
	}
	b.waitFor(t, want)
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.GreaterOrEqual(t, sumOf(t, tt, "otelcol_exporter_tempo_tenants_created"), int64(2*len(want)), "tenants were retired and created again")
	assert.Equal(t, sumOf(t, tt, "otelcol_exporter_tempo_tenants_created"), sumOf(t, tt, "otelcol_exporter_tempo_tenants_shut_down"))
}

func TestConsumeAfterShutdown(t *testing.T) {
	b := newTempoBackend(t)
	exp := startExporter(t, testConfig(b), componenttest.NewTelemetry(), componenttest.NewNopHost())
	require.NoError(t, exp.Shutdown(context.Background()))
	err := exp.ConsumeTraces(context.Background(), traces("s", 1, "proj_a"))
	assert.ErrorIs(t, err, errStopped)
	require.NoError(t, exp.Shutdown(context.Background()), "a second shutdown is harmless")
}

func TestStartNeedsTheStorageExtension(t *testing.T) {
	cfg := testConfig(newTempoBackend(t))
	id := component.MustNewID("file_storage")
	cfg.OTLPHTTP.QueueConfig.Get().StorageID = &id
	exp, err := NewFactory().CreateTraces(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	err = exp.Start(context.Background(), componenttest.NewNopHost())
	assert.ErrorContains(t, err, `storage extension "file_storage" not found`)
	require.NoError(t, exp.Shutdown(context.Background()))
}

func TestTenantExporterID(t *testing.T) {
	otlpHTTP := component.MustNewType("otlp_http")
	assert.Equal(t, "otlp_http/tempo/proj_a", tenantExporterID(otlpHTTP, component.MustNewID("tempo"), "proj_a").String())
	a := tenantExporterID(otlpHTTP, component.MustNewIDWithName("tempo", "a/b"), "c")
	b := tenantExporterID(otlpHTTP, component.MustNewIDWithName("tempo", "a"), "b_c")
	assert.NotEqual(t, a, b)
}

// TestUnknownQueueSizeKeepsTenants: should a tenant exporter stop reporting
// its queue size, idle tenants are kept (their queue may hold data) and a
// warning says why.
func TestUnknownQueueSizeKeepsTenants(t *testing.T) {
	noGauge := exporter.NewFactory(component.MustNewType("otlp_http"),
		func() component.Config { return &otlphttpexporter.Config{} },
		exporter.WithTraces(func(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
			return exporterhelper.NewTraces(ctx, set, cfg, func(context.Context, ptrace.Traces) error { return nil })
		}, component.StabilityLevelAlpha))
	core, logs := observer.New(zap.WarnLevel)
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	cfg := testConfig(newTempoBackend(t))
	cfg.Tenant.IdleTimeout = 10 * time.Millisecond
	exp, err := newExporter(cfg, set, noGauge)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()

	require.NoError(t, exp.ConsumeTraces(context.Background(), traces("s", 1, "proj_a")))
	require.Eventually(t, func() bool {
		return logs.FilterMessage("Cannot read the sending queue size of tenant exporters; idle tenants are kept running").Len() == 1
	}, waitFor, 10*time.Millisecond)
	exp.mu.Lock()
	defer exp.mu.Unlock()
	assert.Len(t, exp.tenants, 1)
}
