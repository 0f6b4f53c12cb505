// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentrulesextension // import "github.com/promptetheus/otelcol-promptetheus/extension/agentrulesextension"

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/component"

	"github.com/promptetheus/otelcol-promptetheus/internal/pricing"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

// Config is the rule configuration of the agent_rules extension.
type Config struct {
	// ErrorSeverity: a finding at or above it sets the run's root span to
	// ERROR, with error.type set to the finding's rule.
	ErrorSeverity rules.Severity `mapstructure:"error_severity"`
	// Rules configures the built-in rules.
	Rules rules.Config `mapstructure:"rules"`
	// UserRules are OTTL conditions on spans.
	UserRules []UserRuleConfig `mapstructure:"user_rules"`
	// Pricing prices LLM calls: an embedded price table, with overrides.
	Pricing PricingConfig `mapstructure:"pricing"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// UserRuleConfig is one user rule: a finding for every span of an agent run
// matching an OTTL condition (span context).
type UserRuleConfig struct {
	ID        string         `mapstructure:"id"`
	Severity  rules.Severity `mapstructure:"severity"`
	Message   string         `mapstructure:"message"`
	Condition string         `mapstructure:"condition"`
}

// PricingConfig adjusts the embedded LLM price table.
type PricingConfig struct {
	// Overrides set the price of models, replacing the table's: contract
	// prices, or models the table does not know.
	Overrides []PriceOverride `mapstructure:"overrides"`
}

// PriceOverride is the price of one model in USD per million tokens.
type PriceOverride struct {
	// Provider is a gen_ai.provider.name; empty matches every provider.
	Provider         string  `mapstructure:"provider"`
	Model            string  `mapstructure:"model"`
	InputUSDPerMTok  float64 `mapstructure:"input_usd_per_mtok"`
	OutputUSDPerMTok float64 `mapstructure:"output_usd_per_mtok"`
}

func (c *PricingConfig) overrides() []pricing.Override {
	out := make([]pricing.Override, 0, len(c.Overrides))
	for _, o := range c.Overrides {
		out = append(out, pricing.Override{Provider: o.Provider, Model: o.Model, InputUSDPerMTok: o.InputUSDPerMTok, OutputUSDPerMTok: o.OutputUSDPerMTok})
	}
	return out
}

var _ component.Config = (*Config)(nil)

var ruleIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)

// Validate checks the configuration, parsing every OTTL condition.
func (cfg *Config) Validate() error {
	var errs []error
	if !validSeverity(cfg.ErrorSeverity) {
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
		if !validSeverity(r.Severity) {
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
	for i, o := range cfg.Pricing.Overrides {
		switch {
		case strings.TrimSpace(o.Model) == "":
			errs = append(errs, fmt.Errorf("pricing.overrides[%d]: model is required", i))
		case !(o.InputUSDPerMTok >= 0 && o.OutputUSDPerMTok >= 0) || math.IsInf(o.InputUSDPerMTok+o.OutputUSDPerMTok, 0):
			errs = append(errs, fmt.Errorf("pricing.overrides[%d] (%s): prices must be finite and not negative", i, o.Model))
		}
	}
	return errors.Join(errs...)
}

func validSeverity(s rules.Severity) bool {
	return s >= rules.SeverityInfo && s <= rules.SeverityCritical
}
