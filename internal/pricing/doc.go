// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package pricing prices LLM calls from an embedded, versioned price table:
// the data of the npm package @pydantic/genai-prices (MIT licence, kept in
// data/LICENSE; version in data/VERSION), refreshed with `make prices`.
//
// Lookups follow the package's own calcPrice: providers are found by id or
// by their provider match, or from the model name by their model match;
// models by the first match clause (equals, starts_with, ends_with and
// contains without regard to case, JavaScript regular expressions, or, and)
// in the provider's list, then in its fallback providers, then with compact
// dates in the name expanded; prices may be tiered by the call's input
// tokens and may change from a date on or by time of day. A call reports
// input and output tokens, so those (and a per-request price) are what it
// costs. The golden table in testdata holds calcPrice's own answers, made by
// the same `make prices`, and the tests hold this package to them.
//
// The package does no I/O: the table is compiled in.
package pricing // import "github.com/promptetheus/otelcol-promptetheus/internal/pricing"
