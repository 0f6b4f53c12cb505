// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package session // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

// Reasons a run is finalised, besides a session_end event.
const (
	FinalizedByAnalyze     = "analyze"
	FinalizedByIdleTimeout = "idle_timeout"
	FinalizedByShutdown    = "shutdown"
)

// Snapshot is what analyze reads of a run.
type Snapshot struct {
	View  RunView
	Steps []rules.Step
	// Verdict is the run's verdict, nil while it is open.
	Verdict *rules.Result
	// Analysis is the last analysis stored for the run, nil if none.
	Analysis json.RawMessage
}

// Finalize closes an open run (pending halves become spans, the root span is
// emitted) and returns its snapshot. A run already finalised is returned as
// it is: its root is never emitted twice.
func (m *Manager) Finalize(ctx context.Context, project, runID, by string, now time.Time) (Snapshot, error) {
	key := runKey{project, runID}
	r, _, err := m.lockRun(key, false, mapping.Run{}, now)
	if err != nil {
		return Snapshot{}, err
	}
	if r == nil {
		return Snapshot{}, ErrNotFound
	}
	defer r.mu.Unlock()
	if err := m.finalizeLocked(ctx, key, r, by, now); err != nil {
		return Snapshot{}, err
	}
	return r.snapshot(), nil
}

func (r *run) snapshot() Snapshot {
	return Snapshot{View: r.view(), Steps: slices.Clone(r.steps), Verdict: r.state.Verdict, Analysis: r.state.Analysis}
}

func (m *Manager) finalizeLocked(ctx context.Context, key runKey, r *run, by string, now time.Time) error {
	if r.finalized() {
		return nil
	}
	b := mapping.NewBuilder(&m.cfg.Mapping, &r.state.Info)
	sum, pending := r.state.Summary, r.state.Pending.Clone()
	closeRun(b, &sum, &pending, r, by)
	rec := &batchRecord{}
	rec.Steps, rec.UserFindings = m.judgeSpans(ctx, b, false)
	verdict := m.judgeRun(r, b, rec)
	if err := m.emit(ctx, b); err != nil {
		return err
	}
	prev := r.state
	r.state.Summary = sum
	r.state.Pending = pending
	r.state.FinalizedAt = now
	r.state.FinalizedBy = by
	r.state.Verdict = verdict
	if err := m.persist(ctx, key, r, rec); err != nil {
		r.state = prev
		return err
	}
	r.applyBatch(rec)
	m.finalized(by)
	return nil
}

// Get returns a run's snapshot without changing it.
func (m *Manager) Get(project, runID string) (Snapshot, error) {
	r, _, err := m.lockRun(runKey{project, runID}, false, mapping.Run{}, time.Time{})
	if err != nil {
		return Snapshot{}, err
	}
	if r == nil {
		return Snapshot{}, ErrNotFound
	}
	defer r.mu.Unlock()
	return r.snapshot(), nil
}

// SetAnalysis stores the last analysis of a run.
func (m *Manager) SetAnalysis(ctx context.Context, project, runID string, analysis json.RawMessage) error {
	key := runKey{project, runID}
	r, _, err := m.lockRun(key, false, mapping.Run{}, time.Time{})
	if err != nil {
		return err
	}
	if r == nil {
		return ErrNotFound
	}
	defer r.mu.Unlock()
	prev := r.state.Analysis
	r.state.Analysis = analysis
	if err := m.persist(ctx, key, r, nil); err != nil {
		r.state.Analysis = prev
		return err
	}
	return nil
}

// Sweep finalises runs idle for longer than the idle timeout and forgets
// finalised runs older than the retention.
func (m *Manager) Sweep(ctx context.Context, now time.Time) {
	m.mu.Lock()
	keys := make([]runKey, 0, len(m.runs))
	for k := range m.runs {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	for _, k := range keys {
		r, _, _ := m.lockRun(k, false, mapping.Run{}, now)
		if r == nil {
			continue
		}
		switch {
		case !r.finalized() && now.Sub(r.state.LastActivity) >= m.cfg.IdleTimeout:
			if err := m.finalizeLocked(ctx, k, r, FinalizedByIdleTimeout, now); err != nil {
				m.logger.Warn("Finalising an idle trace failed; retrying later", zap.String("project", k.project), zap.Error(err))
			}
		case r.finalized() && now.Sub(r.state.FinalizedAt) >= m.cfg.Retention:
			m.mu.Lock()
			m.forgetLocked(k)
			m.mu.Unlock()
			r.gone = true
			m.deleteStored(ctx, k, r)
		}
		r.mu.Unlock()
	}
}

// FinalizeAll closes every open run; used at shutdown when state is not
// persistent and would otherwise be lost.
func (m *Manager) FinalizeAll(ctx context.Context, now time.Time) {
	m.mu.Lock()
	keys := make([]runKey, 0, len(m.runs))
	for k := range m.runs {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	for _, k := range keys {
		if _, err := m.Finalize(ctx, k.project, k.id, FinalizedByShutdown, now); err != nil && err != ErrNotFound {
			m.logger.Warn("Finalising a trace at shutdown failed", zap.String("project", k.project), zap.Error(err))
		}
	}
}

// Stats reports the runs kept, for telemetry.
func (m *Manager) Stats() (open, finalized int) {
	m.mu.Lock()
	runs := make([]*run, 0, len(m.runs))
	for _, r := range m.runs {
		runs = append(runs, r)
	}
	m.mu.Unlock()
	for _, r := range runs {
		// A run busy with a request is not waited for (a metrics scrape must
		// not stall behind the pipeline): it is counted as open.
		if !r.mu.TryLock() {
			open++
			continue
		}
		if r.finalized() {
			finalized++
		} else {
			open++
		}
		r.mu.Unlock()
	}
	return open, finalized
}

// ErrArtifactQuota: the run's artifacts would exceed their size limit.
var ErrArtifactQuota = errors.New("artifacts of this trace exceed their size limit")

// AddArtifact accounts an uploaded artifact to its run (created implicitly
// when absent) and emits its span.
func (m *Manager) AddArtifact(ctx context.Context, info mapping.Run, a *mapping.Artifact, maxPerRun int64, now time.Time) error {
	info.Implicit = true
	key := runKey{info.Project, info.ID}
	r, created, err := m.lockRun(key, true, info, now)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if r.state.ArtifactBytes+a.SizeBytes > maxPerRun {
		if created {
			m.drop(key, r)
		}
		return ErrArtifactQuota
	}
	b := mapping.NewBuilder(&m.cfg.Mapping, &r.state.Info)
	b.AddArtifact(a)
	if err := m.emit(ctx, b); err != nil {
		if created {
			m.drop(key, r)
		}
		return err
	}
	prev := r.state
	r.state.ArtifactBytes += a.SizeBytes
	r.state.LastActivity = now
	if err := m.persist(ctx, key, r, nil); err != nil {
		r.state = prev
		return err
	}
	return nil
}
