// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusprocessor // import "github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor"

import (
	"context"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspan"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/ottlfuncs"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

func parseCondition(condition string, set component.TelemetrySettings) (*ottl.Condition[*ottlspan.TransformContext], error) {
	if set.Logger == nil {
		set.Logger = zap.NewNop()
	}
	parser, err := ottlspan.NewParser(ottlfuncs.StandardConverters[*ottlspan.TransformContext](), set)
	if err != nil {
		return nil, err
	}
	return parser.ParseCondition(condition)
}

// userRule is a parsed user rule.
type userRule struct {
	cfg       UserRuleConfig
	condition *ottl.Condition[*ottlspan.TransformContext]
}

func newUserRules(cfgs []UserRuleConfig, set component.TelemetrySettings) ([]userRule, error) {
	out := make([]userRule, 0, len(cfgs))
	for _, c := range cfgs {
		cond, err := parseCondition(c.Condition, set)
		if err != nil {
			return nil, err
		}
		out = append(out, userRule{cfg: c, condition: cond})
	}
	return out, nil
}

// match evaluates every user rule on one span. A condition that fails to
// evaluate (a type mismatch on this span) does not match; it is logged.
func (p *promptetheusProcessor) matchUserRules(ctx context.Context, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span, step *rules.Step) []rules.Finding {
	if len(p.userRules) == 0 {
		return nil
	}
	tCtx := ottlspan.NewTransformContext(rs, ss, span)
	defer tCtx.Close()
	var out []rules.Finding
	for _, r := range p.userRules {
		ok, err := r.condition.Eval(ctx, tCtx)
		if err != nil {
			p.logger.Debug("User rule could not be evaluated", zap.String("rule", r.cfg.ID), zap.Error(err))
			continue
		}
		if ok {
			f := rules.StepFinding(step, r.cfg.ID, r.cfg.Severity, r.cfg.Message)
			f.Immediate = true
			out = append(out, f)
		}
	}
	return out
}
