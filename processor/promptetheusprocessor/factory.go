// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusprocessor // import "github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor/internal/metadata"
)

// NewFactory creates the factory of the Promptetheus processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithTraces(createTracesProcessor, metadata.TracesStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		DecisionWait:     5 * time.Second,
		TraceIdleTimeout: 2 * time.Minute,
		NumTraces:        10000,
		MaxStepsPerTrace: 2000,
	}
}

func createTracesProcessor(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	return newProcessor(cfg.(*Config), set, next)
}
