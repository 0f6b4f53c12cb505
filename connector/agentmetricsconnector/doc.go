// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../internal/tools/devtools/go.mod mdatagen metadata.yaml

// Package agentmetricsconnector turns judged AI agent traces into metrics:
// runs by outcome, findings, cost, run durations and the GenAI semantic
// conventions' client metrics of LLM calls.
package agentmetricsconnector // import "github.com/promptetheus/otelcol-promptetheus/connector/agentmetricsconnector"
