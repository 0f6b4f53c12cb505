// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentmetricsconnector // import "github.com/promptetheus/otelcol-promptetheus/connector/agentmetricsconnector"

import (
	"time"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
)

// metricID indexes the metrics the connector emits, in the order it emits them.
type metricID int

const (
	metricRuns metricID = iota
	metricFindings
	metricCost
	metricRunDuration
	metricTokenUsage
	metricOperationDuration
	numMetrics
)

type metricKind int

const (
	kindIntCounter metricKind = iota
	kindDoubleCounter
	kindHistogram
)

// metricDef describes one emitted metric.
type metricDef struct {
	name        string
	unit        string
	description string
	kind        metricKind
	bounds      []float64 // histograms only
}

// Bucket boundaries the GenAI semantic conventions give for their client
// metrics (ExplicitBucketBoundaries).
var (
	tokenUsageBounds = []float64{
		1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
	}
	operationDurationBounds = []float64{
		0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
	}
)

// defaultRunDurationBuckets suit agent runs: seconds to an hour.
var defaultRunDurationBuckets = []time.Duration{
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 30 * time.Minute, time.Hour,
}

// newMetricDefs returns the definitions of every metric, indexed by metricID.
func newMetricDefs(cfg *Config) [numMetrics]metricDef {
	runBounds := make([]float64, len(cfg.RunDurationBuckets))
	for i, b := range cfg.RunDurationBuckets {
		runBounds[i] = b.Seconds()
	}
	return [numMetrics]metricDef{
		metricRuns: {
			name:        conventions.MetricAgentRuns,
			unit:        "{run}",
			description: "Judged agent runs, by outcome of the goal check (passed, failed, or unknown without one).",
			kind:        kindIntCounter,
		},
		metricFindings: {
			name:        conventions.MetricAgentFindings,
			unit:        "{finding}",
			description: "Rule findings on agent runs, by rule and severity.",
			kind:        kindIntCounter,
		},
		metricCost: {
			name:        conventions.MetricAgentCost,
			unit:        "USD",
			description: "Cost of the LLM calls of agents, in US dollars, from the calls' promptetheus.cost.usd.",
			kind:        kindDoubleCounter,
		},
		metricRunDuration: {
			name:        conventions.MetricAgentRunDuration,
			unit:        "s",
			description: "Duration of judged agent runs (their root span).",
			kind:        kindHistogram,
			bounds:      runBounds,
		},
		metricTokenUsage: {
			name:        conventions.MetricGenAIClientTokenUsage,
			unit:        "{token}",
			description: "Number of input and output tokens used.",
			kind:        kindHistogram,
			bounds:      tokenUsageBounds,
		},
		metricOperationDuration: {
			name:        conventions.MetricGenAIClientOperationDuration,
			unit:        "s",
			description: "GenAI operation duration.",
			kind:        kindHistogram,
			bounds:      operationDurationBounds,
		},
	}
}
