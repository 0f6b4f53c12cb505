// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusprocessor // import "github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor"

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

// Config defines the configuration of the Promptetheus processor.
type Config struct {
	// NumTraces bounds the traces whose facts are kept in memory; the oldest
	// is evicted (and counted) when a new one would exceed it.
	NumTraces int `mapstructure:"num_traces"`
	// TraceIdleTimeout judges a trace whose root span has not arrived after
	// this long without new spans, then forgets it.
	TraceIdleTimeout time.Duration `mapstructure:"trace_idle_timeout"`
	// ErrorSeverity: a finding at or above it sets the root span's status to
	// ERROR with error.type set to the finding's rule.
	ErrorSeverity rules.Severity `mapstructure:"error_severity"`
	// Rules configures the built-in rules.
	Rules rules.Config `mapstructure:"rules"`
	// UserRules are OTTL conditions on spans.
	UserRules []UserRuleConfig `mapstructure:"user_rules"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// UserRuleConfig is one user rule: a finding for every span matching an
// OTTL condition (span context).
type UserRuleConfig struct {
	ID        string         `mapstructure:"id"`
	Severity  rules.Severity `mapstructure:"severity"`
	Message   string         `mapstructure:"message"`
	Condition string         `mapstructure:"condition"`
}

var _ component.Config = (*Config)(nil)

var ruleIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)

// Validate checks the configuration, parsing every OTTL condition.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.NumTraces <= 0 {
		errs = append(errs, errors.New("num_traces must be positive"))
	}
	if cfg.TraceIdleTimeout <= 0 {
		errs = append(errs, errors.New("trace_idle_timeout must be positive"))
	}
	if cfg.ErrorSeverity < rules.SeverityInfo || cfg.ErrorSeverity > rules.SeverityCritical {
		errs = append(errs, errors.New("error_severity must be one of info, low, medium, high, critical"))
	}
	errs = append(errs, cfg.Rules.Validate())
	seen := map[string]bool{}
	for i, r := range cfg.UserRules {
		switch {
		case !ruleIDPattern.MatchString(r.ID):
			errs = append(errs, fmt.Errorf("user_rules[%d]: id must match %s", i, ruleIDPattern))
		case seen[r.ID]:
			errs = append(errs, fmt.Errorf("user_rules[%d]: id %q is used twice", i, r.ID))
		}
		seen[r.ID] = true
		if r.Severity < rules.SeverityInfo || r.Severity > rules.SeverityCritical {
			errs = append(errs, fmt.Errorf("user_rules[%d]: severity must be one of info, low, medium, high, critical", i))
		}
		if r.Condition == "" {
			errs = append(errs, fmt.Errorf("user_rules[%d]: condition is required", i))
			continue
		}
		if _, err := parseCondition(r.Condition, component.TelemetrySettings{}); err != nil {
			errs = append(errs, fmt.Errorf("user_rules[%d] (%s): %w", i, r.ID, err))
		}
	}
	return errors.Join(errs...)
}
