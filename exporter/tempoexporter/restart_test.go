// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
)

// TestRestartDrainsQueuedTenants: with the backend down, two tenants queue
// spans in their persistent queues (the real file_storage extension); the
// collector stops. At the next start the exporter recreates exactly those
// tenants before any new data arrives, and they drain their queues under
// their own header once the backend is back.
func TestRestartDrainsQueuedTenants(t *testing.T) {
	dir := t.TempDir()
	b := newTempoBackend(t)
	cfg := testConfig(b)
	cfg.OTLPHTTP.QueueConfig.Get().StorageID = &fileStorageID
	cfg.Tenant.IdleTimeout = 100 * time.Millisecond
	ctx := context.Background()

	host := fileStorageHost(t, dir)
	tt := componenttest.NewTelemetry()
	exp := startExporter(t, cfg, tt, host)

	// Tenants that drained and went idle are forgotten.
	require.NoError(t, exp.ConsumeTraces(ctx, traces("s", 3, "proj_a", "proj_b", "proj_c")))
	b.waitFor(t, expected(nil, "s", 3, "proj_a", "proj_b", "proj_c"))
	require.Eventually(t, func() bool { return activeTenants(t, tt) == 0 }, waitFor, 10*time.Millisecond)
	assert.Empty(t, exp.known.list())

	// With the backend down, two tenants queue spans; the collector stops.
	b.status.Store(http.StatusServiceUnavailable)
	require.NoError(t, exp.ConsumeTraces(ctx, traces("u", 2, "proj_a", "proj_b")))
	assert.Equal(t, []string{"proj_a", "proj_b"}, exp.known.list())
	time.Sleep(3 * cfg.Tenant.IdleTimeout)
	assert.Equal(t, int64(1), sumOf(t, tt, "otelcol_exporter_queue_size", attribute.String("exporter", "otlp_http/tempo/proj_a")))
	assert.Equal(t, int64(1), sumOf(t, tt, "otelcol_exporter_queue_size", attribute.String("exporter", "otlp_http/tempo/proj_b")))
	require.NoError(t, exp.Shutdown(ctx))
	require.NoError(t, host[fileStorageID].Shutdown(ctx))

	// Next start on the same storage, the backend back, no new data.
	b.status.Store(http.StatusOK)
	tt2 := componenttest.NewTelemetry()
	exp2 := startExporter(t, cfg, tt2, fileStorageHost(t, dir))
	assert.Equal(t, int64(2), sumOf(t, tt2, "otelcol_exporter_tempo_tenants_created"), "recreated at start: the tenants whose queues hold data")
	b.waitFor(t, expected(expected(nil, "s", 3, "proj_a", "proj_b", "proj_c"), "u", 2, "proj_a", "proj_b"))
	require.Eventually(t, func() bool { return activeTenants(t, tt2) == 0 }, waitFor, 10*time.Millisecond, "drained, then idle")
	assert.Empty(t, exp2.known.list())
	require.NoError(t, exp2.Shutdown(ctx))
}

// TestKnownTenantsIgnoresInvalidEntries: a stored value that is not a list
// of valid tenant IDs never becomes a header.
func TestKnownTenantsIgnoresInvalidEntries(t *testing.T) {
	host := fileStorageHost(t, t.TempDir())
	ctx := context.Background()
	client, err := storageClient(ctx, host, fileStorageID, component.MustNewID("tempo"))
	require.NoError(t, err)
	require.NoError(t, client.Set(ctx, knownTenantsKey, []byte(`["proj_a","a\r\nX-Evil: 1",".."]`)))
	k, invalid, err := loadKnownTenants(ctx, client)
	require.NoError(t, err)
	assert.Equal(t, []string{"proj_a"}, k.list())
	assert.Equal(t, []string{"a\r\nX-Evil: 1", ".."}, invalid)

	require.NoError(t, client.Set(ctx, knownTenantsKey, []byte(`not json`)))
	k, invalid, err = loadKnownTenants(ctx, client)
	require.NoError(t, err)
	assert.Empty(t, k.list())
	assert.Equal(t, []string{"not json"}, invalid)

	added, err := k.add(ctx, "proj_b")
	require.NoError(t, err)
	assert.True(t, added)
	added, err = k.add(ctx, "proj_b")
	require.NoError(t, err)
	assert.False(t, added)
	k, _, err = loadKnownTenants(ctx, client)
	require.NoError(t, err)
	assert.Equal(t, []string{"proj_b"}, k.list(), "stored")
	require.NoError(t, client.Close(ctx))
}
