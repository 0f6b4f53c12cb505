// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/metadata"
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
		assert.Equal(t, "localhost:4318", cfg.ServerConfig.NetAddr.Endpoint)
		assert.Equal(t, 5*time.Minute, cfg.Sessions.IdleTimeout)
		assert.True(t, cfg.Mapping.CaptureContent)
		assert.Equal(t, int64(50<<20), cfg.Artifacts.MaxSize)
		assert.Equal(t, int64(10<<30), cfg.Artifacts.MaxTotalSize)
		assert.Equal(t, 7*24*time.Hour, cfg.Artifacts.Retention)
	})

	t.Run("customized", func(t *testing.T) {
		cfg := load(t, "customized")
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, "0.0.0.0:9418", cfg.ServerConfig.NetAddr.Endpoint)
		assert.Equal(t, "ws_prod", cfg.WorkspaceID)
		assert.Equal(t, component.MustNewID("oidc"), *cfg.Console.Authenticator)
		assert.Equal(t, []string{"proj_booking"}, cfg.Console.Projects)
		assert.Equal(t, 20000, cfg.Sessions.MaxEventsPerRun)
		assert.False(t, cfg.Mapping.CaptureContent)
		assert.Equal(t, component.MustNewID("file_storage"), *cfg.Storage)
		assert.Equal(t, component.MustNewID("agent_rules"), *cfg.Rules)
		assert.Equal(t, []string{"image/png", "video/webm"}, cfg.Artifacts.ContentTypes)
		assert.Equal(t, int64(100<<30), cfg.Artifacts.MaxTotalSize)
		assert.Equal(t, 30*24*time.Hour, cfg.Artifacts.Retention)
	})

	t.Run("bad artifacts", func(t *testing.T) {
		err := confmap.Validate(load(t, "bad_artifacts"))
		assert.ErrorContains(t, err, "artifacts: max_total_size must be at least max_size_per_trace")
		assert.ErrorContains(t, err, "artifacts: retention must be positive")
	})

	t.Run("no credentials", func(t *testing.T) {
		err := confmap.Validate(load(t, "no_credentials"))
		assert.ErrorContains(t, err, "at least one of api_keys, console.tokens or console.authenticator must be set")
	})

	t.Run("bad key", func(t *testing.T) {
		err := confmap.Validate(load(t, "bad_key"))
		assert.ErrorContains(t, err, "api_keys[0]: project must match")
		assert.ErrorContains(t, err, "api_keys[0]: key and key_sha256 are mutually exclusive")
	})
}

func TestConsoleConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub := func(name string) *confmap.Conf {
		c, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
		require.NoError(t, err)
		return c
	}

	t.Run("authenticator alone needs console.projects", func(t *testing.T) {
		cfg := NewFactory().CreateDefaultConfig().(*Config)
		require.NoError(t, sub("console_only").Unmarshal(cfg))
		assert.Equal(t, component.MustNewIDWithName("oidc", "console"), *cfg.Console.Authenticator)
		assert.ErrorContains(t, confmap.Validate(cfg), "console.projects is required when no api_keys name a project")
		cfg.Console.Projects = []string{"proj_booking"}
		assert.NoError(t, confmap.Validate(cfg))
	})

	// The receiver verified JWTs itself before; its settings are refused by
	// name, and console.authenticator replaces them.
	t.Run("removed jwt settings", func(t *testing.T) {
		cfg := NewFactory().CreateDefaultConfig()
		assert.ErrorContains(t, sub("removed_jwt").Unmarshal(cfg), "'console' has invalid keys: jwt")
	})
}
