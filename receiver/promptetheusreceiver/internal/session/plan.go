// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package session // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
)

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
}

// Record is what a committed batch stores, besides its spans: enough to
// rebuild the run's dedup state, pending halves and totals after a restart.
type Record struct {
	// Keys are the dedup hashes of the events accepted, 16 bytes each.
	Keys []byte  `json:"k,omitempty"`
	Seqs []int64 `json:"q,omitempty"`
	// Held are the halves this batch left waiting for their partner;
	// Paired the ids of earlier halves it paired (or closed).
	Held   mapping.Pending `json:"h,omitzero"`
	Paired pendingIDs      `json:"p,omitzero"`
	// Summary is the run's totals after the batch.
	Summary mapping.Summary `json:"s"`
	User    []rules.Finding `json:"u,omitempty"`
	At      time.Time       `json:"t"`
	// Sent is the run's sent mark when the batch was written.
	Sent int64 `json:"sent"`
}

type pendingIDs struct {
	Tools  []string `json:"t,omitempty"`
	States []string `json:"s,omitempty"`
}

// Batch is what a request would change: planned without touching the run,
// so that a storage error or a refusal by the pipeline leaves it as it was.
// The receiver persists it (Record, Header, spans), emits its spans, then
// commits it.
type Batch struct {
	// N is the batch number: the run's batch count before it.
	N      int64
	Result AppendResult
	Record Record
	// Header is the run's new header when the batch changes it, else nil.
	Header *Header
	// Builder holds the spans; nil when the batch emits none.
	Builder *mapping.Builder

	steps      []rules.Step
	keys       []keyHash
	pending    mapping.Pending
	finalizeBy string
	bytes      int64
}

// SpanCount is the number of spans the batch emits.
func (b *Batch) SpanCount() int {
	if b.Builder == nil {
		return 0
	}
	return b.Builder.SpanCount()
}

// Spans are the spans the batch emits.
func (b *Batch) Spans() ptrace.Traces { return b.Builder.Traces() }

// Stored reports whether the batch is a batch record (and spans) to store,
// not only a header.
func (b *Batch) Stored() bool { return b.Builder != nil || len(b.keys) > 0 }

// Finalizes reports whether the batch finalises the run: it then needs
// Judge before it is persisted.
func (b *Batch) Finalizes() bool { return b.finalizeBy != "" }

// PlanAppend plans a request's events: duplicates are accepted again and
// skipped, a new key with a used seq is refused, events over the run's
// bounds are refused, the others become spans. A session_end finalises the
// run (call Judge before persisting).
func (r *Run) PlanAppend(ctx context.Context, cfg *Config, events []Incoming, now time.Time) *Batch {
	b := &Batch{N: r.batches, pending: r.pending, keys: make([]keyHash, 0, len(events))}
	b.Record.Seqs = make([]int64, 0, len(events))
	var res AppendResult
	batchKeys := make(map[keyHash]struct{}, len(events))
	batchSeqs := make(map[int64]struct{}, len(events))
	accepted := make([]int, 0, len(events))
	var bytes int64 // what the events accepted so far may add
	for i, in := range events {
		if in.Err != nil {
			res.Rejected = append(res.Rejected, Rejection{Index: i, IdempotencyKey: keyOf(in), Reason: in.Err.Error(), Kind: RejectInvalid})
			continue
		}
		ev := in.Event
		key := hashKey(ev.IdempotencyKey)
		_, seen := r.keys[key]
		_, seenInBatch := batchKeys[key]
		if seen || seenInBatch {
			res.Accepted++
			res.Duplicates++
			continue
		}
		// A new key: its seq must be new too.
		_, usedInBatch := batchSeqs[ev.Seq]
		if r.seqs.has(ev.Seq) || usedInBatch {
			res.Rejected = append(res.Rejected, Rejection{
				Index: i, IdempotencyKey: ev.IdempotencyKey, Kind: RejectSeqConflict,
				Reason: fmt.Sprintf("seq %d already recorded with a different idempotency_key", ev.Seq),
			})
			continue
		}
		cost := eventBytes(cfg, in)
		switch {
		case len(r.keys)+len(b.keys) >= cfg.MaxEventsPerRun:
			res.Rejected = append(res.Rejected, limit(i, ev, fmt.Sprintf("trace has reached its limit of %d events", cfg.MaxEventsPerRun)))
			continue
		case cfg.MaxBytesPerRun > 0 && r.bytes+bytes+cost > cfg.MaxBytesPerRun:
			res.Rejected = append(res.Rejected, limit(i, ev, fmt.Sprintf("trace has reached its state limit of %d bytes", cfg.MaxBytesPerRun)))
			continue
		}
		bytes += cost
		batchKeys[key] = struct{}{}
		batchSeqs[ev.Seq] = struct{}{}
		b.keys = append(b.keys, key)
		b.Record.Seqs = append(b.Record.Seqs, ev.Seq)
		accepted = append(accepted, i)
		res.Accepted++
	}
	b.Result = res
	b.Record.At = now
	info := r.describe(events, accepted)
	if info != nil {
		h := r.nextHeader()
		h.Info = *info
		b.Header = &h
	}
	if len(accepted) == 0 {
		return b
	}

	runInfo := r.header.Info
	if info != nil {
		runInfo = *info
	}
	b.Builder = mapping.NewBuilder(&cfg.Mapping, &runInfo)
	summary := r.summary
	pending := r.pending
	copied := false
	for _, i := range accepted {
		ev, raw := events[i].Event, events[i].Raw
		summary.Count(ev)
		if mapping.Paired(ev) && !copied {
			pending, copied = pending.Clone(), true
		}
		b.Builder.Add(ev, raw, &pending, r.Finalized())
		if _, end := ev.Payload.(*wire.SessionEnd); end && !r.Finalized() {
			b.finalizeBy = FinalizedBySessionEnd
		}
	}
	if b.finalizeBy != "" {
		if !copied {
			pending = pending.Clone()
		}
		closeRun(b.Builder, &summary, &pending, &runInfo, r.header.CreatedAt, b.finalizeBy)
	}
	summary.Widen(b.Builder)
	b.finish(ctx, cfg, r, summary, pending, now)
	return b
}

// describe takes the run's agent, goal, environment and tags from a
// session_started change when the run was created without them (the SDK
// sends it first; the create may have been lost). It returns the new
// description, nil when nothing changes.
func (r *Run) describe(events []Incoming, accepted []int) *mapping.Run {
	cur := r.header.Info
	if !cur.Implicit {
		return nil
	}
	for _, i := range accepted {
		sc, ok := events[i].Event.Payload.(*wire.StateChange)
		if !ok {
			continue
		}
		start, ok := sc.SessionStart()
		if !ok {
			continue
		}
		next := cur
		next.Agent = first(cur.Agent, start.Agent)
		next.UserGoal = first(cur.UserGoal, start.UserGoal)
		next.Environment = first(cur.Environment, start.Environment)
		if len(cur.Tags) == 0 {
			next.Tags = start.Tags
		}
		if next.Agent == cur.Agent && next.UserGoal == cur.UserGoal && next.Environment == cur.Environment && slices.Equal(next.Tags, cur.Tags) {
			return nil
		}
		return &next
	}
	return nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func limit(i int, ev *wire.Event, reason string) Rejection {
	return Rejection{Index: i, IdempotencyKey: ev.IdempotencyKey, Reason: reason, Kind: RejectLimit}
}

// keyBytes is the memory of a dedup key and its seq in a run.
const keyBytes = 48

// eventBytes bounds what accepting an event adds to a run's state: its
// dedup key and seq, its step when steps are kept, and the raw event while
// it waits as a pending half.
func eventBytes(cfg *Config, in Incoming) int64 {
	n := int64(keyBytes)
	if cfg.KeepSteps {
		n += stepBytes
	}
	if mapping.Paired(in.Event) {
		n += int64(len(in.Raw))
	}
	return n
}

// finish fills in what every batch with spans records: steps, user-rule
// findings, pending halves held and paired, totals.
func (b *Batch) finish(ctx context.Context, cfg *Config, r *Run, summary mapping.Summary, pending mapping.Pending, now time.Time) {
	// With state in storage, steps are read back from the stored spans when
	// the run is judged: a batch extracts them only to judge now or to match
	// user rules.
	if cfg.KeepSteps || b.finalizeBy != "" || cfg.Judge.HasUserRules() {
		b.steps, b.Record.User = judgeSpans(ctx, cfg.Judge, b.Builder, r.Finalized())
	}
	b.Record.Held, b.Record.Paired = pendingDiff(r.pending, pending)
	b.Record.Summary = summary
	b.Record.At = now
	b.Record.Sent = r.sent
	if b.Header == nil && !r.headerStored {
		h := r.nextHeader() // the first batch of a run its events created
		b.Header = &h
	}
	b.Record.Keys = make([]byte, 0, 16*len(b.keys))
	for _, k := range b.keys {
		b.Record.Keys = append(b.Record.Keys, k[:]...)
	}
	b.pending = pending
	// What the batch adds to the run's memory (at most what the limit
	// checks estimated): keys, steps, halves held less halves paired.
	b.bytes = int64(len(b.keys))*keyBytes + rawBytes(pending) - rawBytes(r.pending)
	if cfg.KeepSteps {
		b.bytes += int64(len(b.steps)) * stepBytes
	}
}

func rawBytes(p mapping.Pending) int64 {
	var n int64
	for _, m := range []map[string]json.RawMessage{p.Tools, p.States} {
		for _, raw := range m {
			n += int64(len(raw))
		}
	}
	return n
}

// stepBytes is the memory of a step kept in memory, its strings included.
const stepBytes = 160

// pendingDiff lists the halves after holds that before did not, and the
// ids before held that after does not.
func pendingDiff(before, after mapping.Pending) (held mapping.Pending, paired pendingIDs) {
	diff := func(b, a map[string]json.RawMessage) (map[string]json.RawMessage, []string) {
		var added map[string]json.RawMessage
		for id, raw := range a {
			if _, ok := b[id]; !ok {
				if added == nil {
					added = map[string]json.RawMessage{}
				}
				added[id] = raw
			}
		}
		var removed []string
		for id := range b {
			if _, ok := a[id]; !ok {
				removed = append(removed, id)
			}
		}
		slices.Sort(removed)
		return added, removed
	}
	held.Tools, paired.Tools = diff(before.Tools, after.Tools)
	held.States, paired.States = diff(before.States, after.States)
	return held, paired
}

// PlanFinalize plans closing an open run (analyze, idle timeout, shutdown):
// pending halves become spans, then the root. Call Judge before persisting.
// A finalised run plans an empty batch.
func (r *Run) PlanFinalize(ctx context.Context, cfg *Config, by string, now time.Time) *Batch {
	b := &Batch{N: r.batches, pending: r.pending}
	if r.Finalized() {
		return b
	}
	info := r.header.Info
	b.Builder = mapping.NewBuilder(&cfg.Mapping, &info)
	summary, pending := r.summary, r.pending.Clone()
	b.finalizeBy = by
	closeRun(b.Builder, &summary, &pending, &info, r.header.CreatedAt, by)
	b.finish(ctx, cfg, r, summary, pending, now)
	return b
}

// closeRun emits every pending half as an unmatched span, then the root
// span with the run's totals.
func closeRun(b *mapping.Builder, sum *mapping.Summary, pending *mapping.Pending, info *mapping.Run, createdAt time.Time, by string) {
	b.FlushPending(pending, info.ID)
	sum.Widen(b)
	b.AddRoot(sum, createdAt, by)
}

// Judge judges a batch that finalises the run, from the run's steps before
// it (prior) and the batch's own: it writes the verdict on the root span,
// appends the finding spans and puts the verdict in the new header.
func (b *Batch) Judge(cfg *Config, r *Run, prior []rules.Step, now time.Time) {
	h := r.nextHeader()
	if b.Header != nil {
		h = *b.Header
	}
	info := &h.Info
	steps := append(slices.Clip(prior), b.steps...)
	user := append(slices.Clip(r.user), b.Record.User...)
	res := cfg.Judge.Evaluate(rules.Run{ID: info.ID, Agent: info.Agent, UserGoal: info.UserGoal}, steps, user)
	spans := b.Builder.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	cfg.Judge.WriteVerdict(spans.At(spans.Len()-1), &res, info.ID, spans)
	h.FinalizedAt, h.FinalizedBy, h.Verdict = now, b.finalizeBy, &res
	if sum := &b.Record.Summary; sum.PricedLLMCalls > 0 {
		cost := sum.CostUSD
		h.CostUSD = &cost
	}
	h.UnpricedLLMCalls = b.Record.Summary.UnpricedLLMCalls
	b.Header = &h
}

// judgeSpans extracts the steps of the spans built and, unless the run is
// already judged (late events), the findings of the user rules on them.
func judgeSpans(ctx context.Context, j Judge, b *mapping.Builder, late bool) ([]rules.Step, []rules.Finding) {
	rs := b.Traces().ResourceSpans().At(0)
	ss := rs.ScopeSpans().At(0)
	spans := ss.Spans()
	steps := make([]rules.Step, 0, spans.Len())
	var user []rules.Finding
	for i := 0; i < spans.Len(); i++ {
		span := spans.At(i)
		step, ok := rules.StepFromSpan(span)
		var ref *rules.Step
		if ok {
			steps = append(steps, step)
			ref = &steps[len(steps)-1]
		}
		if !late {
			user = append(user, j.MatchSpan(ctx, rs, ss, span, ref)...)
		}
	}
	return steps, user
}

// StepsOf extracts the steps of stored spans, for runs whose steps are not
// kept in memory.
func StepsOf(td ptrace.Traces) []rules.Step {
	var steps []rules.Step
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		for j := 0; j < td.ResourceSpans().At(i).ScopeSpans().Len(); j++ {
			spans := td.ResourceSpans().At(i).ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				if step, ok := rules.StepFromSpan(spans.At(k)); ok {
					steps = append(steps, step)
				}
			}
		}
	}
	return steps
}

// PlanCreate plans a create: a new run's description, or an existing one's
// (the reference overwrites; spans already exported stay as they were, and
// a run its events created stays flagged implicit).
func (r *Run) PlanCreate(info mapping.Run, created bool, now time.Time) *Batch {
	h := r.nextHeader()
	if !created {
		info.Implicit = h.Info.Implicit
	}
	h.Info = info
	return &Batch{N: r.batches, pending: r.pending, Header: &h, Record: Record{At: now}}
}

// PlanArtifact plans the span of an uploaded artifact, counted against the
// run's artifact bytes.
func (r *Run) PlanArtifact(ctx context.Context, cfg *Config, a *mapping.Artifact, maxPerRun int64, now time.Time) (*Batch, error) {
	if r.header.ArtifactBytes+a.SizeBytes > maxPerRun {
		return nil, ErrArtifactQuota
	}
	b := &Batch{N: r.batches, pending: r.pending}
	info := r.header.Info
	b.Builder = mapping.NewBuilder(&cfg.Mapping, &info)
	b.Builder.AddArtifact(a)
	h := r.nextHeader()
	h.ArtifactBytes += a.SizeBytes
	b.Header = &h
	b.finish(ctx, cfg, r, r.summary, r.pending, now)
	return b, nil
}

// Commit applies a batch that was persisted and emitted (or, for a batch
// without spans, persisted).
func (r *Run) Commit(cfg *Config, b *Batch) {
	if b.Header != nil {
		r.header = *b.Header
		r.headerStored = true
	}
	if b.Record.At.After(r.lastActivity) {
		r.lastActivity = b.Record.At
	}
	if !b.Stored() {
		return
	}
	for _, k := range b.keys {
		r.keys[k] = struct{}{}
	}
	for _, q := range b.Record.Seqs {
		r.seqs.add(q)
	}
	r.pending = b.pending
	r.summary = b.Record.Summary
	r.user = append(r.user, b.Record.User...)
	if cfg.KeepSteps && len(b.steps) > 0 {
		r.steps = append(r.steps, b.steps)
	}
	r.bytes += b.bytes
	r.batches = b.N + 1
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

// nextHeader is the run's header to store with a batch: its sent mark goes
// with it.
func (r *Run) nextHeader() Header {
	h := r.header
	h.Sent = r.sent
	return h
}

// PlanAnalyzed plans recording that analyze answered for a finalised run.
func (r *Run) PlanAnalyzed(now time.Time) *Batch {
	h := r.nextHeader()
	h.AnalyzedAt = now
	return &Batch{N: r.batches, pending: r.pending, Header: &h}
}

// Restore rebuilds a run from what was stored of it: its header and its
// batch records in order (n = 0, 1, ...), and the highest sent mark stored
// apart. Steps are not rebuilt: read them from the stored spans.
func Restore(key Key, header Header, records []Record, sentMark int64) *Run {
	r := newRun(key, header.Info, header.CreatedAt)
	r.header, r.headerStored = header, true
	r.sent = max(header.Sent, sentMark)
	for i := range records {
		rec := &records[i]
		for k := 0; k+16 <= len(rec.Keys); k += 16 {
			r.keys[keyHash(rec.Keys[k:k+16])] = struct{}{}
		}
		for _, q := range rec.Seqs {
			r.seqs.add(q)
		}
		for _, id := range rec.Paired.Tools {
			delete(r.pending.Tools, id)
		}
		for _, id := range rec.Paired.States {
			delete(r.pending.States, id)
		}
		for id, raw := range rec.Held.Tools {
			r.pending.Tools[id] = raw
		}
		for id, raw := range rec.Held.States {
			r.pending.States[id] = raw
		}
		r.summary = rec.Summary
		r.user = append(r.user, rec.User...)
		r.sent = max(r.sent, rec.Sent)
		if rec.At.After(r.lastActivity) {
			r.lastActivity = rec.At
		}
	}
	r.batches = int64(len(records))
	r.sentStored = r.sent
	r.bytes = int64(len(r.keys))*keyBytes + rawBytes(r.pending)
	return r
}
