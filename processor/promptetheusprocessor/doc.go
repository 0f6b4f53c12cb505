// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../internal/tools/devtools/go.mod mdatagen metadata.yaml

// Package promptetheusprocessor judges AI agent traces and writes the verdict
// onto their spans.
package promptetheusprocessor // import "github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor"
