// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentrulesextension

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

// FuzzUserRuleCondition: any condition in a config either parses or fails
// validation with a message; none panics the collector at start-up, and one
// that parses never panics when evaluated on a span.
func FuzzUserRuleCondition(f *testing.F) {
	for _, c := range []string{
		`span.attributes["gen_ai.operation.name"] == "execute_tool"`,
		`span.end_time_unix_nano - span.start_time_unix_nano > 10000000000`,
		`IsMatch(span.name, "^chat ")`,
		`attributes["x"] ==`, `((((`, `span.attributes[`,
	} {
		f.Add(c)
	}
	td, _, _ := toolSpans(f)
	rs := td.ResourceSpans().At(0)
	ss := rs.ScopeSpans().At(0)
	f.Fuzz(func(t *testing.T, condition string) {
		cfg := createDefaultConfig().(*Config)
		cfg.UserRules = []UserRuleConfig{{ID: "r", Severity: rules.SeverityLow, Condition: condition}}
		err := cfg.Validate()
		_, perr := parseCondition(condition, component.TelemetrySettings{})
		if condition != "" && (perr == nil) != (err == nil) {
			t.Fatalf("validation and parsing disagree on %q: %v / %v", condition, err, perr)
		}
		if err != nil {
			return
		}
		j, err := NewJudge(cfg, componenttest.NewNopTelemetrySettings())
		if err != nil {
			t.Fatalf("a validated condition does not build: %v", err)
		}
		for i := 0; i < ss.Spans().Len(); i++ {
			_ = j.MatchSpan(context.Background(), rs, ss, ss.Spans().At(i), nil)
		}
	})
}
