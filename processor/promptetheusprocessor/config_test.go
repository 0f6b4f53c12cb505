// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	load := func(name string) *Config {
		cfg := NewFactory().CreateDefaultConfig()
		sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
		require.NoError(t, err)
		require.NoError(t, sub.Unmarshal(cfg))
		return cfg.(*Config)
	}

	cfg := load("")
	require.NoError(t, confmap.Validate(cfg))
	assert.Nil(t, cfg.Rules)
	assert.Equal(t, 5*time.Second, cfg.DecisionWait)

	cfg = load("customized")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, component.MustNewIDWithName("agent_rules", "strict"), *cfg.Rules)
	assert.Equal(t, 10*time.Second, cfg.DecisionWait)
	assert.Equal(t, 10*time.Minute, cfg.TraceIdleTimeout)
	assert.Equal(t, 50000, cfg.NumTraces)
	assert.Equal(t, 5000, cfg.MaxStepsPerTrace)

	err = confmap.Validate(load("bad"))
	assert.ErrorContains(t, err, "decision_wait must not exceed trace_idle_timeout")
	assert.ErrorContains(t, err, "num_traces must be positive")
}
