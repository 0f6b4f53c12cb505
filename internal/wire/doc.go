// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package wire decodes and validates the Promptetheus Session API payloads
// (run creation, event batches, artifact metadata) exactly as the Promptetheus
// wire contract defines them. It does no I/O and knows nothing of OTLP.
package wire // import "github.com/promptetheus/otelcol-promptetheus/internal/wire"
