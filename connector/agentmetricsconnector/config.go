// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentmetricsconnector // import "github.com/promptetheus/otelcol-promptetheus/connector/agentmetricsconnector"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
)

// Config defines the configuration of the agent_metrics connector.
type Config struct {
	// MetricsFlushInterval is how often the cumulative metrics are emitted.
	// They are emitted once more at shutdown.
	MetricsFlushInterval time.Duration `mapstructure:"metrics_flush_interval"`
	// AggregationCardinalityLimit bounds the distinct attribute sets of each
	// metric, the overflow series included. Measurements of further
	// attribute sets are aggregated into the series marked
	// otel.metric.overflow=true.
	AggregationCardinalityLimit int `mapstructure:"aggregation_cardinality_limit"`
	// RunDurationBuckets are the bucket boundaries of
	// promptetheus.agent.run.duration.
	RunDurationBuckets []time.Duration `mapstructure:"run_duration_buckets"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

// Upper bounds that keep a misconfiguration from letting the state grow
// without bound. A series takes at most about 2 KiB (seven attribute values
// of at most 256 bytes and its buckets).
const (
	maxCardinalityLimit = 100_000
	maxBuckets          = 64
)

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.MetricsFlushInterval <= 0 {
		errs = append(errs, errors.New("metrics_flush_interval must be positive"))
	}
	if cfg.AggregationCardinalityLimit < 1 || cfg.AggregationCardinalityLimit > maxCardinalityLimit {
		errs = append(errs, fmt.Errorf("aggregation_cardinality_limit must be between 1 and %d", maxCardinalityLimit))
	}
	if len(cfg.RunDurationBuckets) == 0 || len(cfg.RunDurationBuckets) > maxBuckets {
		errs = append(errs, fmt.Errorf("run_duration_buckets must hold 1 to %d boundaries", maxBuckets))
	}
	for i, b := range cfg.RunDurationBuckets {
		switch {
		case b <= 0:
			errs = append(errs, fmt.Errorf("run_duration_buckets[%d]: %s is not positive", i, b))
		case i > 0 && b <= cfg.RunDurationBuckets[i-1]:
			errs = append(errs, fmt.Errorf("run_duration_buckets[%d]: %s does not increase", i, b))
		}
	}
	return errors.Join(errs...)
}
