// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../internal/tools/devtools/go.mod mdatagen metadata.yaml

// Package promptetheusreceiver serves the Promptetheus Session API and turns
// agent runs into OTLP traces.
package promptetheusreceiver // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver"
