// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentmetricsconnector

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/promptetheus/otelcol-promptetheus/connector/agentmetricsconnector/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	tests := []struct {
		name    string
		want    *Config
		wantErr string
	}{
		{name: "", want: createDefaultConfig().(*Config)},
		{name: "custom", want: &Config{
			MetricsFlushInterval:        5 * time.Second,
			AggregationCardinalityLimit: 500,
			RunDurationBuckets:          []time.Duration{10 * time.Second, time.Minute, 10 * time.Minute, time.Hour},
		}},
		{name: "zero_interval", wantErr: "metrics_flush_interval must be positive"},
		{name: "no_limit", wantErr: "aggregation_cardinality_limit must be between 1 and 100000"},
		{name: "huge_limit", wantErr: "aggregation_cardinality_limit must be between 1 and 100000"},
		{name: "buckets_not_increasing", wantErr: "run_duration_buckets[1]: 30s does not increase"},
		{name: "buckets_negative", wantErr: "run_duration_buckets[0]: -1s is not positive"},
		{name: "buckets_empty", wantErr: "run_duration_buckets must hold 1 to 64 boundaries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := cm.Sub(component.NewIDWithName(metadata.Type, tt.name).String())
			require.NoError(t, err)
			cfg := createDefaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, cfg.Validate())
	// The default buckets are a copy: changing one config leaves the next alone.
	cfg.RunDurationBuckets[0] = time.Hour
	assert.Equal(t, time.Second, createDefaultConfig().(*Config).RunDurationBuckets[0])
}
