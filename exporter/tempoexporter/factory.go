// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter // import "github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"

	"github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter/internal/metadata"
)

const (
	// defaultTenantAttribute is the resource attribute the promptetheus
	// receiver sets to the project of every run.
	defaultTenantAttribute = "promptetheus.project.id"
	// defaultTenantHeader is the header Tempo (and Mimir, Loki) read the
	// tenant from when multitenancy is enabled.
	defaultTenantHeader = "X-Scope-OrgID"
	defaultIdleTimeout  = 5 * time.Minute
	defaultMaxTenants   = 100
)

// NewFactory creates the factory of the tempo exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithTraces(createTraces, metadata.TracesStability),
	)
}

// createDefaultConfig is otlp_http's default configuration with the tenant
// defaults.
func createDefaultConfig() component.Config {
	return &Config{
		OTLPHTTP: *otlphttpexporter.NewFactory().CreateDefaultConfig().(*otlphttpexporter.Config),
		Tenant: TenantConfig{
			ResourceAttribute: defaultTenantAttribute,
			Header:            defaultTenantHeader,
			IdleTimeout:       defaultIdleTimeout,
			MaxTenants:        defaultMaxTenants,
		},
	}
}

func createTraces(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	return newExporter(cfg.(*Config), set, otlphttpexporter.NewFactory())
}
