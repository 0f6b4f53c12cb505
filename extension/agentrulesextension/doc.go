// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../internal/tools/devtools/go.mod mdatagen metadata.yaml

// Package agentrulesextension holds the rule configuration that judges AI
// agent runs (built-in rules, their parameters, OTTL user rules) and the
// engine that applies it. The promptetheus receiver and processor find it by
// component ID, so one configuration judges every agent run of a collector.
package agentrulesextension // import "github.com/promptetheus/otelcol-promptetheus/extension/agentrulesextension"
