// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/metadata"
)

const (
	// defaultEndpoint is where Promptetheus SDKs send by default.
	defaultEndpoint = "localhost:4318"
	// defaultMaxRequestBodySize admits a 50 MiB artifact with headroom;
	// JSON bodies have their own, smaller limit.
	defaultMaxRequestBodySize = 64 << 20
	defaultMaxEventsBodySize  = 5 << 20
	defaultMaxEventsPerBatch  = 1000
)

// NewFactory creates the factory of the Promptetheus receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithTraces(createTracesReceiver, metadata.TracesStability),
	)
}

func createDefaultConfig() component.Config {
	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = defaultEndpoint
	server.MaxRequestBodySize = defaultMaxRequestBodySize
	return &Config{
		ServerConfig: server,
		WorkspaceID:  "default",
		Sessions: SessionsConfig{
			IdleTimeout:     5 * time.Minute,
			Retention:       time.Hour,
			MaxRuns:         10000,
			MaxEventsPerRun: 100000,
			MaxBytesPerRun:  32 << 20,
			MaxBytes:        1 << 30,
		},
		Mapping: MappingConfig{
			CaptureContent:     true,
			MaxAttributeLength: 2048,
			MaxArrayLength:     128,
		},
		MaxEventsPerBatch: defaultMaxEventsPerBatch,
		MaxEventsBodySize: defaultMaxEventsBodySize,
		RetryAfter:        5 * time.Second,
		Artifacts: ArtifactsConfig{
			Directory:       "/var/lib/otelcol/promptetheus/artifacts",
			MaxSize:         50 << 20,
			MaxSizePerTrace: 500 << 20,
			MaxTotalSize:    10 << 30,
			Retention:       7 * 24 * time.Hour,
			ContentTypes:    []string{"image/png", "image/jpeg", "image/webp", "video/webm", "audio/webm", "audio/wav"},
		},
	}
}

func createTracesReceiver(
	_ context.Context,
	set receiver.Settings,
	cfg component.Config,
	next consumer.Traces,
) (receiver.Traces, error) {
	return newReceiver(cfg.(*Config), set, next)
}
