// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// The OpenTelemetry setup every agent here shares, as an application would
// write it: a Node tracer provider exporting OTLP/HTTP (protobuf) to
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, which the exporter reads itself.

import { diag, DiagConsoleLogger, DiagLogLevel } from "@opentelemetry/api";
import { NodeTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-node";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";

// startTracing registers a global tracer provider for serviceName. Its
// finish() flushes every span, shuts the provider down and prints the ids of
// the traces it produced as one JSON line on stdout, for the test to read.
export function startTracing(serviceName) {
  if (!process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
    throw new Error("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must name the OTLP/HTTP traces URL (…/v1/traces)");
  }
  // Export failures go to stderr rather than passing silently.
  diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);
  const traceIds = new Set();
  const recordTraceIds = {
    onStart(span) {
      traceIds.add(span.spanContext().traceId);
    },
    onEnd() {},
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": serviceName }),
    spanProcessors: [recordTraceIds, new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register();
  return {
    provider,
    async finish(extra = {}) {
      await provider.forceFlush();
      await provider.shutdown();
      process.stdout.write(JSON.stringify({ service: serviceName, trace_ids: [...traceIds], ...extra }) + "\n");
    },
  };
}
