// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter // import "github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter/internal/metadata"
)

var (
	reasonNoTenant    = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "no_tenant")))
	reasonTenantLimit = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "tenant_limit")))

	errStopped = errors.New("the tempo exporter is shut down")
)

// tempoExporter routes every resource's spans to the otlp_http exporter of
// its tenant, creating tenant exporters as tenants appear (as the
// loadbalancing exporter does per endpoint) and shutting them down when
// idle. It has no queue of its own: ConsumeTraces returns once the spans are
// in their tenants' sending queues.
type tempoExporter struct {
	cfg       *Config
	set       exporter.Settings
	factory   exporter.Factory // otlp_http
	telemetry *metadata.TelemetryBuilder
	tenantOf  func(pcommon.Resource) string

	host  component.Host
	known *knownTenants // nil without a persistent queue

	mu      sync.Mutex
	tenants map[string]*tenant
	stopped bool

	stopSweep chan struct{}
	sweepDone sync.WaitGroup

	warnNoTenant  sync.Once
	warnQueueSize sync.Once
}

func newExporter(cfg *Config, set exporter.Settings, factory exporter.Factory) (*tempoExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &tempoExporter{
		cfg:       cfg,
		set:       set,
		factory:   factory,
		telemetry: tb,
		tenantOf:  tenantOf(cfg.Tenant.ResourceAttribute, cfg.Tenant.Default),
		tenants:   map[string]*tenant{},
		stopSweep: make(chan struct{}),
	}, nil
}

func (*tempoExporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// Start opens the known tenants in the storage of the persistent queue and
// creates the exporters of those tenants, so they drain what was queued
// before a restart.
func (e *tempoExporter) Start(ctx context.Context, host component.Host) error {
	e.host = host
	if id := e.storageID(); id != nil {
		client, err := storageClient(ctx, host, *id, e.set.ID)
		if err != nil {
			return err
		}
		known, invalid, err := loadKnownTenants(ctx, client)
		if err != nil {
			_ = client.Close(ctx)
			return err
		}
		if len(invalid) > 0 {
			e.set.Logger.Warn("Ignoring stored tenants that are not valid tenant IDs", zap.Strings("tenants", invalid))
		}
		e.known = known
		ids := known.list()
		if len(ids) > e.cfg.Tenant.MaxTenants {
			e.set.Logger.Warn("More tenants may hold queued data than tenant.max_tenants allows; recreating all of them, new tenants wait for idle ones to shut down",
				zap.Int("tenants", len(ids)), zap.Int("max_tenants", e.cfg.Tenant.MaxTenants))
		}
		for _, id := range ids {
			t := newTenant(id)
			e.tenants[id] = t
			e.startTenant(t)
			if t.err != nil {
				e.set.Logger.Error("Failed to recreate the exporter of a tenant with queued data", zap.String("tenant", id), zap.Error(t.err))
			}
		}
		if len(ids) > 0 {
			e.set.Logger.Info("Recreated the exporters of the tenants whose queues may hold data", zap.Strings("tenants", ids))
		}
	}
	e.sweepDone.Add(1)
	go e.sweep(sweepInterval(e.cfg.Tenant.IdleTimeout))
	return nil
}

// storageID is the storage extension of the persistent sending queue, if any.
func (e *tempoExporter) storageID() *component.ID {
	q := e.cfg.OTLPHTTP.QueueConfig
	if !q.HasValue() {
		return nil
	}
	return q.Get().StorageID
}

func storageClient(ctx context.Context, host component.Host, storageID, owner component.ID) (storage.Client, error) {
	ext, ok := host.GetExtensions()[storageID]
	if !ok {
		return nil, fmt.Errorf("storage extension %q not found", storageID)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("extension %q is not a storage extension", storageID)
	}
	return se.GetClient(ctx, component.KindExporter, owner, "tenants")
}

// Shutdown shuts every tenant exporter down; persistent queues keep what
// was not sent, and the known tenants keep those tenants for the next start.
func (e *tempoExporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return nil
	}
	e.stopped = true
	e.mu.Unlock()
	close(e.stopSweep)
	e.sweepDone.Wait()

	e.mu.Lock()
	tenants := make([]*tenant, 0, len(e.tenants))
	for _, t := range e.tenants {
		tenants = append(tenants, t)
	}
	e.mu.Unlock()

	var errs []error
	for _, t := range tenants {
		<-t.ready
		if t.err != nil {
			continue
		}
		t.stopAndWait()
		if err := t.exp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", t.id, err))
		}
		e.telemetry.ExporterTempoTenants.Add(ctx, -1)
		e.telemetry.ExporterTempoTenantsShutDown.Add(ctx, 1)
		close(t.gone) // acquire, waiting for it, then sees the exporter stopped
	}
	if e.known != nil {
		errs = append(errs, e.known.client.Close(ctx))
	}
	e.telemetry.Shutdown()
	return errors.Join(errs...)
}

// ConsumeTraces hands each tenant's spans to the tenant's exporter. When
// some tenants fail with a retryable error, the error carries only their
// spans (consumererror.Traces), for a caller that retries just those.
func (e *tempoExporter) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	parts, noTenant := splitByTenant(td, e.tenantOf)

	var permanent, retryable []error
	var failed []tenantPart
	if noTenant > 0 {
		e.telemetry.ExporterTempoRefusedSpans.Add(ctx, int64(noTenant), reasonNoTenant)
		err := fmt.Errorf("%d spans refused: their resource has no valid %s attribute and tenant.default is empty", noTenant, e.cfg.Tenant.ResourceAttribute)
		e.warnNoTenant.Do(func() {
			e.set.Logger.Warn("Refusing spans without a tenant; set tenant.default to send them to a default tenant (further refusals are only counted)", zap.Error(err))
		})
		permanent = append(permanent, err)
	}
	for _, p := range parts {
		err := e.consumeTenant(ctx, p)
		switch {
		case err == nil:
		case consumererror.IsPermanent(err):
			permanent = append(permanent, err)
		default:
			retryable = append(retryable, err)
			failed = append(failed, p)
		}
	}

	switch {
	case len(retryable) == 0 && len(permanent) == 0:
		return nil
	case len(retryable) == 0:
		return consumererror.NewPermanent(errors.Join(permanent...))
	default:
		if len(permanent) > 0 {
			// A permanent error in the returned error would stop the retry
			// of the retryable tenants too: report it here instead.
			e.set.Logger.Error("Dropping spans refused permanently; the other tenants may be retried", zap.Error(errors.Join(permanent...)))
		}
		return consumererror.NewTraces(errors.Join(retryable...), merge(failed))
	}
}

func (e *tempoExporter) consumeTenant(ctx context.Context, p tenantPart) error {
	t, err := e.acquire(p.tenant)
	if errors.Is(err, errTenantLimit) {
		e.telemetry.ExporterTempoRefusedSpans.Add(ctx, int64(p.spans), reasonTenantLimit)
	}
	if err != nil {
		return fmt.Errorf("tenant %s: %w", p.tenant, err)
	}
	defer t.release()
	if err := t.exp.ConsumeTraces(ctx, p.td); err != nil {
		return fmt.Errorf("tenant %s: %w", p.tenant, err)
	}
	return nil
}

// merge gathers the spans of failed parts. Several parts are always copies
// owned by the exporter (see splitByTenant), so moving them is safe.
func merge(parts []tenantPart) ptrace.Traces {
	if len(parts) == 1 {
		return parts[0].td
	}
	td := ptrace.NewTraces()
	for _, p := range parts {
		p.td.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	return td
}

var errTenantLimit = errors.New("refused: tenant.max_tenants reached")

// acquire returns the running exporter of a tenant, creating it if need be,
// marked in use until release.
func (e *tempoExporter) acquire(id string) (*tenant, error) {
	for {
		e.mu.Lock()
		if e.stopped {
			e.mu.Unlock()
			return nil, errStopped
		}
		t, ok := e.tenants[id]
		if !ok {
			if n := len(e.tenants); n >= e.cfg.Tenant.MaxTenants {
				e.mu.Unlock()
				return nil, fmt.Errorf("%w: %d tenants are active; retry once an idle one is shut down", errTenantLimit, n)
			}
			t = newTenant(id)
			e.tenants[id] = t
			e.mu.Unlock()
			e.startTenant(t)
		} else {
			e.mu.Unlock()
		}
		<-t.ready
		if t.err != nil {
			return nil, t.err
		}
		if t.acquire() {
			return t, nil
		}
		// Shut down for idleness meanwhile: wait until its queue is closed,
		// then create it again.
		<-t.gone
	}
}

// startTenant creates and starts the exporter of t, recording it in the
// known tenants first so that a crash cannot leave queued data unknown.
func (e *tempoExporter) startTenant(t *tenant) {
	defer close(t.ready)
	ctx := context.Background() // outlives the request that created the tenant
	added := false
	if e.known != nil {
		if added, t.err = e.known.add(ctx, t.id); t.err != nil {
			e.forget(t)
			return
		}
	}
	t.exp, t.err = e.createTenantExporter(ctx, t)
	if t.err != nil {
		if added {
			_ = e.known.remove(ctx, t.id)
		}
		e.forget(t)
		return
	}
	e.telemetry.ExporterTempoTenants.Add(ctx, 1)
	e.telemetry.ExporterTempoTenantsCreated.Add(ctx, 1)
	e.set.Logger.Debug("Started the exporter of a tenant", zap.String("tenant", t.id))
}

// createTenantExporter builds the tenant's otlp_http exporter: the user's
// otlp_http settings plus the tenant header, under an ID of its own, which
// also names its persistent queue in the storage extension.
func (e *tempoExporter) createTenantExporter(ctx context.Context, t *tenant) (exporter.Traces, error) {
	cfg := e.cfg.OTLPHTTP // Headers.Set below copies on write
	cfg.ClientConfig.Headers.Set(e.cfg.Tenant.Header, configopaque.String(t.id))

	set := e.set
	set.ID = tenantExporterID(e.factory.Type(), e.set.ID, t.id)
	set.Logger = e.set.Logger.With(zap.String("tenant", t.id))
	set.MeterProvider = t.queue.meterProvider(e.set.MeterProvider)

	exp, err := e.factory.CreateTraces(ctx, set, &cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to create the exporter of tenant %s: %w", t.id, err)
	}
	if err := exp.Start(ctx, e.host); err != nil {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("failed to start the exporter of tenant %s: %w", t.id, err)
	}
	return exp, nil
}

// tenantExporterID is otlp_http/<tempo exporter ID>/<tenant>: unique across
// tempo exporters, since tenants contain no "/".
func tenantExporterID(typ component.Type, parent component.ID, tenant string) component.ID {
	return component.NewIDWithName(typ, parent.String()+"/"+tenant)
}

// forget removes a tenant that failed to start or was shut down, and wakes
// those waiting for it to go; the next data creates it again.
func (e *tempoExporter) forget(t *tenant) {
	e.mu.Lock()
	if e.tenants[t.id] == t {
		delete(e.tenants, t.id)
	}
	e.mu.Unlock()
	close(t.gone)
}

// sweepInterval checks for idle tenants four times per idle timeout, at
// most every minute.
func sweepInterval(idle time.Duration) time.Duration {
	return min(max(idle/4, time.Millisecond), time.Minute)
}

func (e *tempoExporter) sweep(interval time.Duration) {
	defer e.sweepDone.Done()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-e.stopSweep:
			return
		case now := <-ticker.C:
			e.shutdownIdle(now)
		}
	}
}

// shutdownIdle shuts down the tenants that got no data for idle_timeout and
// whose queue is empty, and forgets them.
func (e *tempoExporter) shutdownIdle(now time.Time) {
	ctx := context.Background()
	e.mu.Lock()
	tenants := make([]*tenant, 0, len(e.tenants))
	for _, t := range e.tenants {
		tenants = append(tenants, t)
	}
	e.mu.Unlock()

	for _, t := range tenants {
		// Not under e.mu: reading a persistent queue's size waits for its
		// storage writes.
		retire, sizeUnknown := t.retireIfIdle(ctx, now, e.cfg.Tenant.IdleTimeout, e.queueEnabled())
		if sizeUnknown {
			e.warnQueueSize.Do(func() {
				e.set.Logger.Warn("Cannot read the sending queue size of tenant exporters; idle tenants are kept running", zap.String("metric", queueSizeMetric))
			})
		}
		if !retire {
			continue
		}
		if err := t.exp.Shutdown(ctx); err != nil {
			e.set.Logger.Warn("Failed to shut down the exporter of an idle tenant", zap.String("tenant", t.id), zap.Error(err))
		}
		if e.known != nil {
			if err := e.known.remove(ctx, t.id); err != nil {
				e.set.Logger.Warn("Failed to forget an idle tenant; it is recreated at the next start", zap.String("tenant", t.id), zap.Error(err))
			}
		}
		e.telemetry.ExporterTempoTenants.Add(ctx, -1)
		e.telemetry.ExporterTempoTenantsShutDown.Add(ctx, 1)
		e.set.Logger.Debug("Shut down the exporter of an idle tenant", zap.String("tenant", t.id))
		e.forget(t)
	}
}

func (e *tempoExporter) queueEnabled() bool {
	return e.cfg.OTLPHTTP.QueueConfig.HasValue()
}
