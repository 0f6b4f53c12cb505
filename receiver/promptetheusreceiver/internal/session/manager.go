// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package session keeps the state of Promptetheus runs: dedup keys, pending
// span halves, running totals, the compact steps the rules read and the
// verdict of a finalised run. It turns accepted events into spans, judges a
// run when it finalises it, hands the spans to the next consumer and persists
// the state through a storage client before the caller acknowledges.
package session // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
)

// Config bounds the state kept per run and in all.
type Config struct {
	// IdleTimeout finalises a run that received nothing for this long.
	IdleTimeout time.Duration
	// Retention keeps a finalised run this long: analyze still answers and
	// replayed events are still recognised as duplicates.
	Retention time.Duration
	// MaxRuns bounds the runs kept, open or retained.
	MaxRuns int
	// MaxEventsPerRun bounds the events accepted for one run.
	MaxEventsPerRun int
	Mapping         mapping.Config
	// Judge judges a run when it is finalised.
	Judge Judge
	// OnFinalized, if set, is called each time a run is finalised.
	OnFinalized func(by string)
	// OnTruncated, if set, is called with the attribute values cut in spans
	// handed to the pipeline.
	OnTruncated func(n int)
}

// Judge judges agent runs; the agent_rules extension's judge implements it.
type Judge interface {
	// MatchSpan evaluates the user rules on one span; step is the span's
	// step, nil for the root.
	MatchSpan(ctx context.Context, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span, step *rules.Step) []rules.Finding
	// Evaluate judges a run from its steps and the user findings of its spans.
	Evaluate(run rules.Run, steps []rules.Step, userFindings []rules.Finding) rules.Result
	// WriteVerdict writes the verdict on the root and appends finding spans.
	WriteVerdict(root ptrace.Span, res *rules.Result, runID string, findingSpans ptrace.SpanSlice)
}

var (
	// ErrNotFound: no such run in the caller's projects.
	ErrNotFound = errors.New("trace not found")
	// ErrTooManyRuns: the run bound is reached and no finalised run can go.
	ErrTooManyRuns = errors.New("too many open traces")
	// ErrOtherProject: the run id is taken by another project.
	ErrOtherProject = errors.New("trace belongs to another project")
)

// PipelineError wraps an error of the next consumer: the data was refused
// and nothing was recorded.
type PipelineError struct{ Err error }

func (e *PipelineError) Error() string { return "pipeline refused data: " + e.Err.Error() }
func (e *PipelineError) Unwrap() error { return e.Err }

// StorageError wraps a failure to persist state.
type StorageError struct{ Err error }

func (e *StorageError) Error() string { return "storing trace state failed: " + e.Err.Error() }
func (e *StorageError) Unwrap() error { return e.Err }

// Manager owns every run of one receiver.
type Manager struct {
	cfg    Config
	client storage.Client
	next   consumer.Traces
	logger *zap.Logger

	mu   sync.Mutex
	runs map[runKey]*run
	// owners maps a run id to its project: run ids are unique across
	// projects, so another project's key is refused rather than served.
	owners map[string]string
}

type runKey struct{ project, id string }

// NewManager returns a manager that persists through client (nil keeps the
// state in memory only) and emits spans to next.
func NewManager(cfg Config, client storage.Client, next consumer.Traces, logger *zap.Logger) *Manager {
	return &Manager{cfg: cfg, client: client, next: next, logger: logger, runs: map[runKey]*run{}, owners: map[string]string{}}
}

// Persistent reports whether state survives a restart.
func (m *Manager) Persistent() bool { return m.client != nil }

// RunView is the public description of a run.
type RunView struct {
	Info        mapping.Run
	CreatedAt   time.Time
	FinalizedAt time.Time
	FinalizedBy string
	Events      int64
}

func (r *run) view() RunView {
	return RunView{
		Info: r.state.Info, CreatedAt: r.state.CreatedAt,
		FinalizedAt: r.state.FinalizedAt, FinalizedBy: r.state.FinalizedBy,
		Events: int64(len(r.keys)),
	}
}

// lockRun returns the run locked, creating it with info when absent and
// create is true. A nil run with nil error means not found.
func (m *Manager) lockRun(key runKey, create bool, info mapping.Run, now time.Time) (*run, bool, error) {
	for {
		m.mu.Lock()
		r, ok := m.runs[key]
		created := false
		if !ok {
			if !create {
				m.mu.Unlock()
				return nil, false, nil
			}
			if _, taken := m.owners[key.id]; taken {
				m.mu.Unlock()
				return nil, false, ErrOtherProject
			}
			if len(m.runs) >= m.cfg.MaxRuns && !m.evictOldestFinalizedLocked() {
				m.mu.Unlock()
				return nil, false, ErrTooManyRuns
			}
			r = newRun(info, now)
			m.runs[key] = r
			m.owners[key.id] = key.project
			created = true
		}
		m.mu.Unlock()
		r.mu.Lock()
		if !r.gone {
			return r, created, nil
		}
		r.mu.Unlock()
	}
}

// evictOldestFinalizedLocked drops the finalised run finalised longest ago
// (from memory; its stored records go with the next retention sweep).
func (m *Manager) evictOldestFinalizedLocked() bool {
	var oldestKey runKey
	var oldest *run
	for k, r := range m.runs {
		if !r.mu.TryLock() {
			continue
		}
		if r.finalized() && (oldest == nil || r.state.FinalizedAt.Before(oldest.state.FinalizedAt)) {
			if oldest != nil {
				oldest.mu.Unlock()
			}
			oldest, oldestKey = r, k
			continue
		}
		r.mu.Unlock()
	}
	if oldest == nil {
		return false
	}
	oldest.gone = true
	m.forgetLocked(oldestKey)
	oldest.mu.Unlock()
	m.deleteStored(context.Background(), oldestKey, oldest)
	return true
}

// Create records a run created by POST /api/traces, or fills in an existing
// one (the reference overwrites; spans already exported stay as they were).
func (m *Manager) Create(ctx context.Context, info mapping.Run, now time.Time) (RunView, error) {
	r, created, err := m.lockRun(runKey{info.Project, info.ID}, true, info, now)
	if err != nil {
		return RunView{}, err
	}
	defer r.mu.Unlock()
	prev := r.state
	if !created {
		info.Implicit = r.state.Info.Implicit
		r.state.Info = info
	}
	r.state.LastActivity = now
	if err := m.persist(ctx, runKey{info.Project, info.ID}, r, nil); err != nil {
		r.state = prev
		if created {
			m.drop(runKey{info.Project, info.ID}, r)
		}
		return RunView{}, err
	}
	return r.view(), nil
}

// Owner returns the project of the run with this id, if it exists.
func (m *Manager) Owner(runID string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.owners[runID]
	return p, ok
}

func (m *Manager) forgetLocked(key runKey) {
	delete(m.runs, key)
	if m.owners[key.id] == key.project {
		delete(m.owners, key.id)
	}
}

// Incoming is one event of a request: decoded, or refused with Err.
type Incoming struct {
	Event *wire.Event
	Raw   json.RawMessage
	Err   error
}

// RejectKind classifies refused events for telemetry.
type RejectKind string

// Kinds of refusal.
const (
	RejectInvalid     RejectKind = "invalid"
	RejectSeqConflict RejectKind = "seq_conflict"
	RejectLimit       RejectKind = "limit"
)

// Rejection is one refused event of a batch, as the contract reports it.
type Rejection struct {
	Index          int
	IdempotencyKey string
	Reason         string
	Kind           RejectKind
}

// AppendResult accounts for every event of a request.
type AppendResult struct {
	Accepted   int
	Duplicates int
	Rejected   []Rejection
	// Spans is the number of spans handed to the pipeline.
	Spans int
}

// Append accepts a request's events for a run, creating the run implicitly
// when it does not exist. Spans are handed to the next consumer and the state
// persisted before it returns; on error nothing of the request is recorded.
func (m *Manager) Append(ctx context.Context, info mapping.Run, events []Incoming, now time.Time) (AppendResult, error) {
	info.Implicit = true
	key := runKey{info.Project, info.ID}
	r, created, err := m.lockRun(key, true, info, now)
	if err != nil {
		return AppendResult{}, err
	}
	defer r.mu.Unlock()

	p := m.plan(ctx, r, events)
	if p.rec == nil && created {
		m.drop(key, r) // nothing accepted: no run either
		return p.result, nil
	}
	if p.rec != nil {
		if err := m.emit(ctx, p.builder); err != nil {
			if created {
				m.drop(key, r)
			}
			return AppendResult{}, err
		}
	}
	prev := r.state
	r.state.LastActivity = now
	if p.rec != nil {
		r.state.Summary = p.summary
		r.state.Pending = p.pending
		if p.finalize {
			r.state.FinalizedAt = now
			r.state.FinalizedBy = finalizedBySessionEnd
			r.state.Verdict = p.verdict
		}
	}
	if err := m.persist(ctx, key, r, p.rec); err != nil {
		r.state = prev
		if created {
			m.drop(key, r)
		}
		return AppendResult{}, err
	}
	if p.rec != nil {
		r.applyBatch(p.rec)
		p.result.Spans = p.builder.SpanCount()
	}
	if p.finalize {
		m.finalized(finalizedBySessionEnd)
	}
	return p.result, nil
}

const finalizedBySessionEnd = "session_end"

func (m *Manager) finalized(by string) {
	if m.cfg.OnFinalized != nil {
		m.cfg.OnFinalized(by)
	}
}

// drop forgets a run created by a request that then failed.
func (m *Manager) drop(key runKey, r *run) {
	m.mu.Lock()
	if m.runs[key] == r {
		m.forgetLocked(key)
	}
	m.mu.Unlock()
	r.gone = true
}

// emit hands a builder's spans to the next consumer.
func (m *Manager) emit(ctx context.Context, b *mapping.Builder) error {
	if b.SpanCount() == 0 {
		return nil
	}
	if err := m.next.ConsumeTraces(ctx, b.Traces()); err != nil {
		return &PipelineError{Err: err}
	}
	if n := b.Truncated(); n > 0 && m.cfg.OnTruncated != nil {
		m.cfg.OnTruncated(n)
	}
	return nil
}

// batchPlan is what a request would change, computed before anything is
// emitted or stored so that a refusal leaves the run untouched.
type batchPlan struct {
	result   AppendResult
	rec      *batchRecord
	builder  *mapping.Builder
	summary  mapping.Summary
	pending  mapping.Pending
	finalize bool
	// verdict is the run's verdict when the batch finalises it.
	verdict *rules.Result
}

func (m *Manager) plan(ctx context.Context, r *run, events []Incoming) *batchPlan {
	p := &batchPlan{
		builder: mapping.NewBuilder(&m.cfg.Mapping, &r.state.Info),
		summary: r.state.Summary,
		pending: r.state.Pending,
	}
	copied := false
	batchKeys := map[keyHash]struct{}{}
	batchSeqs := map[int64]struct{}{}
	var rec batchRecord
	for i, in := range events {
		if in.Err != nil {
			p.result.Rejected = append(p.result.Rejected, Rejection{Index: i, IdempotencyKey: keyOf(in), Reason: in.Err.Error(), Kind: RejectInvalid})
			continue
		}
		ev := in.Event
		key := hashKey(ev.IdempotencyKey)
		_, seen := r.keys[key]
		_, seenInBatch := batchKeys[key]
		if seen || seenInBatch {
			p.result.Accepted++
			p.result.Duplicates++
			continue
		}
		// A new key: its seq must be new too.
		_, used := r.seqs[ev.Seq]
		_, usedInBatch := batchSeqs[ev.Seq]
		if used || usedInBatch {
			p.result.Rejected = append(p.result.Rejected, seqConflict(i, ev))
			continue
		}
		if len(r.keys)+len(rec.Keys) >= m.cfg.MaxEventsPerRun {
			p.result.Rejected = append(p.result.Rejected, Rejection{
				Index: i, IdempotencyKey: ev.IdempotencyKey,
				Reason: fmt.Sprintf("trace has reached its limit of %d events", m.cfg.MaxEventsPerRun),
				Kind:   RejectLimit,
			})
			continue
		}
		batchKeys[key] = struct{}{}
		batchSeqs[ev.Seq] = struct{}{}
		rec.Keys = append(rec.Keys, key)
		rec.Seqs = append(rec.Seqs, ev.Seq)
		p.result.Accepted++
		p.summary.Count(ev)
		if mapping.Paired(ev) && !copied {
			p.pending, copied = p.pending.Clone(), true
		}
		p.builder.Add(ev, in.Raw, &p.pending, r.finalized())
		if _, end := ev.Payload.(*wire.SessionEnd); end && !r.finalized() {
			p.finalize = true
		}
	}
	if len(rec.Keys) == 0 {
		return p
	}
	if p.finalize {
		p.pending = p.pending.Clone()
		closeRun(p.builder, &p.summary, &p.pending, r, finalizedBySessionEnd)
	}
	p.summary.Widen(p.builder)
	rec.Steps, rec.UserFindings = m.judgeSpans(ctx, p.builder, r.finalized())
	if p.finalize {
		p.verdict = m.judgeRun(r, p.builder, &rec)
	}
	p.rec = &rec
	return p
}

func seqConflict(i int, ev *wire.Event) Rejection {
	return Rejection{
		Index: i, IdempotencyKey: ev.IdempotencyKey,
		Reason: fmt.Sprintf("seq %d already recorded with a different idempotency_key", ev.Seq),
		Kind:   RejectSeqConflict,
	}
}

func keyOf(in Incoming) string {
	if in.Event != nil {
		return in.Event.IdempotencyKey
	}
	var probe struct {
		Key string `json:"idempotency_key"`
	}
	_ = json.Unmarshal(in.Raw, &probe)
	return probe.Key
}

// closeRun emits every pending half as an unmatched span, then the root
// span with the run's totals.
func closeRun(b *mapping.Builder, sum *mapping.Summary, pending *mapping.Pending, r *run, by string) {
	b.FlushPending(pending, r.state.Info.ID)
	sum.Widen(b)
	b.AddRoot(sum, r.state.CreatedAt, by)
}

// judgeSpans extracts the steps of the spans built and, unless the run is
// already judged (late events), the findings of the user rules on them.
func (m *Manager) judgeSpans(ctx context.Context, b *mapping.Builder, late bool) ([]rules.Step, []rules.Finding) {
	rs := b.Traces().ResourceSpans().At(0)
	ss := rs.ScopeSpans().At(0)
	spans := ss.Spans()
	steps := make([]rules.Step, 0, spans.Len())
	var user []rules.Finding
	for i := 0; i < spans.Len(); i++ {
		span := spans.At(i)
		step, ok := rules.StepFromSpan(span)
		if ok {
			steps = append(steps, step)
		}
		if late {
			continue
		}
		if ok {
			user = append(user, m.cfg.Judge.MatchSpan(ctx, rs, ss, span, &step)...)
		} else {
			user = append(user, m.cfg.Judge.MatchSpan(ctx, rs, ss, span, nil)...)
		}
	}
	return steps, user
}

// judgeRun judges a run being finalised from its recorded steps and those
// of rec, writes the verdict on the root span b built last and appends the
// finding spans to b.
func (m *Manager) judgeRun(r *run, b *mapping.Builder, rec *batchRecord) *rules.Result {
	info := &r.state.Info
	steps := append(slices.Clip(r.steps), rec.Steps...)
	user := append(slices.Clip(r.userFindings), rec.UserFindings...)
	res := m.cfg.Judge.Evaluate(rules.Run{ID: info.ID, Agent: info.Agent, UserGoal: info.UserGoal}, steps, user)
	spans := b.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	m.cfg.Judge.WriteVerdict(spans.At(spans.Len()-1), &res, info.ID, spans)
	return &res
}
