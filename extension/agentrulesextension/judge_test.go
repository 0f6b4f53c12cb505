// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentrulesextension

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/extension/agentrulesextension/internal/metadata"
	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

type host struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.exts }

func newExtension(t *testing.T, modify func(*Config)) extension.Extension {
	cfg := createDefaultConfig().(*Config)
	if modify != nil {
		modify(cfg)
	}
	require.NoError(t, cfg.Validate())
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	return ext
}

func TestLookup(t *testing.T) {
	id := component.MustNewID("agent_rules")
	other := component.MustNewID("health_check")
	ext := newExtension(t, func(c *Config) { c.ErrorSeverity = rules.SeverityLow })
	h := host{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{id: ext, other: struct{ component.Component }{}}}
	set := componenttest.NewNopTelemetrySettings()

	j, err := Lookup(h, &id, set)
	require.NoError(t, err)
	assert.Same(t, ext.(*agentRules).judge, j, "every component shares the extension's judge")

	missing := component.MustNewIDWithName("agent_rules", "typo")
	_, err = Lookup(h, &missing, set)
	assert.EqualError(t, err, `rules: extension "agent_rules/typo" not found: configure an agent_rules extension with this ID and list it under service::extensions`)
	_, err = Lookup(h, &other, set)
	assert.EqualError(t, err, `rules: extension "health_check" is not an agent_rules extension`)

	def, err := Lookup(h, nil, set)
	require.NoError(t, err)
	assert.Equal(t, rules.SeverityHigh, def.errorSeverity, "no ID: the default configuration")
}

// toolSpans is one run of three identical tool calls under a root.
func toolSpans(t testing.TB) (ptrace.Traces, ptrace.Span, []rules.Step) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "travel-agent")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	traceID := pcommon.TraceID([16]byte{7})
	root := spans.AppendEmpty()
	root.SetTraceID(traceID)
	root.SetSpanID(pcommon.SpanID([8]byte{9}))
	root.SetName("invoke_agent travel")
	root.SetEndTimestamp(100)
	var steps []rules.Step
	for i := range 3 {
		s := spans.AppendEmpty()
		s.SetTraceID(traceID)
		s.SetSpanID(pcommon.SpanID([8]byte{byte(i + 1)}))
		s.SetParentSpanID(root.SpanID())
		s.SetName("execute_tool get_weather")
		s.SetStartTimestamp(pcommon.Timestamp(10 * (i + 1)))
		s.SetEndTimestamp(pcommon.Timestamp(10*(i+1) + 5))
		s.Attributes().PutStr(conventions.AttrGenAIOperationName, conventions.OperationExecuteTool)
		s.Attributes().PutStr(conventions.AttrGenAIToolName, "get_weather")
		s.Attributes().PutStr(conventions.AttrGenAIToolCallArguments, `{"city":"Paris"}`)
		step, ok := rules.StepFromSpan(s)
		require.True(t, ok)
		steps = append(steps, step)
	}
	return td, root, steps
}

func TestJudgeRunWithoutSeqs(t *testing.T) {
	ext := newExtension(t, func(c *Config) {
		c.UserRules = []UserRuleConfig{{ID: "weather_tool", Severity: rules.SeverityLow, Message: "weather tool used",
			Condition: `span.attributes["gen_ai.tool.name"] == "get_weather"`}}
	})
	j := ext.(*agentRules).judge
	td, root, steps := toolSpans(t)
	rs := td.ResourceSpans().At(0)
	ss := rs.ScopeSpans().At(0)
	var user []rules.Finding
	for i := 0; i < ss.Spans().Len(); i++ {
		span := ss.Spans().At(i)
		var step *rules.Step
		if i > 0 {
			step = &steps[i-1]
		}
		user = append(user, j.MatchSpan(context.Background(), rs, ss, span, step)...)
	}
	require.Len(t, user, 3, "one user finding per matching span, none for the root")

	res := j.Evaluate(rules.Run{}, steps, user)
	out := ptrace.NewSpanSlice()
	j.WriteVerdict(root, &res, "", out)

	byRule := map[string][]ptrace.Span{}
	for i := 0; i < out.Len(); i++ {
		s := out.At(i)
		rule, _ := s.Attributes().Get(conventions.AttrFindingRuleID)
		byRule[rule.Str()] = append(byRule[rule.Str()], s)
		assert.Equal(t, mapping.FindingSpanID(root.TraceID(), s.ParentSpanID(), rule.Str()), s.SpanID())
		_, hasSeqs := s.Attributes().Get(conventions.AttrFindingEvidence)
		assert.False(t, hasSeqs, "spans without seqs give no seq evidence")
		_, hasRun := s.Attributes().Get(conventions.AttrTraceID)
		assert.False(t, hasRun)
	}
	require.Len(t, byRule["loop"], 1)
	loop := byRule["loop"][0]
	assert.Equal(t, pcommon.SpanID([8]byte{3}), loop.ParentSpanID(), "the third identical call is flagged")
	ids, ok := loop.Attributes().Get(conventions.AttrFindingEvidenceSpans)
	require.True(t, ok)
	assert.Equal(t, []any{"0100000000000000", "0200000000000000", "0300000000000000"}, ids.Slice().AsRaw())
	require.Len(t, byRule["missing_goal_check"], 1)
	assert.Equal(t, root.SpanID(), byRule["missing_goal_check"][0].ParentSpanID())
	assert.Len(t, byRule["weather_tool"], 3)

	count, _ := root.Attributes().Get(conventions.AttrFindingCount)
	assert.Equal(t, int64(out.Len()), count.Int())
	maxSev, _ := root.Attributes().Get(conventions.AttrFindingMaxSeverity)
	assert.Equal(t, "medium", maxSev.Str())
	assert.Equal(t, ptrace.StatusCodeUnset, root.Status().Code(), "medium stays under error_severity=high")
}

func TestWriteVerdictErrorStatus(t *testing.T) {
	failed := false
	tests := []struct {
		name      string
		severity  rules.Severity
		res       rules.Result
		wantCode  ptrace.StatusCode
		wantError string
	}{
		{name: "goal failed", severity: rules.SeverityCritical, res: rules.Result{GoalPassed: &failed, Mismatches: []string{"2 AM, not 2 PM"}},
			wantCode: ptrace.StatusCodeError, wantError: conventions.ErrorTypeGoalFailed},
		{name: "finding at error severity", severity: rules.SeverityMedium, res: rules.Result{Findings: []rules.Finding{
			{RuleID: "loop", Severity: rules.SeverityMedium, CriticalSeq: -1}, {RuleID: "seq_gap", Severity: rules.SeverityLow, CriticalSeq: -1}}},
			wantCode: ptrace.StatusCodeError, wantError: "loop"},
		{name: "below error severity", severity: rules.SeverityHigh, res: rules.Result{Findings: []rules.Finding{
			{RuleID: "loop", Severity: rules.SeverityMedium, CriticalSeq: -1}}}, wantCode: ptrace.StatusCodeUnset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := newExtension(t, func(c *Config) { c.ErrorSeverity = tt.severity }).(*agentRules).judge
			_, root, _ := toolSpans(t)
			j.WriteVerdict(root, &tt.res, "run_1", ptrace.NewSpanSlice())
			assert.Equal(t, tt.wantCode, root.Status().Code())
			if tt.wantError != "" {
				errType, _ := root.Attributes().Get(conventions.AttrErrorType)
				assert.Equal(t, tt.wantError, errType.Str())
			}
		})
	}
}

func TestPrices(t *testing.T) {
	j := newExtension(t, func(c *Config) {
		c.Pricing.Overrides = []PriceOverride{{Provider: "openai", Model: "gpt-5", InputUSDPerMTok: 1, OutputUSDPerMTok: 10}}
	}).(*agentRules).judge
	usd, ok := j.Prices().Cost("openai", "gpt-5", 240, 80, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	require.True(t, ok)
	assert.InDelta(t, 240*1e-6+80*10e-6, usd, 1e-12, "the override wins over the table")
	_, ok = j.Prices().Cost("openai", "no-such-model-xyz", 1, 1, time.Time{})
	assert.False(t, ok, "unknown models have no cost, not zero")
}
