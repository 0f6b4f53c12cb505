// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter // import "github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter"

import (
	"context"
	"slices"
	"sync"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
)

// queueSizeMetric is the gauge on which exporterhelper reports the size of
// an exporter's sending queue, dispatched requests not yet done included.
const queueSizeMetric = "otelcol_exporter_queue_size"

// queueProbe reads the size of a tenant exporter's sending queue from the
// exporter's own queue size gauge: exporterhelper offers no other way to ask
// whether a queue is empty, and a tenant is only shut down once it is. The
// probe wraps the MeterProvider given to the tenant exporter; the gauge is
// reported to the collector's telemetry as before.
type queueProbe struct {
	mu        sync.Mutex
	gauge     *probedGauge
	callbacks []metric.Callback
}

// size returns the current queue size, and false when the exporter
// reports none (it has no queue).
func (p *queueProbe) size(ctx context.Context) (int64, bool) {
	p.mu.Lock()
	gauge, callbacks := p.gauge, slices.Clone(p.callbacks)
	p.mu.Unlock()
	o := &sizeObserver{gauge: gauge}
	for _, cb := range callbacks {
		_ = cb(ctx, o)
	}
	return o.sum, o.seen
}

func (p *queueProbe) meterProvider(mp metric.MeterProvider) metric.MeterProvider {
	return probeMeterProvider{MeterProvider: mp, probe: p}
}

type probeMeterProvider struct {
	metric.MeterProvider
	probe *queueProbe
}

func (mp probeMeterProvider) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	return probeMeter{Meter: mp.MeterProvider.Meter(name, opts...), probe: mp.probe}
}

type probeMeter struct {
	metric.Meter
	probe *queueProbe
}

// probedGauge is the queue size gauge as the exporter sees it. It has an
// identity of its own (instruments of a no-op provider are all equal), and is
// swapped back for the underlying gauge wherever it reaches the real meter.
type probedGauge struct {
	metric.Int64ObservableGauge
}

func (m probeMeter) Int64ObservableGauge(name string, opts ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	g, err := m.Meter.Int64ObservableGauge(name, opts...)
	if err != nil || name != queueSizeMetric {
		return g, err
	}
	pg := &probedGauge{Int64ObservableGauge: g}
	m.probe.mu.Lock()
	m.probe.gauge = pg
	m.probe.mu.Unlock()
	return pg, nil
}

func (m probeMeter) RegisterCallback(f metric.Callback, instruments ...metric.Observable) (metric.Registration, error) {
	m.probe.mu.Lock()
	gauge := m.probe.gauge
	i := slices.IndexFunc(instruments, func(o metric.Observable) bool { return gauge != nil && o == metric.Observable(gauge) })
	if i >= 0 {
		m.probe.callbacks = append(m.probe.callbacks, f)
	}
	m.probe.mu.Unlock()
	if i < 0 {
		return m.Meter.RegisterCallback(f, instruments...)
	}
	instruments = slices.Clone(instruments)
	instruments[i] = gauge.Int64ObservableGauge
	return m.Meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		return f(ctx, unwrappingObserver{Observer: o, gauge: gauge})
	}, instruments...)
}

// unwrappingObserver passes observations of the probed gauge to the real
// observer as observations of the underlying gauge.
type unwrappingObserver struct {
	metric.Observer
	gauge *probedGauge
}

func (o unwrappingObserver) ObserveInt64(inst metric.Int64Observable, v int64, opts ...metric.ObserveOption) {
	if inst == metric.Int64Observable(o.gauge) {
		inst = o.gauge.Int64ObservableGauge
	}
	o.Observer.ObserveInt64(inst, v, opts...)
}

// sizeObserver sums what the callbacks observe for the probed gauge.
type sizeObserver struct {
	embedded.Observer
	gauge *probedGauge
	sum   int64
	seen  bool
}

func (*sizeObserver) ObserveFloat64(metric.Float64Observable, float64, ...metric.ObserveOption) {}

func (o *sizeObserver) ObserveInt64(inst metric.Int64Observable, v int64, _ ...metric.ObserveOption) {
	if inst == metric.Int64Observable(o.gauge) {
		o.sum += v
		o.seen = true
	}
}
