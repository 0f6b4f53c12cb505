// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"
)

// How a request changes a run: the run is locked (its own lock only), the
// session core plans the batch, the batch is stored with its spans, the
// spans are emitted, then the batch is committed to the run in memory.
// Persist, then emit: a storage error emits nothing; a refusal by the
// pipeline rolls the stored batch back; a crash between the two re-emits
// the stored spans at start-up (they are deterministic: a backend sees the
// same span twice at worst, never a second distinct one).

// pipelineError wraps a refusal of the next consumer: nothing was recorded.
type pipelineError struct{ err error }

func (e *pipelineError) Error() string { return "pipeline refused data: " + e.err.Error() }
func (e *pipelineError) Unwrap() error { return e.err }

// apply persists, emits and commits a planned batch of a locked run.
func (r *promptetheusReceiver) apply(ctx context.Context, run *session.Run, b *session.Batch) error {
	// Batches a crash left unsent go first: the new batch's sent mark
	// would otherwise pass over them.
	if err := r.emitUnsent(ctx, run); err != nil {
		return err
	}
	if err := r.store.Write(ctx, run.Key(), b); err != nil {
		return err
	}
	if b.SpanCount() > 0 {
		if err := r.emit(ctx, b.Spans()); err != nil {
			if rbErr := r.store.Rollback(ctx, run.Key(), b, run.StoredHeader()); rbErr != nil {
				// The batch stays stored: it is re-emitted after a restart
				// unless a later batch of the run, which reuses its number,
				// replaces it first.
				r.settings.Logger.Warn("Rolling back a refused batch failed", zap.Error(rbErr))
			}
			return &pipelineError{err: err}
		}
		r.countBuilt(ctx, b.Builder)
	}
	run.Written(b)
	run.Commit(&r.sessionCfg, b)
	if b.SpanCount() > 0 {
		run.MarkSent(b.N)
	}
	if b.Finalizes() {
		r.telemetry.ReceiverPromptetheusTracesFinalized.Add(ctx, 1,
			metric.WithAttributes(attribute.String("finalized_by", run.Header().FinalizedBy)))
	}
	return nil
}

// emit hands spans to the next consumer, counted as the receiver's
// accepted or refused spans whatever path emits them.
func (r *promptetheusReceiver) emit(ctx context.Context, td ptrace.Traces) error {
	n := td.SpanCount()
	ctx = r.obsrecv.StartTracesOp(ctx)
	err := r.next.ConsumeTraces(ctx, td)
	r.obsrecv.EndTracesOp(ctx, dataFormat, n, err)
	return err
}

func (r *promptetheusReceiver) countBuilt(ctx context.Context, b *mapping.Builder) {
	if n := b.Truncated(); n > 0 {
		r.telemetry.ReceiverPromptetheusAttributesTruncated.Add(ctx, int64(n))
	}
	if n := b.UnpricedCalls(); n > 0 {
		r.telemetry.ReceiverPromptetheusLlmCallsUnpriced.Add(ctx, n)
	}
}

// appendEvents accepts a request's events for a run, creating the run
// implicitly when it does not exist.
func (r *promptetheusReceiver) appendEvents(ctx context.Context, key session.Key, events []session.Incoming, now time.Time) (session.AppendResult, error) {
	if r.runs.Full() {
		return session.AppendResult{}, session.ErrStateFull
	}
	info := mapping.Run{Project: key.Project, Workspace: r.cfg.WorkspaceID, ID: key.ID, Implicit: true}
	run, created, err := r.runs.Acquire(key, true, info, now)
	if err != nil {
		return session.AppendResult{}, err
	}
	b := run.PlanAppend(ctx, &r.sessionCfg, events, now)
	if !b.Stored() && b.Header == nil {
		if created {
			r.runs.Drop(run) // nothing accepted: no run either
		} else {
			r.runs.Release(run)
		}
		return b.Result, nil
	}
	err = r.judgeIfFinal(ctx, run, b, now)
	if err == nil {
		err = r.apply(ctx, run, b)
	}
	if err != nil && created {
		r.runs.Drop(run)
		return session.AppendResult{}, err
	}
	r.runs.Release(run)
	return b.Result, err
}

// judgeIfFinal judges a batch that finalises its run, from every step of
// the run: those in memory, or read back from the stored spans.
func (r *promptetheusReceiver) judgeIfFinal(ctx context.Context, run *session.Run, b *session.Batch, now time.Time) error {
	if !b.Finalizes() {
		return nil
	}
	prior, err := r.steps(ctx, run)
	if err != nil {
		return err
	}
	b.Judge(&r.sessionCfg, run, prior, now)
	return nil
}

// steps are the steps of a locked run's committed batches.
func (r *promptetheusReceiver) steps(ctx context.Context, run *session.Run) ([]rules.Step, error) {
	if r.sessionCfg.KeepSteps {
		return run.Steps(), nil
	}
	tds, err := r.store.ReadSpans(ctx, run.Key(), 0, run.Batches())
	if err != nil {
		return nil, err
	}
	var steps []rules.Step
	for _, td := range tds {
		steps = append(steps, session.StepsOf(td)...)
	}
	return steps, nil
}

// createRun records a run created by POST /api/traces, or describes an
// existing one again.
func (r *promptetheusReceiver) createRun(ctx context.Context, info mapping.Run, now time.Time) (session.Header, error) {
	key := session.Key{Project: info.Project, ID: info.ID}
	run, created, err := r.runs.Acquire(key, true, info, now)
	if err != nil {
		return session.Header{}, err
	}
	err = r.apply(ctx, run, run.PlanCreate(info, created, now))
	h := run.Header()
	if err != nil && created {
		r.runs.Drop(run)
		return h, err
	}
	r.runs.Release(run)
	return h, err
}

// finalize closes an open run (its root and verdict are emitted once) and
// returns its header with the verdict; analyzed also records the answer.
func (r *promptetheusReceiver) finalize(ctx context.Context, key session.Key, by string, analyzed bool, now time.Time) (session.Header, error) {
	run, _, err := r.runs.Acquire(key, false, mapping.Run{}, now)
	if err != nil {
		return session.Header{}, err
	}
	if run == nil {
		return session.Header{}, session.ErrNotFound
	}
	defer r.runs.Release(run)
	b := run.PlanFinalize(ctx, &r.sessionCfg, by, now)
	if b.Finalizes() {
		if err := r.judgeIfFinal(ctx, run, b, now); err != nil {
			return session.Header{}, err
		}
		if analyzed {
			b.Header.AnalyzedAt = now
		}
	} else if analyzed {
		b = run.PlanAnalyzed(now)
	}
	if err := r.apply(ctx, run, b); err != nil {
		return session.Header{}, err
	}
	return run.Header(), nil
}

// snapshot is what console reads of a run.
type snapshot struct {
	header session.Header
	steps  []rules.Step
}

// readRun returns a run's header and, when withSteps, its steps.
func (r *promptetheusReceiver) readRun(ctx context.Context, key session.Key, withSteps bool) (snapshot, error) {
	run, _, err := r.runs.Acquire(key, false, mapping.Run{}, time.Time{})
	if err != nil {
		return snapshot{}, err
	}
	if run == nil {
		return snapshot{}, session.ErrNotFound
	}
	defer r.runs.Release(run)
	s := snapshot{header: run.Header()}
	if withSteps {
		steps, err := r.steps(ctx, run)
		if err != nil {
			return snapshot{}, err
		}
		s.steps = append([]rules.Step(nil), steps...)
	}
	return s, nil
}

// addArtifact emits the span of an uploaded artifact, counted against its
// run's artifact bytes (the run is created when absent).
func (r *promptetheusReceiver) addArtifact(ctx context.Context, key session.Key, a *mapping.Artifact, now time.Time) error {
	info := mapping.Run{Project: key.Project, Workspace: r.cfg.WorkspaceID, ID: key.ID, Implicit: true}
	run, created, err := r.runs.Acquire(key, true, info, now)
	if err != nil {
		return err
	}
	b, err := run.PlanArtifact(ctx, &r.sessionCfg, a, r.cfg.Artifacts.MaxSizePerTrace, now)
	if err == nil {
		err = r.apply(ctx, run, b)
	}
	if err != nil && created {
		r.runs.Drop(run)
		return err
	}
	r.runs.Release(run)
	return err
}

// sweep finalises idle runs, forgets expired ones, re-emits batches a
// crash left unsent and stores sent marks; no storage write happens under
// the registry's lock, only under the locks of the runs it writes.
func (r *promptetheusReceiver) sweep(ctx context.Context, now time.Time) {
	for _, key := range r.runs.Idle(now.Add(-r.cfg.Sessions.IdleTimeout)) {
		if _, err := r.finalize(ctx, key, session.FinalizedByIdleTimeout, false, now); err != nil && err != session.ErrNotFound {
			r.settings.Logger.Warn("Finalising an idle trace failed; retrying later", zap.String("project", key.Project), zap.Error(err))
		}
	}
	r.runs.Expire(now.Add(-r.cfg.Sessions.Retention))
	r.runs.DeleteForgotten(func(run *session.Run) {
		if err := r.store.Delete(ctx, run.Key(), run.Batches()); err != nil {
			r.settings.Logger.Warn("Deleting a stored trace failed", zap.String("project", run.Key().Project), zap.Error(err))
		}
	})
	r.redeliver(ctx)
	r.storeSentMarks(ctx)
}

// redeliver re-emits the stored batches the pipeline did not take before a
// crash; a refusal leaves them for the next sweep or the run's next request.
func (r *promptetheusReceiver) redeliver(ctx context.Context) {
	for _, key := range r.runs.TakeUnsent() {
		run, _, err := r.runs.Acquire(key, false, mapping.Run{}, time.Time{})
		if err != nil || run == nil {
			continue
		}
		if err := r.emitUnsent(ctx, run); err != nil {
			r.settings.Logger.Warn("Re-emitting stored spans failed; retrying later", zap.String("project", key.Project), zap.Error(err))
		}
		r.runs.Release(run)
	}
}

// emitUnsent emits, in order, the stored batches of a locked run that the
// pipeline has not taken, each marked sent once taken.
func (r *promptetheusReceiver) emitUnsent(ctx context.Context, run *session.Run) error {
	for _, n := range run.Unsent() {
		tds, err := r.store.ReadSpans(ctx, run.Key(), n, n+1)
		if err != nil {
			return err
		}
		for _, td := range tds {
			if err := r.emit(ctx, td); err != nil {
				return &pipelineError{err: err}
			}
		}
		run.MarkSent(n)
	}
	return nil
}

// sentMarksPerWrite bounds the runs whose sent marks one transaction
// stores, and so the runs held locked while it commits.
const sentMarksPerWrite = 256

// storeSentMarks writes the sent marks storage lacks, so that a restart
// re-emits as little as possible: the marks of many runs in one storage
// transaction, each run locked until its mark is stored.
func (r *promptetheusReceiver) storeSentMarks(ctx context.Context) {
	if !r.store.Persistent() {
		return
	}
	keys := r.runs.TakeUnstored()
	for len(keys) > 0 {
		n := min(len(keys), sentMarksPerWrite)
		r.storeSentMarksOf(ctx, keys[:n])
		keys = keys[n:]
	}
}

func (r *promptetheusReceiver) storeSentMarksOf(ctx context.Context, keys []session.Key) {
	marks := make(map[session.Key]int64, len(keys))
	held := make([]*session.Run, 0, len(keys))
	for _, key := range keys {
		run, _, err := r.runs.Acquire(key, false, mapping.Run{}, time.Time{})
		if err != nil || run == nil {
			continue
		}
		sent, ok := run.SentToStore()
		if !ok {
			r.runs.Release(run)
			continue
		}
		marks[key] = sent
		held = append(held, run)
	}
	err := r.store.WriteSent(ctx, marks)
	if err != nil {
		r.settings.Logger.Warn("Storing sent marks failed; retrying later", zap.Int("traces", len(marks)), zap.Error(err))
	}
	for _, run := range held {
		if err == nil {
			run.SentStored(marks[run.Key()])
		}
		r.runs.Release(run) // a mark still unstored is taken again by the next sweep
	}
}

// finalizeAll closes every open run at shutdown when state is not
// persistent and would otherwise be lost.
func (r *promptetheusReceiver) finalizeAll(ctx context.Context, now time.Time) {
	for _, key := range r.runs.Idle(now.Add(time.Nanosecond)) {
		if _, err := r.finalize(ctx, key, session.FinalizedByShutdown, false, now); err != nil && err != session.ErrNotFound {
			r.settings.Logger.Warn("Finalising a trace at shutdown failed", zap.String("project", key.Project), zap.Error(err))
		}
	}
}
