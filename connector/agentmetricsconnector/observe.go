// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentmetricsconnector // import "github.com/promptetheus/otelcol-promptetheus/connector/agentmetricsconnector"

import (
	"cmp"
	"math"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
)

// maxValueBytes bounds each attribute value of a data point, so that the
// state of a series is bounded in bytes as the cardinality limit bounds
// the series.
const maxValueBytes = 256

// attr is one attribute of a data point: a string, or an int (server.port).
type attr struct {
	key   string
	str   string
	num   int64
	isNum bool
}

// observation is one measurement for one metric.
type observation struct {
	metric metricID
	attrs  []attr
	value  float64
}

// spanKey identifies a span: trace id and span id.
type spanKey [24]byte

// spanObservations are the measurements one span yields.
type spanObservations struct {
	span spanKey
	obs  []observation
}

// resourceFacts are the attributes of a resource the metrics use.
type resourceFacts struct {
	service string
	project string
}

// observeTraces returns the measurements of every span of td that the
// connector turns into metrics. Spans of other traces yield none.
func observeTraces(td ptrace.Traces) []spanObservations {
	var out []spanObservations
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := resourceFacts{
			service: str(rs.Resource().Attributes(), conventions.AttrServiceName),
			project: str(rs.Resource().Attributes(), conventions.AttrProjectID),
		}
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			spans := rs.ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				if obs := observeSpan(res, span); len(obs) > 0 {
					out = append(out, spanObservations{span: keyOf(span), obs: obs})
				}
			}
		}
	}
	return out
}

func keyOf(span ptrace.Span) spanKey {
	var k spanKey
	tid, sid := span.TraceID(), span.SpanID()
	copy(k[:16], tid[:])
	copy(k[16:], sid[:])
	return k
}

// observeSpan returns the measurements of one span: a judged root is a run,
// a rule_finding span a finding, an LLM inference span an LLM call.
func observeSpan(res resourceFacts, span ptrace.Span) []observation {
	attrs := span.Attributes()
	var obs []observation
	if span.ParentSpanID().IsEmpty() {
		if v, ok := attrs.Get(conventions.AttrFindingCount); ok && v.Type() == pcommon.ValueTypeInt {
			outcome := conventions.RunOutcomeUnknown
			if g, ok := attrs.Get(conventions.AttrGoalPassed); ok && g.Type() == pcommon.ValueTypeBool {
				outcome = conventions.RunOutcomeFailed
				if g.Bool() {
					outcome = conventions.RunOutcomePassed
				}
			}
			run := agentAttrs(attrs, res, attr{key: conventions.MetricAttrRunOutcome, str: outcome})
			obs = append(obs, observation{metric: metricRuns, attrs: run, value: 1})
			if d, ok := durationOf(span); ok {
				obs = append(obs, observation{metric: metricRunDuration, attrs: run, value: d})
			}
		}
	}
	if strings.HasPrefix(span.Name(), conventions.SpanNameFindingPrefix) {
		rule, severity := str(attrs, conventions.AttrFindingRuleID), str(attrs, conventions.AttrFindingSeverity)
		if rule != "" && severity != "" {
			obs = append(obs, observation{metric: metricFindings, value: 1, attrs: agentAttrs(attrs, res,
				attr{key: conventions.AttrFindingRuleID, str: clip(rule)},
				attr{key: conventions.AttrFindingSeverity, str: clip(severity)})})
		}
	}
	if call, ok := llmCallOf(span); ok {
		obs = call.observe(attrs, res, obs)
	}
	return obs
}

// agentAttrs are the agent (the span's gen_ai.agent.name, else the
// resource's service.name) and the project when known, then extra.
func agentAttrs(attrs pcommon.Map, res resourceFacts, extra ...attr) []attr {
	out := make([]attr, 0, 2+len(extra))
	if agent := cmp.Or(str(attrs, conventions.AttrGenAIAgentName), res.service); agent != "" {
		out = append(out, attr{key: conventions.AttrGenAIAgentName, str: clip(agent)})
	}
	if res.project != "" {
		out = append(out, attr{key: conventions.AttrProjectID, str: clip(res.project)})
	}
	return append(out, extra...)
}

// llmCall holds the facts of an LLM inference span, whichever convention
// it follows.
type llmCall struct {
	operation     string
	provider      string
	requestModel  string
	responseModel string
	serverAddress string
	serverPort    int64
	errorType     string
	inputTokens   float64
	outputTokens  float64
	cost          float64
	duration      float64
	hasPort       bool
	hasInput      bool
	hasOutput     bool
	hasCost       bool
	hasDuration   bool
}

// llmCallOf recognises an LLM inference span: GenAI conventions (chat,
// text_completion, generate_content), OpenInference (span kind LLM) or
// OpenLLMetry (llm.request.type chat or completion).
func llmCallOf(span ptrace.Span) (llmCall, bool) {
	attrs := span.Attributes()
	var c llmCall
	switch op := str(attrs, conventions.AttrGenAIOperationName); op {
	case conventions.OperationChat, "text_completion", "generate_content":
		c.operation = op
	case "":
		switch {
		case str(attrs, conventions.ForeignOpenInferenceSpanKind) == "LLM":
			c.operation = conventions.OperationChat
		case str(attrs, conventions.ForeignLLMRequestType) == "chat":
			c.operation = conventions.OperationChat
		case str(attrs, conventions.ForeignLLMRequestType) == "completion":
			c.operation = "text_completion"
		default:
			return c, false
		}
	default:
		return c, false
	}
	c.provider = clip(cmp.Or(str(attrs, conventions.AttrGenAIProviderName), str(attrs, conventions.ForeignGenAISystem),
		str(attrs, conventions.ForeignLLMProvider), str(attrs, conventions.ForeignLLMSystem)))
	c.requestModel = clip(cmp.Or(str(attrs, conventions.AttrGenAIRequestModel), str(attrs, conventions.ForeignLLMModelName)))
	c.responseModel = clip(str(attrs, conventions.AttrGenAIResponseModel))
	c.serverAddress = clip(str(attrs, conventions.MetricAttrServerAddress))
	if v, ok := attrs.Get(conventions.MetricAttrServerPort); ok && v.Type() == pcommon.ValueTypeInt {
		c.serverPort, c.hasPort = v.Int(), true
	}
	c.inputTokens, c.hasInput = count(attrs, conventions.AttrGenAIInputTokens, conventions.ForeignPromptTokens, conventions.ForeignLLMPromptTokens)
	c.outputTokens, c.hasOutput = count(attrs, conventions.AttrGenAIOutputTokens, conventions.ForeignCompletionTokens, conventions.ForeignLLMCompletionTokens)
	c.cost, c.hasCost = count(attrs, conventions.AttrCostUSD)
	c.duration, c.hasDuration = durationOf(span)
	if span.Status().Code() == ptrace.StatusCodeError {
		c.errorType = clip(cmp.Or(str(attrs, conventions.AttrErrorType), conventions.ErrorTypeOther))
	}
	return c, true
}

// observe appends the call's token usage, duration and cost.
func (c *llmCall) observe(attrs pcommon.Map, res resourceFacts, obs []observation) []observation {
	// The attributes of the GenAI client metrics, in the conventions' order.
	common := []attr{{key: conventions.AttrGenAIOperationName, str: c.operation}}
	if c.provider != "" {
		common = append(common, attr{key: conventions.AttrGenAIProviderName, str: c.provider})
	}
	var rest []attr
	if c.requestModel != "" {
		rest = append(rest, attr{key: conventions.AttrGenAIRequestModel, str: c.requestModel})
	}
	if c.responseModel != "" {
		rest = append(rest, attr{key: conventions.AttrGenAIResponseModel, str: c.responseModel})
	}
	if c.serverAddress != "" {
		rest = append(rest, attr{key: conventions.MetricAttrServerAddress, str: c.serverAddress})
	}
	if c.hasPort {
		rest = append(rest, attr{key: conventions.MetricAttrServerPort, num: c.serverPort, isNum: true})
	}
	tokens := func(tokenType string, n float64) observation {
		a := make([]attr, 0, len(common)+1+len(rest))
		a = append(append(append(a, common...), attr{key: conventions.MetricAttrTokenType, str: tokenType}), rest...)
		return observation{metric: metricTokenUsage, attrs: a, value: n}
	}
	if c.hasInput {
		obs = append(obs, tokens(conventions.TokenTypeInput, c.inputTokens))
	}
	if c.hasOutput {
		obs = append(obs, tokens(conventions.TokenTypeOutput, c.outputTokens))
	}
	if c.hasDuration {
		a := append(append(make([]attr, 0, len(common)+len(rest)+1), common...), rest...)
		if c.errorType != "" {
			a = append(a, attr{key: conventions.AttrErrorType, str: c.errorType})
		}
		obs = append(obs, observation{metric: metricOperationDuration, attrs: a, value: c.duration})
	}
	if c.hasCost {
		var model []attr
		if c.requestModel != "" {
			model = append(model, attr{key: conventions.AttrGenAIRequestModel, str: c.requestModel})
		}
		if c.provider != "" {
			model = append(model, attr{key: conventions.AttrGenAIProviderName, str: c.provider})
		}
		obs = append(obs, observation{metric: metricCost, attrs: agentAttrs(attrs, res, model...), value: c.cost})
	}
	return obs
}

// durationOf is a span's duration in seconds.
func durationOf(span ptrace.Span) (float64, bool) {
	start, end := span.StartTimestamp(), span.EndTimestamp()
	if start == 0 || end < start {
		return 0, false
	}
	return float64(end-start) / 1e9, true
}

// count reads the first of keys that holds a finite, non-negative number.
func count(attrs pcommon.Map, keys ...string) (float64, bool) {
	for _, key := range keys {
		v, ok := attrs.Get(key)
		if !ok {
			continue
		}
		var n float64
		switch v.Type() {
		case pcommon.ValueTypeInt:
			n = float64(v.Int())
		case pcommon.ValueTypeDouble:
			n = v.Double()
		default:
			continue
		}
		if n >= 0 && !math.IsInf(n, 0) { // NaN fails n >= 0
			return n, true
		}
	}
	return 0, false
}

func str(attrs pcommon.Map, key string) string {
	if v, ok := attrs.Get(key); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// clip cuts s to maxValueBytes at a character boundary.
func clip(s string) string {
	if len(s) <= maxValueBytes {
		return s
	}
	cut := maxValueBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
