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

	"github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	load := func(t *testing.T, name string) *Config {
		cfg := NewFactory().CreateDefaultConfig()
		sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
		require.NoError(t, err)
		require.NoError(t, sub.Unmarshal(cfg))
		return cfg.(*Config)
	}

	t.Run("defaults", func(t *testing.T) {
		cfg := load(t, "")
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, "http://tempo-distributor:4318", cfg.ClientConfig.Endpoint)
		assert.Equal(t, configcompression.TypeGzip, cfg.ClientConfig.Compression)
		assert.Equal(t, 30*time.Second, cfg.ClientConfig.Timeout)
		assert.Equal(t, TenantConfig{Enabled: true, ResourceAttribute: "promptetheus.project.id", Header: "X-Scope-OrgID"}, cfg.Tenant)
		assert.Equal(t, 2048, cfg.MaxAttributeLength)
		require.True(t, cfg.QueueConfig.HasValue())
		assert.True(t, cfg.QueueConfig.Get().Batch.HasValue(), "batching is on by default")
		assert.True(t, cfg.RetryConfig.Enabled)
		u, err := tracesURL(cfg)
		require.NoError(t, err)
		assert.Equal(t, "http://tempo-distributor:4318/v1/traces", u.String())
	})

	t.Run("customized", func(t *testing.T) {
		cfg := load(t, "customized")
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, 10*time.Second, cfg.ClientConfig.Timeout)
		assert.Equal(t, configcompression.TypeZstd, cfg.ClientConfig.Compression)
		v, ok := cfg.ClientConfig.Headers.Get("X-Team")
		assert.True(t, ok)
		assert.Equal(t, configopaque.String("agents"), v)
		assert.Equal(t, TenantConfig{Enabled: true, ResourceAttribute: "service.namespace", Header: "X-Tenant", Default: "shared"}, cfg.Tenant)
		assert.Equal(t, 4096, cfg.MaxAttributeLength)
		assert.Equal(t, 4, cfg.QueueConfig.Get().NumConsumers)
		assert.Equal(t, int64(500), cfg.QueueConfig.Get().QueueSize)
		assert.Equal(t, 2*time.Minute, cfg.RetryConfig.MaxElapsedTime)
		u, err := tracesURL(cfg)
		require.NoError(t, err)
		assert.Equal(t, "https://tempo.example.com/otlp/v1/traces", u.String())
	})

	t.Run("plain", func(t *testing.T) {
		cfg := load(t, "plain")
		require.NoError(t, confmap.Validate(cfg))
		assert.False(t, cfg.Tenant.Enabled)
		assert.Equal(t, 0, cfg.MaxAttributeLength)
	})

	for name, want := range map[string][]string{
		"no_endpoint":          {"endpoint or traces_endpoint must be specified"},
		"static_tenant_header": {"headers must not set X-Scope-OrgID while tenant.enabled is true"},
		"bad_tenant": {
			"tenant.resource_attribute must not be empty",
			`tenant.header "X Scope" is not a valid HTTP header name`,
			"tenant.default must be at most 150 characters",
			"max_attribute_length must not be negative",
		},
		"reserved_header": {"tenant.header must not be Content-Type"},
		"bad_endpoint":    {"endpoint must be an http:// or https:// URL with a host"},
	} {
		t.Run(name, func(t *testing.T) {
			err := confmap.Validate(load(t, name))
			require.Error(t, err)
			for _, w := range want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestTracesURL(t *testing.T) {
	for _, c := range []struct {
		endpoint, traces, want string
	}{
		{"http://tempo:4318", "", "http://tempo:4318/v1/traces"},
		{"http://tempo:4318/", "", "http://tempo:4318/v1/traces"},
		{"https://gw.example.com/tempo", "", "https://gw.example.com/tempo/v1/traces"},
		{"http://ignored:4318", "https://tempo:443/otlp/v1/traces", "https://tempo:443/otlp/v1/traces"},
	} {
		cfg := createDefaultConfig().(*Config)
		cfg.ClientConfig.Endpoint, cfg.TracesEndpoint = c.endpoint, c.traces
		u, err := tracesURL(cfg)
		require.NoError(t, err)
		assert.Equal(t, c.want, u.String())
	}
}

func TestRedactedURL(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.TracesEndpoint = "https://user:secret@tempo.example.com/v1/traces?api_key=secret"
	u, err := tracesURL(cfg)
	require.NoError(t, err)
	assert.Equal(t, "https://tempo.example.com/v1/traces", redactedURL(u))
}

func TestValidTenant(t *testing.T) {
	for _, ok := range []string{"proj_booking", "a", "A-b_c.d*e'f(g)h!", strings.Repeat("x", 150), "42"} {
		assert.True(t, validTenant(ok), ok)
	}
	for _, bad := range []string{"", ".", "..", strings.Repeat("x", 151), "a b", "a|b", "a/b", "a\r\nX-Evil: 1", "a\x00", "proj\u00e9", "a:b"} {
		assert.False(t, validTenant(bad), "%q", bad)
	}
}
