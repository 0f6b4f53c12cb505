// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentrulesextension // import "github.com/promptetheus/otelcol-promptetheus/extension/agentrulesextension"

import (
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspan"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/ottlfuncs"
	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"
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
