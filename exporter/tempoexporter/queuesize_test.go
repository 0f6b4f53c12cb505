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
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// TestQueueProbe reads the queue size of a real otlp_http exporter, with the
// SDK meter provider of the collector (which still gets the gauge) and with
// a no-op one (telemetry off).
func TestQueueProbe(t *testing.T) {
	tt := componenttest.NewTelemetry()
	for name, mp := range map[string]metric.MeterProvider{
		"sdk":  tt.NewTelemetrySettings().MeterProvider,
		"noop": noop.NewMeterProvider(),
	} {
		t.Run(name, func(t *testing.T) {
			b := newTempoBackend(t)
			b.status.Store(http.StatusServiceUnavailable)
			cfg := testConfig(b).OTLPHTTP
			var probe queueProbe
			factory := otlphttpexporter.NewFactory()
			set := exportertest.NewNopSettings(factory.Type())
			set.MeterProvider = probe.meterProvider(mp)
			exp, err := factory.CreateTraces(context.Background(), set, &cfg)
			require.NoError(t, err)
			require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))

			size, ok := probe.size(context.Background())
			assert.True(t, ok)
			assert.Zero(t, size)
			require.NoError(t, exp.ConsumeTraces(context.Background(), traces("s", 2, "")))
			require.NoError(t, exp.ConsumeTraces(context.Background(), traces("t", 2, "")))
			size, ok = probe.size(context.Background())
			assert.True(t, ok)
			assert.Equal(t, int64(2), size, "two requests queued, dispatched ones included")
			if name == "sdk" {
				assert.Equal(t, int64(2), sumOf(t, tt, queueSizeMetric, attribute.String("exporter", set.ID.String())), "the collector still sees the gauge")
			}

			b.status.Store(http.StatusOK)
			require.Eventually(t, func() bool {
				size, _ := probe.size(context.Background())
				return size == 0
			}, waitFor, 10*time.Millisecond)
			require.NoError(t, exp.Shutdown(context.Background()))
		})
	}

	t.Run("no queue", func(t *testing.T) {
		cfg := testConfig(newTempoBackend(t)).OTLPHTTP
		cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
		var probe queueProbe
		factory := otlphttpexporter.NewFactory()
		set := exportertest.NewNopSettings(factory.Type())
		set.MeterProvider = probe.meterProvider(noop.NewMeterProvider())
		exp, err := factory.CreateTraces(context.Background(), set, &cfg)
		require.NoError(t, err)
		require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
		_, ok := probe.size(context.Background())
		assert.False(t, ok)
		require.NoError(t, exp.Shutdown(context.Background()))
	})
}
