// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/promptetheus/otelcol-promptetheus/extension/agentrulesextension"
	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/artifactstore"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/metadata"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/runstore"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"
)

const (
	transportHTTP = "http"
	dataFormat    = "promptetheus"
)

// promptetheusReceiver serves the Promptetheus Session API.
type promptetheusReceiver struct {
	cfg       *Config
	settings  receiver.Settings
	next      consumer.Traces
	obsrecv   *receiverhelper.ObsReport
	telemetry *metadata.TelemetryBuilder

	auth       *authenticator
	sessionCfg session.Config
	runs       *session.Registry
	store      *runstore.Store
	artifacts  *artifactstore.Store
	storage    storage.Client

	server     *http.Server
	stopSweep  context.CancelFunc
	shutdownWG sync.WaitGroup
	now        func() time.Time
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Traces) (*promptetheusReceiver, error) {
	obsrecv, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              transportHTTP,
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &promptetheusReceiver{
		cfg:       cfg,
		settings:  set,
		next:      next,
		obsrecv:   obsrecv,
		telemetry: tb,
		now:       time.Now,
	}, nil
}

// Start restores run state, then serves the API.
func (r *promptetheusReceiver) Start(ctx context.Context, host component.Host) error {
	auth, err := newAuthenticator(r.cfg, host)
	if err != nil {
		return err
	}
	r.auth = auth

	judge, err := agentrulesextension.Lookup(host, r.cfg.Rules, r.settings.TelemetrySettings)
	if err != nil {
		return err
	}

	if r.cfg.Storage != nil {
		client, err := getStorageClient(ctx, host, *r.cfg.Storage, r.settings.ID)
		if err != nil {
			return err
		}
		r.storage = client
	}
	r.sessionCfg = session.Config{
		IdleTimeout:     r.cfg.Sessions.IdleTimeout,
		Retention:       r.cfg.Sessions.Retention,
		MaxRuns:         r.cfg.Sessions.MaxRuns,
		MaxEventsPerRun: r.cfg.Sessions.MaxEventsPerRun,
		MaxBytesPerRun:  r.cfg.Sessions.MaxBytesPerRun,
		MaxBytes:        r.cfg.Sessions.MaxBytes,
		KeepSteps:       r.storage == nil,
		Mapping: mapping.Config{
			CaptureContent:     r.cfg.Mapping.CaptureContent,
			MaxAttributeLength: r.cfg.Mapping.MaxAttributeLength,
			MaxArrayLength:     r.cfg.Mapping.MaxArrayLength,
			Provider:           r.cfg.Mapping.Provider,
			Prices:             judge.Prices(),
		},
		Judge: judge,
	}
	r.runs = session.NewRegistry(&r.sessionCfg)
	r.store = runstore.New(r.storage)
	restored, err := r.store.Load(ctx, func(k session.Key, err error) {
		r.settings.Logger.Error("Skipping an unreadable stored trace", zap.String("project", k.Project), zap.Error(err))
	})
	if err != nil {
		return err
	}
	r.runs.Restore(restored)
	if err := r.telemetry.RegisterReceiverPromptetheusTracesOpenCallback(func(_ context.Context, o metric.Int64Observer) error {
		open, _, _ := r.runs.Stats()
		o.Observe(int64(open))
		return nil
	}); err != nil {
		return err
	}
	if err := r.telemetry.RegisterReceiverPromptetheusStateBytesCallback(func(_ context.Context, o metric.Int64Observer) error {
		_, _, bytes := r.runs.Stats()
		o.Observe(bytes)
		return nil
	}); err != nil {
		return err
	}

	if err := r.startArtifacts(); err != nil {
		return err
	}

	r.server, err = r.cfg.ServerConfig.ToServer(ctx, host.GetExtensions(), r.settings.TelemetrySettings, r.routes(),
		confighttp.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, msg string, status int) {
			if status == http.StatusBadRequest {
				msg = "malformed gzip body" // the decompressor refused the body
			}
			writeDetail(w, status, msg)
		}))
	if err != nil {
		return err
	}
	var listener net.Listener
	if listener, err = r.cfg.ServerConfig.ToListener(ctx); err != nil {
		return fmt.Errorf("failed to bind to %s: %w", r.cfg.ServerConfig.NetAddr.Endpoint, err)
	}
	r.shutdownWG.Go(func() {
		if errHTTP := r.server.Serve(listener); errHTTP != nil && !errors.Is(errHTTP, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(errHTTP))
		}
	})

	sweepCtx, cancel := context.WithCancel(context.Background())
	r.stopSweep = cancel
	// Batches a crash left stored but unsent go out now, not at the first sweep.
	r.shutdownWG.Go(func() { r.redeliver(sweepCtx) })
	r.shutdownWG.Go(func() { r.sweepLoop(sweepCtx) })
	return nil
}

// sweepLoop finalises idle runs and forgets expired ones.
func (r *promptetheusReceiver) sweepLoop(ctx context.Context) {
	interval := min(max(r.cfg.Sessions.IdleTimeout/4, 100*time.Millisecond), 10*time.Second)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			r.sweep(ctx, r.now())
		}
	}
}

// Shutdown stops serving. With persistent storage the sent marks are
// stored, so that a restart re-emits nothing; without, open runs are
// finalised now, as their state would not survive.
func (r *promptetheusReceiver) Shutdown(ctx context.Context) error {
	var err error
	if r.server != nil {
		err = r.server.Shutdown(ctx)
	}
	if r.stopSweep != nil {
		r.stopSweep()
	}
	r.shutdownWG.Wait()
	err = errors.Join(err, r.closeArtifacts())
	if r.runs != nil {
		if r.store.Persistent() {
			r.storeSentMarks(ctx)
		} else {
			r.finalizeAll(ctx, r.now())
		}
	}
	if r.storage != nil {
		err = errors.Join(err, r.storage.Close(ctx))
	}
	if r.telemetry != nil {
		r.telemetry.Shutdown()
	}
	return err
}

func getStorageClient(ctx context.Context, host component.Host, id, owner component.ID) (storage.Client, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("storage extension %q not found", id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("extension %q is not a storage extension", id)
	}
	return se.GetClient(ctx, component.KindReceiver, owner, "")
}
