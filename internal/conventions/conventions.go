// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package conventions names every span, attribute and event the Promptetheus
// components emit: the OpenTelemetry GenAI semantic conventions of the
// semantic-conventions-genai repository, version 0.1.0 (Development status:
// names may still change between its releases, so the version is pinned
// here), the core semantic conventions v1.41.0 for resource, error and
// exception attributes, and the promptetheus.* namespace for what the
// conventions do not cover. The receiver's mapping, the processor's rules
// and the Grafana dashboard test all read their names from here.
package conventions // import "github.com/promptetheus/otelcol-promptetheus/internal/conventions"

import semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

// GenAIVersion is the release of the GenAI semantic conventions
// (open-telemetry/semantic-conventions-genai) the mapping follows.
const GenAIVersion = "0.1.0"

// SchemaURL is the schema of that release. The GenAI conventions left the
// core repository after 1.41.0 and publish their own schema, which takes the
// core conventions in as a dependency: one URL covers every name below.
const SchemaURL = "https://opentelemetry.io/schemas/gen-ai/" + GenAIVersion

// Core semantic conventions (resource, error, exception), v1.41.0.
const (
	AttrServiceName           = string(semconv.ServiceNameKey)
	AttrServiceNamespace      = string(semconv.ServiceNamespaceKey)
	AttrDeploymentEnvironment = string(semconv.DeploymentEnvironmentNameKey)
	AttrErrorType             = string(semconv.ErrorTypeKey)
	AttrExceptionType         = string(semconv.ExceptionTypeKey)
	AttrExceptionMessage      = string(semconv.ExceptionMessageKey)
	AttrExceptionStacktrace   = string(semconv.ExceptionStacktraceKey)
	EventException            = "exception"
	ErrorTypeOther            = "_OTHER"
)

// GenAI semantic conventions 0.1.0 (model/gen-ai/registry.yaml, spans.yaml
// and events.yaml of that release). No Go package generates them yet.
const (
	AttrGenAIOperationName     = "gen_ai.operation.name"
	AttrGenAIProviderName      = "gen_ai.provider.name"
	AttrGenAIAgentName         = "gen_ai.agent.name"
	AttrGenAIAgentID           = "gen_ai.agent.id"
	AttrGenAIConversationID    = "gen_ai.conversation.id"
	AttrGenAIRequestModel      = "gen_ai.request.model"
	AttrGenAIResponseModel     = "gen_ai.response.model"
	AttrGenAIInputTokens       = "gen_ai.usage.input_tokens"
	AttrGenAIOutputTokens      = "gen_ai.usage.output_tokens"
	AttrGenAIPromptName        = "gen_ai.prompt.name"
	AttrGenAIToolName          = "gen_ai.tool.name"
	AttrGenAIToolCallID        = "gen_ai.tool.call.id"
	AttrGenAIToolType          = "gen_ai.tool.type"
	AttrGenAIToolCallArguments = "gen_ai.tool.call.arguments"
	AttrGenAIToolCallResult    = "gen_ai.tool.call.result"

	EventGenAIEvaluationResult = "gen_ai.evaluation.result"
	AttrGenAIEvaluationName    = "gen_ai.evaluation.name"
	AttrGenAIEvaluationScore   = "gen_ai.evaluation.score.value"
	AttrGenAIEvaluationLabel   = "gen_ai.evaluation.score.label"
	AttrGenAIEvaluationExplain = "gen_ai.evaluation.explanation"

	OperationInvokeAgent    = "invoke_agent"
	OperationChat           = "chat"
	OperationExecuteTool    = "execute_tool"
	EvaluationLabelPass     = "pass"
	EvaluationLabelFail     = "fail"
	EvaluationNameGoalCheck = "goal_check"
	ToolTypeFunction        = "function"
)

// The promptetheus.* namespace: facts of a run the semantic conventions do not cover.
const (
	AttrProjectID         = "promptetheus.project.id"
	AttrWorkspaceID       = "promptetheus.workspace.id"
	AttrTraceID           = "promptetheus.trace.id"
	AttrTraceImplicit     = "promptetheus.trace.implicit"
	AttrUserGoal          = "promptetheus.user_goal"
	AttrTags              = "promptetheus.tags"
	AttrSource            = "promptetheus.source"
	AttrMetadataPrefix    = "promptetheus.metadata."
	AttrEventType         = "promptetheus.event.type"
	AttrEventSeq          = "promptetheus.event.seq"
	AttrEventKey          = "promptetheus.event.idempotency_key"
	AttrEventCount        = "promptetheus.event.count"
	AttrLLMCallCount      = "promptetheus.llm_call.count"
	AttrLLMUnpricedCount  = "promptetheus.llm_call.unpriced_count"
	AttrCostUSD           = "promptetheus.cost.usd"
	AttrToolCallCount     = "promptetheus.tool_call.count"
	AttrErrorCount        = "promptetheus.error.count"
	AttrFinalizedBy       = "promptetheus.finalized_by"
	AttrSessionStatus     = "promptetheus.session.status"
	AttrSessionError      = "promptetheus.session.error"
	AttrMessageContent    = "promptetheus.message.content"
	AttrMessageStatus     = "promptetheus.message.status"
	AttrLLMMessagesRef    = "promptetheus.llm.messages_ref"
	AttrLLMLatencyMS      = "promptetheus.llm.latency_ms"
	AttrToolResultSeq     = "promptetheus.tool_result.seq"
	AttrToolError         = "promptetheus.tool.error"
	AttrToolArgumentsHash = "promptetheus.tool.arguments_hash"
	AttrUnmatched         = "promptetheus.unmatched"
	AttrSpanUnclosed      = "promptetheus.span.unclosed"
	AttrStateName         = "promptetheus.state.name"
	AttrStateBefore       = "promptetheus.state.before"
	AttrStateAfter        = "promptetheus.state.after"
	AttrStateEndSeq       = "promptetheus.state.end_seq"
	AttrBrowserAction     = "promptetheus.browser.action"
	AttrBrowserTarget     = "promptetheus.browser.target"
	AttrBrowserURL        = "promptetheus.browser.url"
	AttrBrowserValue      = "promptetheus.browser.value"
	AttrDOMURL            = "promptetheus.dom.url"
	AttrDOMVisibleText    = "promptetheus.dom.visible_text"
	AttrDOMSelected       = "promptetheus.dom.selected_values"
	AttrDOMWarnings       = "promptetheus.dom.warnings"
	AttrRetrievalQuery    = "promptetheus.retrieval.query"
	AttrRetrievalDocs     = "promptetheus.retrieval.document_count"
	AttrScoreName         = "promptetheus.score.name"
	AttrScoreValue        = "promptetheus.score.value"
	AttrScoreComment      = "promptetheus.score.comment"
	AttrScoreSource       = "promptetheus.score.source"
	AttrMetricName        = "promptetheus.metric.name"
	AttrMetricValue       = "promptetheus.metric.value"
	AttrMetricUnit        = "promptetheus.metric.unit"
	AttrErrorMessage      = "promptetheus.error.message"
	AttrErrorHandled      = "promptetheus.error.handled"
	AttrGoalPassed        = "promptetheus.goal.passed"
	AttrGoalMismatches    = "promptetheus.goal.mismatches"
	AttrArtifactID        = "promptetheus.artifact.id"
	AttrArtifactType      = "promptetheus.artifact.type"
	AttrArtifactSHA256    = "promptetheus.artifact.sha256"
	AttrArtifactSize      = "promptetheus.artifact.size_bytes"
	AttrArtifactContent   = "promptetheus.artifact.content_type"
	AttrArtifactURI       = "promptetheus.artifact.uri"
	AttrArtifactPath      = "promptetheus.artifact.storage_path"
	AttrArtifactName      = "promptetheus.artifact.filename"
	AttrArtifactSource    = "promptetheus.artifact.source_type"
	AttrReplayStarted     = "promptetheus.replay.started_at"
	AttrReplayEnded       = "promptetheus.replay.ended_at"
	AttrReplayDuration    = "promptetheus.replay.duration_ms"
	AttrReplayTimeMap     = "promptetheus.replay.event_time_map"
	AttrTruncatedCount    = "promptetheus.truncated_attributes"

	// Verdict written on the root span of a judged run.
	AttrFindingCount       = "promptetheus.finding.count"
	AttrFindingMaxSeverity = "promptetheus.finding.max_severity"
	AttrAnalysisLabels     = "promptetheus.analysis.labels"

	// Attributes of a rule_finding span.
	AttrFindingRuleID     = "promptetheus.finding.rule_id"
	AttrFindingSeverity   = "promptetheus.finding.severity"
	AttrFindingConfidence = "promptetheus.finding.confidence"
	AttrFindingMessage    = "promptetheus.finding.message"
	AttrFindingEvidence   = "promptetheus.finding.evidence_seqs"
	// AttrFindingEvidenceSpans lists the hex span ids of the evidence, for
	// every run (traces from other sources have no seqs).
	AttrFindingEvidenceSpans = "promptetheus.finding.evidence_span_ids"
	AttrFindingCritical      = "promptetheus.finding.critical_step_seq"
)

// Span names that do not come from an event type.
const (
	SpanNameArtifactPrefix = "artifact "
	SpanNameFindingPrefix  = "rule_finding "
	SpanNameSessionEnd     = "session_end"
)

// Values of promptetheus.finalized_by.
const (
	FinalizedBySessionEnd  = "session_end"
	FinalizedByAnalyze     = "analyze"
	FinalizedByIdleTimeout = "idle_timeout"
)

// Values of error.type set by the mapping.
const (
	ErrorTypeGoalFailed    = "goal_check_failed"
	ErrorTypeSessionFailed = "session_failed"
	ErrorTypeToolError     = "tool_error"
)

// ---------------------------------------------------------------------------
// Metrics of the agent_metrics connector and the attributes of their data
// points that no span carries. Kept apart from the span attributes above (no
// Attr prefix): the deploy test reads Attr* constants as span attributes.

// Attributes of other GenAI instrumentations that the components read,
// never write: OpenInference, OpenLLMetry (Traceloop) and the GenAI
// conventions' older names. (No Attr prefix: the deploy test reads Attr*
// constants as attributes we emit.)
const (
	ForeignGenAISystem           = "gen_ai.system"                  // older name of gen_ai.provider.name
	ForeignPromptTokens          = "gen_ai.usage.prompt_tokens"     // OpenLLMetry, older GenAI conventions
	ForeignCompletionTokens      = "gen_ai.usage.completion_tokens" // OpenLLMetry, older GenAI conventions
	ForeignLLMRequestType        = "llm.request.type"               // OpenLLMetry: chat, completion, embedding, rerank
	ForeignTraceloopSpanKind     = "traceloop.span.kind"            // OpenLLMetry: workflow, agent, task, tool
	ForeignTraceloopEntityName   = "traceloop.entity.name"
	ForeignTraceloopEntityInput  = "traceloop.entity.input"
	ForeignOpenInferenceSpanKind = "openinference.span.kind" // AGENT, CHAIN, LLM, TOOL, RETRIEVER, ...
	ForeignLLMModelName          = "llm.model_name"
	ForeignLLMProvider           = "llm.provider"
	ForeignLLMSystem             = "llm.system"
	ForeignLLMPromptTokens       = "llm.token_count.prompt"
	ForeignLLMCompletionTokens   = "llm.token_count.completion"
	ForeignToolName              = "tool.name"
	ForeignInputValue            = "input.value"
)

// Metric names.
const (
	MetricAgentRuns        = "promptetheus.agent.runs"
	MetricAgentFindings    = "promptetheus.agent.findings"
	MetricAgentCost        = "promptetheus.agent.cost"
	MetricAgentRunDuration = "promptetheus.agent.run.duration"
	// GenAI client metrics of the semantic conventions.
	MetricGenAIClientTokenUsage        = "gen_ai.client.token.usage"
	MetricGenAIClientOperationDuration = "gen_ai.client.operation.duration"
)

// Data point attributes and their values.
const (
	MetricAttrRunOutcome    = "promptetheus.run.outcome"
	MetricAttrTokenType     = string(semconv.GenAITokenTypeKey)
	MetricAttrServerAddress = string(semconv.ServerAddressKey)
	MetricAttrServerPort    = string(semconv.ServerPortKey)
	// MetricAttrOverflow marks the series that aggregates measurements past
	// a metric's cardinality limit, as the OpenTelemetry SDKs do.
	MetricAttrOverflow = "otel.metric.overflow"

	RunOutcomePassed  = "passed"
	RunOutcomeFailed  = "failed"
	RunOutcomeUnknown = "unknown"
	TokenTypeInput    = "input"
	TokenTypeOutput   = "output"
)
