// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentrulesextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/promptetheus/otelcol-promptetheus/extension/agentrulesextension/internal/metadata"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
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
	assert.Equal(t, rules.SeverityMedium, cfg.ErrorSeverity)
	assert.Equal(t, 5, cfg.Rules.Loop.MaxRepeats)
	assert.Equal(t, rules.SeverityHigh, cfg.Rules.Loop.Severity)
	assert.True(t, cfg.Rules.Loop.Enabled, "unset fields keep their defaults")
	assert.Equal(t, int64(8000), cfg.Rules.TokenBudget.MaxPerCall)
	assert.Equal(t, 30*time.Second, cfg.Rules.LatencyBudget.MaxLLMLatency)
	assert.False(t, cfg.Rules.SeqGaps.Enabled)
	assert.Equal(t, []string{"helpfulness"}, cfg.Rules.ScoreThreshold.Names)
	require.Len(t, cfg.UserRules, 1)
	assert.Equal(t, "slow_tool", cfg.UserRules[0].ID)
	assert.Equal(t, []PriceOverride{{Provider: "openai", Model: "gpt-5-contract", InputUSDPerMTok: 1.1, OutputUSDPerMTok: 8}}, cfg.Pricing.Overrides)

	_, err = load("bad_rule")
	assert.ErrorContains(t, err, `unknown severity "loud"`)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string
	}{
		{name: "bad condition", modify: func(c *Config) {
			c.UserRules = []UserRuleConfig{{ID: "broken", Severity: rules.SeverityLow, Condition: `attributes["x"] ==`}}
		}, want: []string{"user_rules[0] (broken):", "condition has invalid syntax"}},
		{name: "duplicate id", modify: func(c *Config) {
			r := UserRuleConfig{ID: "same", Severity: rules.SeverityLow, Condition: `span.name == "x"`}
			c.UserRules = []UserRuleConfig{r, r}
		}, want: []string{`user_rules[1]: id "same" is used twice`}},
		{name: "bad id and missing condition", modify: func(c *Config) {
			c.UserRules = []UserRuleConfig{{ID: "Has Spaces", Severity: rules.SeverityLow}}
		}, want: []string{"user_rules[0]: id must match", "user_rules[0]: condition is required"}},
		{name: "price override", modify: func(c *Config) {
			c.Pricing.Overrides = []PriceOverride{{Model: " "}, {Model: "m", InputUSDPerMTok: -1}}
		}, want: []string{"pricing.overrides[0]: model is required", "pricing.overrides[1] (m): prices must be finite and not negative"}},
		{name: "error severity", modify: func(c *Config) { c.ErrorSeverity = 0 }, want: []string{"error_severity must be one of"}},
		{name: "rule parameters", modify: func(c *Config) { c.Rules.Loop.MaxRepeats = 1 }, want: []string{"loop: max_repeats and max_cycles must be at least 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			tt.modify(cfg)
			err := cfg.Validate()
			require.Error(t, err)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
	assert.NoError(t, createDefaultConfig().(*Config).Validate())
}
