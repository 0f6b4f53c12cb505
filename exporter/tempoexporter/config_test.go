// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"

	"github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg.(*Config)
}

func TestLoadConfig(t *testing.T) {
	t.Run("defaults are otlp_http's", func(t *testing.T) {
		cfg := loadConfig(t, "")
		require.NoError(t, confmap.Validate(cfg))
		want := *otlphttpexporter.NewFactory().CreateDefaultConfig().(*otlphttpexporter.Config)
		want.ClientConfig.Endpoint = "http://tempo-distributor:4318"
		assert.Equal(t, want, cfg.OTLPHTTP)
		assert.Equal(t, TenantConfig{
			ResourceAttribute: "promptetheus.project.id",
			Header:            "X-Scope-OrgID",
			IdleTimeout:       5 * time.Minute,
			MaxTenants:        100,
		}, cfg.Tenant)
	})

	t.Run("customized", func(t *testing.T) {
		cfg := loadConfig(t, "customized")
		require.NoError(t, confmap.Validate(cfg))
		o := cfg.OTLPHTTP
		assert.Equal(t, "https://tempo.example.com/otlp/v1/traces", o.TracesEndpoint)
		assert.Equal(t, 10*time.Second, o.ClientConfig.Timeout)
		assert.Equal(t, configcompression.TypeZstd, o.ClientConfig.Compression)
		v, ok := o.ClientConfig.Headers.Get("X-Team")
		assert.True(t, ok)
		assert.Equal(t, configopaque.String("agents"), v)
		require.True(t, o.QueueConfig.HasValue())
		q := o.QueueConfig.Get()
		assert.Equal(t, component.MustNewID("file_storage"), *q.StorageID)
		assert.Equal(t, 4, q.NumConsumers)
		assert.Equal(t, int64(500), q.QueueSize)
		assert.Equal(t, time.Duration(0), o.RetryConfig.MaxElapsedTime)
		assert.Equal(t, TenantConfig{
			ResourceAttribute: "service.namespace",
			Header:            "X-Tenant",
			Default:           "shared",
			IdleTimeout:       time.Minute,
			MaxTenants:        20,
		}, cfg.Tenant)
	})

	for name, want := range map[string][]string{
		"no_endpoint":          {"endpoint or traces_endpoint must be specified"},
		"static_tenant_header": {"headers must not set X-Scope-OrgID"},
		"bad_tenant": {
			"tenant.resource_attribute must not be empty",
			`tenant.header "X Scope" is not a valid HTTP header name`,
			"tenant.default must be 1 to 150 characters",
			"tenant.idle_timeout must be positive",
			"tenant.max_tenants must be positive",
		},
		"reserved_header": {"tenant.header must not be Content-Type"},
		"other_signals":   {"metrics_endpoint is not used", "logs_endpoint is not used"},
		"bad_queue":       {"`num_consumers` must be positive"}, // otlp_http's own validation
	} {
		t.Run(name, func(t *testing.T) {
			err := confmap.Validate(loadConfig(t, name))
			require.Error(t, err)
			for _, w := range want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestValidTenant(t *testing.T) {
	for _, ok := range []string{"proj_booking", "a", "A-b_c.d*e'f(g)h!", strings.Repeat("x", 150), "42", "..."} {
		assert.True(t, validTenant(ok), ok)
	}
	for _, bad := range []string{"", ".", "..", strings.Repeat("x", 151), "a b", "a|b", "a/b", "a\r\nX-Evil: 1", "a\x00", "proj\u00e9", "a:b", "a~b"} {
		assert.False(t, validTenant(bad), "%q", bad)
	}
}

func TestValidHeaderName(t *testing.T) {
	for _, ok := range []string{"X-Scope-OrgID", "x_tenant", "A!#$%&'*+-.^_`|~9"} {
		assert.True(t, validHeaderName(ok), ok)
	}
	for _, bad := range []string{"", "X Scope", "X:Scope", "X\r\nEvil", "Ünï"} {
		assert.False(t, validHeaderName(bad), "%q", bad)
	}
}
