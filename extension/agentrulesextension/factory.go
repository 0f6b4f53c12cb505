// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentrulesextension // import "github.com/promptetheus/otelcol-promptetheus/extension/agentrulesextension"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/promptetheus/otelcol-promptetheus/extension/agentrulesextension/internal/metadata"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

// NewFactory creates the factory of the agent_rules extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, createExtension, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	return &Config{
		ErrorSeverity: rules.SeverityHigh,
		Rules:         rules.DefaultConfig(),
	}
}

func createExtension(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	j, err := NewJudge(cfg.(*Config), set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &agentRules{judge: j}, nil
}
