// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../internal/tools/devtools/go.mod mdatagen metadata.yaml

// Package tempoexporter exports traces to a multi-tenant Grafana Tempo (or
// any OTLP/HTTP backend) through one standard otlp_http exporter per tenant,
// each with its own tenant header and its own sending queue.
package tempoexporter // import "github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter"
