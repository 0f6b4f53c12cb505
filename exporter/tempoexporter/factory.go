// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter // import "github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter/internal/metadata"
)

const (
	// defaultTenantAttribute is the resource attribute the promptetheus
	// receiver sets to the project of every run.
	defaultTenantAttribute = "promptetheus.project.id"
	// defaultTenantHeader is the header Tempo (and Mimir, Loki) read the
	// tenant from when multitenancy is enabled.
	defaultTenantHeader = "X-Scope-OrgID"
	// defaultMaxAttributeLength is Tempo's default max_attribute_bytes.
	defaultMaxAttributeLength = 2048
)

// NewFactory creates the factory of the tempo exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithTraces(createTraces, metadata.TracesStability),
	)
}

func createDefaultConfig() component.Config {
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = 30 * time.Second
	client.Compression = configcompression.TypeGzip
	// Responses are tiny; only requests need a large buffer.
	client.WriteBufferSize = 512 * 1024

	// Batching in the queue merges small pushes before they are split by
	// tenant, so each tenant gets fewer, larger requests.
	queue := exporterhelper.NewDefaultQueueConfig()
	queue.Batch = configoptional.Some(exporterhelper.NewDefaultBatchConfig())

	return &Config{
		ClientConfig: client,
		QueueConfig:  configoptional.Some(queue),
		RetryConfig:  configretry.NewDefaultBackOffConfig(),
		Tenant: TenantConfig{
			Enabled:           true,
			ResourceAttribute: defaultTenantAttribute,
			Header:            defaultTenantHeader,
		},
		MaxAttributeLength: defaultMaxAttributeLength,
	}
}

func createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	oCfg := cfg.(*Config)
	exp, err := newExporter(oCfg, set)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewTraces(ctx, set, cfg,
		exp.pushTraces,
		exporterhelper.WithStart(exp.start),
		exporterhelper.WithShutdown(exp.shutdown),
		// pushTraces never writes to the data it receives: splitting and
		// truncation work on copies (see pushTraces), so no clone is needed
		// in a fanout and the queued request stays intact for retries.
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		// Disabled, as in otlp_http: the `timeout` of the HTTP client bounds
		// each request, i.e. each tenant of a push, rather than the push.
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithRetry(oCfg.RetryConfig),
		exporterhelper.WithQueue(oCfg.QueueConfig),
	)
}
