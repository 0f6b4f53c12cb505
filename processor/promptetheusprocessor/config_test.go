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

	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
	"github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	load := func(name string) (*Config, error) {
		cfg := NewFactory().CreateDefaultConfig()
		sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
		require.NoError(t, err)
		if err := sub.Unmarshal(cfg); err != nil {
			return nil, err
		}
		return cfg.(*Config), nil
	}

	cfg, err := load("")
	require.NoError(t, err)
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, rules.DefaultConfig(), cfg.Rules)
	assert.Equal(t, rules.SeverityHigh, cfg.ErrorSeverity)

	cfg, err = load("customized")
	require.NoError(t, err)
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, 50000, cfg.NumTraces)
	assert.Equal(t, 10*time.Minute, cfg.TraceIdleTimeout)
	assert.Equal(t, rules.SeverityMedium, cfg.ErrorSeverity)
	assert.Equal(t, 5, cfg.Rules.Loop.MaxRepeats)
	assert.Equal(t, rules.SeverityHigh, cfg.Rules.Loop.Severity)
	assert.True(t, cfg.Rules.Loop.Enabled, "unset fields keep their defaults")
	assert.Equal(t, int64(8000), cfg.Rules.TokenBudget.MaxPerCall)
	assert.False(t, cfg.Rules.SeqGaps.Enabled)
	assert.Equal(t, []string{"helpfulness"}, cfg.Rules.ScoreThreshold.Names)
	require.Len(t, cfg.UserRules, 1)
	assert.Equal(t, "slow_tool", cfg.UserRules[0].ID)

	_, err = load("bad_rule")
	assert.ErrorContains(t, err, `unknown severity "loud"`)
}
