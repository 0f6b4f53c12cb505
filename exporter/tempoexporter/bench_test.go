// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter/internal/metadata"
)

// discardingBackend answers every OTLP/HTTP request with 200 after reading it.
func discardingBackend(b *testing.B) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

// otlpHTTPBaseline is a standalone otlp_http exporter with the tenant header
// set statically: what the tempo exporter runs per tenant.
func otlpHTTPBaseline(b *testing.B, cfg otlphttpexporter.Config, host component.Host) exporter.Traces {
	cfg.ClientConfig.Headers.Set("X-Scope-OrgID", configopaque.String("proj_a"))
	f := otlphttpexporter.NewFactory()
	exp, err := f.CreateTraces(context.Background(), exportertest.NewNopSettings(f.Type()), &cfg)
	require.NoError(b, err)
	require.NoError(b, exp.Start(context.Background(), host))
	return exp
}

func tempoUnderTest(b *testing.B, cfg *Config, host component.Host) exporter.Traces {
	exp, err := NewFactory().CreateTraces(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(b, err)
	require.NoError(b, exp.Start(context.Background(), host))
	return exp
}

// BenchmarkConsumeTraces: 100 spans per push, sent synchronously (no queue)
// to a loopback backend. otlp_http is the baseline; the tempo exporter adds
// the split and the tenant lookup (one tenant), or splits into four requests.
func BenchmarkConsumeTraces(b *testing.B) {
	url := discardingBackend(b)
	cfg := createDefaultConfig().(*Config)
	cfg.OTLPHTTP.ClientConfig.Endpoint = url
	cfg.OTLPHTTP.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	host := componenttest.NewNopHost()

	for _, c := range []struct {
		name string
		exp  func() exporter.Traces
		td   ptrace.Traces
	}{
		{"otlp_http", func() exporter.Traces { return otlpHTTPBaseline(b, cfg.OTLPHTTP, host) }, traces("s", 100, "proj_a")},
		{"tempo/1_tenant", func() exporter.Traces { return tempoUnderTest(b, cfg, host) }, traces("s", 100, "proj_a")},
		{"tempo/4_tenants", func() exporter.Traces { return tempoUnderTest(b, cfg, host) }, traces("s", 25, "proj_a", "proj_b", "proj_c", "proj_d")},
	} {
		b.Run(c.name, func(b *testing.B) {
			exp := c.exp()
			c.td.MarkReadOnly()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := exp.ConsumeTraces(context.Background(), c.td); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			require.NoError(b, exp.Shutdown(context.Background()))
		})
	}
}

// BenchmarkTenantFootprint measures what one tenant costs once it has sent
// (its client, idle connection, queue consumers and, with file_storage, its
// storage file): heap bytes and goroutines per tenant, against as many
// standalone otlp_http exporters with the same settings.
func BenchmarkTenantFootprint(b *testing.B) {
	const n = 20
	url := discardingBackend(b)
	for _, storage := range []bool{false, true} {
		for _, kind := range []string{"otlp_http", "tempo"} {
			name := kind + "/memory_queue"
			if storage {
				name = kind + "/file_storage"
			}
			b.Run(name, func(b *testing.B) {
				var heapPer, goroutinesPer float64
				for range b.N {
					cfg := createDefaultConfig().(*Config)
					cfg.OTLPHTTP.ClientConfig.Endpoint = url
					var host component.Host = componenttest.NewNopHost()
					if storage {
						host = fileStorageHost(b, b.TempDir())
						cfg.OTLPHTTP.QueueConfig.Get().StorageID = &fileStorageID
					}
					h0, g0 := footprint()
					var exps []exporter.Traces
					if kind == "otlp_http" {
						for range n {
							exps = append(exps, otlpHTTPBaseline(b, cfg.OTLPHTTP, host))
						}
						for _, e := range exps {
							require.NoError(b, e.ConsumeTraces(context.Background(), traces("s", 10, "proj_a")))
						}
					} else {
						e := tempoUnderTest(b, cfg, host)
						exps = append(exps, e)
						for i := range n {
							require.NoError(b, e.ConsumeTraces(context.Background(), traces("s", 10, fmt.Sprintf("proj_%d", i))))
						}
					}
					time.Sleep(200 * time.Millisecond) // sent, connections idle
					h1, g1 := footprint()
					heapPer += float64(h1-h0) / n
					goroutinesPer += float64(g1-g0) / n
					for _, e := range exps {
						require.NoError(b, e.Shutdown(context.Background()))
					}
				}
				b.ReportMetric(heapPer/float64(b.N), "heapB/tenant")
				b.ReportMetric(goroutinesPer/float64(b.N), "goroutines/tenant")
			})
		}
	}
}

func footprint() (heap uint64, goroutines int) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, runtime.NumGoroutine()
}

// BenchmarkSplit: splitting a batch of 400 spans by tenant, against the
// clone of the whole batch a fanout makes for an exporter that mutates data.
func BenchmarkSplit(b *testing.B) {
	byProject := tenantOf(projectAttr, "")
	one := traces("s", 100, "proj_a", "proj_a", "proj_a", "proj_a")
	four := traces("s", 100, "proj_a", "proj_b", "proj_c", "proj_d")
	b.Run("baseline_clone", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			four.CopyTo(ptrace.NewTraces())
		}
	})
	b.Run("1_tenant", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			splitByTenant(one, byProject)
		}
	})
	b.Run("4_tenants", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			splitByTenant(four, byProject)
		}
	})
}
