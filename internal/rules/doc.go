// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package rules judges agent runs. It reduces spans to compact steps and
// evaluates the goal verdict, the Promptetheus reference detectors, the
// built-in trajectory rules and user OTTL rules over them. It does no I/O.
package rules // import "github.com/promptetheus/otelcol-promptetheus/internal/rules"
