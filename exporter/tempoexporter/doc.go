// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../internal/tools/devtools/go.mod mdatagen metadata.yaml

// Package tempoexporter exports traces over OTLP/HTTP to Grafana Tempo (or
// any OTLP/HTTP backend), splitting each batch by tenant and sending every
// tenant's spans with its own tenant header.
package tempoexporter // import "github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter"
