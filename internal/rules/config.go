// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package rules // import "github.com/promptetheus/otelcol-promptetheus/internal/rules"

import (
	"errors"
	"fmt"
	"time"
)

// Config holds the parameters of every built-in rule. Each rule can be
// disabled and given another severity; the four reference detectors report
// the contract's fixed confidences.
type Config struct {
	BrowserGoalMismatch Toggle `mapstructure:"browser_goal_mismatch"`
	IgnoredUIWarning    Toggle `mapstructure:"ignored_ui_warning"`
	ForbiddenAction     Toggle `mapstructure:"forbidden_action"`
	FalseSuccessClaim   Toggle `mapstructure:"false_success_claim"`

	Loop               LoopConfig          `mapstructure:"loop"`
	NoProgress         NoProgressConfig    `mapstructure:"no_progress"`
	StepBudget         StepBudgetConfig    `mapstructure:"step_budget"`
	TokenBudget        TokenBudgetConfig   `mapstructure:"token_budget"`
	LatencyBudget      LatencyBudgetConfig `mapstructure:"latency_budget"`
	ToolErrors         ToolErrorsConfig    `mapstructure:"tool_errors"`
	UnmatchedToolCalls Toggle              `mapstructure:"unmatched_tool_call"`
	ActionsAfterGoal   Toggle              `mapstructure:"action_after_goal_passed"`
	MissingGoalCheck   Toggle              `mapstructure:"missing_goal_check"`
	ScoreThreshold     ScoreConfig         `mapstructure:"score_threshold"`
	SeqGaps            Toggle              `mapstructure:"seq_gap"`
}

// Toggle enables a rule and sets the severity of its findings.
type Toggle struct {
	Enabled  bool     `mapstructure:"enabled"`
	Severity Severity `mapstructure:"severity"`
}

// LoopConfig detects an agent going round in circles.
type LoopConfig struct {
	Toggle `mapstructure:",squash"`
	// MaxRepeats identical tool calls (same tool, same arguments) in a row
	// make a loop.
	MaxRepeats int `mapstructure:"max_repeats"`
	// MaxCycles repetitions of a short cycle of tool calls (A-B-A-B, period
	// 2 or 3) make a loop.
	MaxCycles int `mapstructure:"max_cycles"`
}

// NoProgressConfig detects many actions that keep doing the same few things.
type NoProgressConfig struct {
	Toggle `mapstructure:",squash"`
	// Window is the number of consecutive actions looked at.
	Window int `mapstructure:"window"`
	// MinDistinct distinct actions are expected within a window.
	MinDistinct int `mapstructure:"min_distinct"`
}

// StepBudgetConfig bounds the steps of a run.
type StepBudgetConfig struct {
	Toggle   `mapstructure:",squash"`
	MaxSteps int `mapstructure:"max_steps"`
}

// TokenBudgetConfig bounds tokens per LLM call and per run (input+output).
type TokenBudgetConfig struct {
	Toggle     `mapstructure:",squash"`
	MaxPerCall int64 `mapstructure:"max_tokens_per_call"`
	MaxPerRun  int64 `mapstructure:"max_tokens_per_trace"`
}

// LatencyBudgetConfig bounds one LLM call and the whole run.
type LatencyBudgetConfig struct {
	Toggle        `mapstructure:",squash"`
	MaxLLMLatency time.Duration `mapstructure:"max_llm_latency"`
	MaxDuration   time.Duration `mapstructure:"max_trace_duration"`
}

// ToolErrorsConfig detects tools failing again and again.
type ToolErrorsConfig struct {
	Toggle `mapstructure:",squash"`
	// MaxConsecutive failed tool calls in a row fire the rule.
	MaxConsecutive int `mapstructure:"max_consecutive"`
}

// ScoreConfig flags scores under a threshold.
type ScoreConfig struct {
	Toggle `mapstructure:",squash"`
	Min    float64 `mapstructure:"min"`
	// Names limits the rule to these score names; empty means all.
	Names []string `mapstructure:"names"`
}

// DefaultConfig enables every rule with its default parameters.
func DefaultConfig() Config {
	return Config{
		BrowserGoalMismatch: Toggle{Enabled: true, Severity: SeverityHigh},
		IgnoredUIWarning:    Toggle{Enabled: true, Severity: SeverityHigh},
		ForbiddenAction:     Toggle{Enabled: true, Severity: SeverityCritical},
		FalseSuccessClaim:   Toggle{Enabled: true, Severity: SeverityHigh},
		Loop:                LoopConfig{Toggle: Toggle{true, SeverityMedium}, MaxRepeats: 3, MaxCycles: 3},
		NoProgress:          NoProgressConfig{Toggle: Toggle{true, SeverityMedium}, Window: 20, MinDistinct: 3},
		StepBudget:          StepBudgetConfig{Toggle: Toggle{true, SeverityMedium}, MaxSteps: 500},
		TokenBudget:         TokenBudgetConfig{Toggle: Toggle{true, SeverityMedium}, MaxPerCall: 32000, MaxPerRun: 500000},
		LatencyBudget:       LatencyBudgetConfig{Toggle: Toggle{true, SeverityLow}, MaxLLMLatency: time.Minute, MaxDuration: 30 * time.Minute},
		ToolErrors:          ToolErrorsConfig{Toggle: Toggle{true, SeverityMedium}, MaxConsecutive: 3},
		UnmatchedToolCalls:  Toggle{Enabled: true, Severity: SeverityLow},
		ActionsAfterGoal:    Toggle{Enabled: true, Severity: SeverityMedium},
		MissingGoalCheck:    Toggle{Enabled: true, Severity: SeverityLow},
		ScoreThreshold:      ScoreConfig{Toggle: Toggle{true, SeverityLow}, Min: 0.5},
		SeqGaps:             Toggle{Enabled: true, Severity: SeverityLow},
	}
}

// Validate checks the parameters of the enabled rules.
func (c *Config) Validate() error {
	var errs []error
	check := func(rule string, ok bool, msg string) {
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %s", rule, msg))
		}
	}
	for name, t := range c.toggles() {
		check(name, !t.Enabled || (t.Severity >= SeverityInfo && t.Severity <= SeverityCritical), "severity must be one of info, low, medium, high, critical")
	}
	check("loop", !c.Loop.Enabled || (c.Loop.MaxRepeats >= 2 && c.Loop.MaxCycles >= 2), "max_repeats and max_cycles must be at least 2")
	check("no_progress", !c.NoProgress.Enabled || (c.NoProgress.Window >= 2 && c.NoProgress.MinDistinct >= 1 && c.NoProgress.MinDistinct <= c.NoProgress.Window), "window must be at least 2 and min_distinct between 1 and window")
	check("step_budget", !c.StepBudget.Enabled || c.StepBudget.MaxSteps > 0, "max_steps must be positive")
	check("token_budget", !c.TokenBudget.Enabled || (c.TokenBudget.MaxPerCall > 0 && c.TokenBudget.MaxPerRun > 0), "token limits must be positive")
	check("latency_budget", !c.LatencyBudget.Enabled || (c.LatencyBudget.MaxLLMLatency > 0 && c.LatencyBudget.MaxDuration > 0), "latency limits must be positive")
	check("tool_errors", !c.ToolErrors.Enabled || c.ToolErrors.MaxConsecutive >= 1, "max_consecutive must be at least 1")
	return errors.Join(errs...)
}

func (c *Config) toggles() map[string]Toggle {
	return map[string]Toggle{
		RuleBrowserGoalMismatch: c.BrowserGoalMismatch, RuleIgnoredUIWarning: c.IgnoredUIWarning,
		RuleForbiddenAction: c.ForbiddenAction, RuleFalseSuccessClaim: c.FalseSuccessClaim,
		RuleLoop: c.Loop.Toggle, RuleNoProgress: c.NoProgress.Toggle, RuleStepBudget: c.StepBudget.Toggle,
		RuleTokenBudget: c.TokenBudget.Toggle, RuleLatencyBudget: c.LatencyBudget.Toggle,
		RuleToolErrors: c.ToolErrors.Toggle, RuleUnmatchedToolCall: c.UnmatchedToolCalls,
		RuleActionAfterGoal: c.ActionsAfterGoal, RuleMissingGoalCheck: c.MissingGoalCheck,
		RuleScoreThreshold: c.ScoreThreshold.Toggle, RuleSeqGap: c.SeqGaps,
	}
}

// Rule ids: the reference detectors keep the contract's labels.
const (
	RuleBrowserGoalMismatch = "browser_goal_mismatch"
	RuleIgnoredUIWarning    = "ignored_ui_warning"
	RuleForbiddenAction     = "forbidden_action"
	RuleFalseSuccessClaim   = "false_success_claim"
	RuleLoop                = "loop"
	RuleNoProgress          = "no_progress"
	RuleStepBudget          = "step_budget"
	RuleTokenBudget         = "token_budget"
	RuleLatencyBudget       = "latency_budget"
	RuleToolErrors          = "tool_errors"
	RuleUnmatchedToolCall   = "unmatched_tool_call"
	RuleActionAfterGoal     = "action_after_goal_passed"
	RuleMissingGoalCheck    = "missing_goal_check"
	RuleScoreThreshold      = "score_threshold"
	RuleSeqGap              = "seq_gap"
)
