// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusprocessor // import "github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor"

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/component"
)

// Config defines the configuration of the Promptetheus processor.
type Config struct {
	// Rules is the ID of the agent_rules extension whose rules judge agent
	// traces. Without it the built-in rules judge with their defaults.
	Rules *component.ID `mapstructure:"rules"`
	// DecisionWait is how long after a trace's root span arrives the verdict
	// waits for late spans. The agent span that receives the verdict is held
	// back that long; 0 judges as soon as the root arrives.
	DecisionWait time.Duration `mapstructure:"decision_wait"`
	// TraceIdleTimeout judges an agent trace whose root span has not arrived
	// (its parent lives in another service) after this long without new
	// spans, and forgets agent facts of traces without an agent span.
	TraceIdleTimeout time.Duration `mapstructure:"trace_idle_timeout"`
	// NumTraces bounds the agent traces held in memory; the least recently
	// seen is released unjudged (and counted) when a new one would exceed it.
	NumTraces int `mapstructure:"num_traces"`
	// MaxStepsPerTrace bounds the steps kept of one trace; later steps are
	// counted, not kept.
	MaxStepsPerTrace int `mapstructure:"max_steps_per_trace"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.DecisionWait < 0 {
		errs = append(errs, errors.New("decision_wait must not be negative"))
	}
	if cfg.TraceIdleTimeout <= 0 {
		errs = append(errs, errors.New("trace_idle_timeout must be positive"))
	}
	if cfg.DecisionWait > cfg.TraceIdleTimeout {
		errs = append(errs, errors.New("decision_wait must not exceed trace_idle_timeout"))
	}
	if cfg.NumTraces <= 0 {
		errs = append(errs, errors.New("num_traces must be positive"))
	}
	if cfg.MaxStepsPerTrace <= 0 {
		errs = append(errs, errors.New("max_steps_per_trace must be positive"))
	}
	return errors.Join(errs...)
}
