// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusprocessor // import "github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor"

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
)

// spanRole is what a span is to the processor.
type spanRole int

const (
	// roleNone: not an agent's span, or a span of a Promptetheus run that
	// the receiver which built it judged. It passes untouched.
	roleNone spanRole = iota
	// roleStep: a span inside an agent run (an LLM call, a tool call, a
	// retrieval, ...): the rules read its facts.
	roleStep
	// roleChain: an OpenInference CHAIN, such as a LangGraph graph or node
	// (LangGraph marks no span AGENT). Held like an agent span; a trace of
	// chains is an agent run when it holds steps too.
	roleChain
	// roleAgent: a span that runs an agent (an invoke_agent span, an
	// OpenInference AGENT, an OpenLLMetry workflow or agent). The outermost
	// held span of a trace receives the verdict.
	roleAgent
)

// held reports whether spans of the role wait for the verdict.
func (r spanRole) held() bool { return r == roleAgent || r == roleChain }

// roleOf recognises agent spans of the dialects the processor reads: the
// OpenTelemetry GenAI semantic conventions, OpenInference and OpenLLMetry.
func roleOf(span ptrace.Span) spanRole {
	attrs := span.Attributes()
	if _, ours := attrs.Get(conventions.AttrTraceID); ours {
		return roleNone
	}
	switch str(attrs, conventions.ForeignOpenInferenceSpanKind) {
	case "":
	case "AGENT":
		return roleAgent
	case "CHAIN":
		return roleChain
	default: // LLM, TOOL, RETRIEVER, EMBEDDING, RERANKER, GUARDRAIL, EVALUATOR, PROMPT
		return roleStep
	}
	switch str(attrs, conventions.ForeignTraceloopSpanKind) {
	case "":
	case "workflow", "agent":
		return roleAgent
	default: // task, tool
		return roleStep
	}
	op := str(attrs, conventions.AttrGenAIOperationName)
	switch {
	case op == conventions.OperationInvokeAgent, strings.HasPrefix(span.Name(), conventions.OperationInvokeAgent+" "):
		return roleAgent
	case op != "":
		return roleStep
	}
	if _, ok := attrs.Get(conventions.AttrGenAIRequestModel); ok {
		return roleStep
	}
	return roleNone
}

func str(attrs pcommon.Map, key string) string {
	if v, ok := attrs.Get(key); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}
