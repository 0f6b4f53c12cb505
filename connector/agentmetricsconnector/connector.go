// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentmetricsconnector // import "github.com/promptetheus/otelcol-promptetheus/connector/agentmetricsconnector"

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/promptetheus/otelcol-promptetheus/connector/agentmetricsconnector/internal/metadata"
)

// scopeName is the instrumentation scope of the metrics the connector emits.
const scopeName = "github.com/promptetheus/otelcol-promptetheus/connector/agentmetricsconnector"

// recentSpansSize is how many measured spans are remembered to recognise a
// retried batch: about 5 MiB.
const recentSpansSize = 1 << 16

// agentMetricsConnector aggregates measurements of judged agent traces into
// cumulative metrics and emits them every metrics_flush_interval.
type agentMetricsConnector struct {
	cfg       *Config
	next      consumer.Metrics
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	version   string
	now       func() time.Time
	// metricAttrs name each metric in the connector's own telemetry.
	metricAttrs [numMetrics]metric.MeasurementOption

	mu      sync.Mutex
	defs    [numMetrics]metricDef
	metrics [numMetrics]*metricState
	recent  *recentSpans
	keyBuf  []byte

	stop chan struct{}
	wg   sync.WaitGroup
}

func newConnector(cfg *Config, set connector.Settings, next consumer.Metrics) (*agentMetricsConnector, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	c := &agentMetricsConnector{
		cfg:       cfg,
		next:      next,
		logger:    set.Logger,
		telemetry: tb,
		version:   set.BuildInfo.Version,
		now:       time.Now,
		defs:      newMetricDefs(cfg),
		recent:    newRecentSpans(recentSpansSize),
		stop:      make(chan struct{}),
	}
	for i := range c.defs {
		c.metrics[i] = &metricState{def: &c.defs[i], limit: cfg.AggregationCardinalityLimit, index: map[string]*series{}}
		c.metricAttrs[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("metric", c.defs[i].name)))
	}
	err = tb.RegisterConnectorAgentMetricsSeriesCallback(func(_ context.Context, o metric.Int64Observer) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, m := range c.metrics {
			o.Observe(int64(m.len()), c.metricAttrs[i])
		}
		return nil
	})
	return c, err
}

// Start starts emitting the metrics every metrics_flush_interval.
func (c *agentMetricsConnector) Start(context.Context, component.Host) error {
	c.wg.Go(func() {
		ticker := time.NewTicker(c.cfg.MetricsFlushInterval)
		defer ticker.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-ticker.C:
				c.flush(context.Background())
			}
		}
	})
	return nil
}

// Shutdown stops the ticker and emits the metrics a last time: the
// pipeline after a connector shuts down after it.
func (c *agentMetricsConnector) Shutdown(ctx context.Context) error {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
	c.flush(ctx)
	c.telemetry.Shutdown()
	return nil
}

func (*agentMetricsConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeTraces measures the spans of judged agent traces. It never fails:
// metrics are derived data, and the traces go on in their own pipelines.
func (c *agentMetricsConnector) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	observed := observeTraces(td)
	if len(observed) == 0 {
		return nil
	}
	now := pcommon.NewTimestampFromTime(c.now())
	var overflowed [numMetrics]int64
	duplicates := int64(0)
	c.mu.Lock()
	for _, so := range observed {
		if !c.recent.add(so.span) {
			duplicates++
			continue
		}
		for _, o := range so.obs {
			c.keyBuf = appendKey(c.keyBuf[:0], o.attrs)
			if c.metrics[o.metric].record(c.keyBuf, o.attrs, o.value, now) {
				overflowed[o.metric]++
			}
		}
	}
	c.mu.Unlock()
	if duplicates > 0 {
		c.telemetry.ConnectorAgentMetricsSpansDuplicate.Add(ctx, duplicates)
	}
	for i, n := range overflowed {
		if n > 0 {
			c.telemetry.ConnectorAgentMetricsOverflow.Add(ctx, n, c.metricAttrs[i])
		}
	}
	return nil
}

// flush emits every series with its cumulative value.
func (c *agentMetricsConnector) flush(ctx context.Context) {
	md := c.build()
	if md.DataPointCount() == 0 {
		return
	}
	if err := c.next.ConsumeMetrics(ctx, md); err != nil {
		c.logger.Warn("Emitting agent metrics failed; the next flush emits them again (cumulative)", zap.Error(err))
	}
}

func (c *agentMetricsConnector) build() pmetric.Metrics {
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	sm.Scope().SetVersion(c.version)
	now := pcommon.NewTimestampFromTime(c.now())
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.metrics {
		m.appendTo(sm.Metrics(), now)
	}
	return md
}
