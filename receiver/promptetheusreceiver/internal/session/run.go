// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package session is the state of Promptetheus runs and the pure core that
// plans what a request does to it: dedup by idempotency key, the seq rules,
// pairing of tool calls and span halves, the spans and steps of a batch, and
// the verdict when a run is finalised. It does no I/O: the receiver persists
// a plan (internal/runstore), emits its spans, then commits it here.
package session // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"

import (
	"container/list"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

// Key identifies a run.
type Key struct{ Project, ID string }

// Judge judges agent runs; the agent_rules extension's judge implements it.
type Judge interface {
	// MatchSpan evaluates the user rules on one span; step is the span's
	// step, nil for the root.
	MatchSpan(ctx context.Context, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span, step *rules.Step) []rules.Finding
	// Evaluate judges a run from its steps and the user findings of its spans.
	Evaluate(run rules.Run, steps []rules.Step, userFindings []rules.Finding) rules.Result
	// WriteVerdict writes the verdict on the root and appends finding spans.
	WriteVerdict(root ptrace.Span, res *rules.Result, runID string, findingSpans ptrace.SpanSlice)
	// HasUserRules reports whether MatchSpan can find anything.
	HasUserRules() bool
}

// Config bounds the state kept per run and in all, and says how spans are made.
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
	// MaxBytesPerRun bounds the state one run holds (dedup keys, seqs,
	// pending halves, steps), in bytes.
	MaxBytesPerRun int64
	// MaxBytes bounds the state of every run together, in bytes.
	MaxBytes int64
	// KeepSteps keeps the steps of open runs in memory. Without it (state
	// in storage) they are read back from the stored spans when needed.
	KeepSteps bool
	Mapping   mapping.Config
	Judge     Judge
}

var (
	// ErrNotFound: no such run in the caller's projects.
	ErrNotFound = errors.New("trace not found")
	// ErrTooManyRuns: the run bound is reached and no finalised run can go.
	ErrTooManyRuns = errors.New("too many open traces")
	// ErrOtherProject: the run id is taken by another project.
	ErrOtherProject = errors.New("trace belongs to another project")
	// ErrStateFull: the state of all runs reached its byte bound.
	ErrStateFull = errors.New("trace state is full")
	// ErrArtifactQuota: the run's artifacts would exceed their size limit.
	ErrArtifactQuota = errors.New("artifacts of this trace exceed their size limit")
)

// Reasons a run is finalised, besides a session_end event.
const (
	FinalizedBySessionEnd  = "session_end"
	FinalizedByAnalyze     = "analyze"
	FinalizedByIdleTimeout = "idle_timeout"
	FinalizedByShutdown    = "shutdown"
)

// Header is what is stored of a run apart from its batches: it changes
// when the run is created, described or finalised, not with every batch.
type Header struct {
	Info          mapping.Run `json:"info"`
	CreatedAt     time.Time   `json:"created_at"`
	FinalizedAt   time.Time   `json:"finalized_at,omitzero"`
	FinalizedBy   string      `json:"finalized_by,omitempty"`
	ArtifactBytes int64       `json:"artifact_bytes,omitempty"`
	// Verdict is the judgement of the run, made once when it is finalised:
	// the exported root span and analyze answer from it.
	Verdict *rules.Result `json:"verdict,omitempty"`
	// CostUSD is the price of the run's priced LLM calls, nil when none was
	// priced; UnpricedLLMCalls were not (unknown model). Set when judged.
	CostUSD          *float64 `json:"cost_usd,omitempty"`
	UnpricedLLMCalls int64    `json:"unpriced_llm_calls,omitempty"`
	// AnalyzedAt is when analyze last answered for the run.
	AnalyzedAt time.Time `json:"analyzed_at,omitzero"`
	// Sent is the highest batch number the pipeline took, as of this write.
	Sent int64 `json:"sent"`
}

// Run is one run in memory. Its mutex serialises everything done to it,
// handing its spans to the pipeline included, so that spans leave in a
// stable order; no lock shared by all runs is held meanwhile.
type Run struct {
	mu  sync.Mutex
	key Key

	header Header
	// headerStored is set once a header of the run was committed.
	headerStored bool
	summary      mapping.Summary
	pending      mapping.Pending
	keys         map[keyHash]struct{}
	seqs         seqSet
	// steps are kept only with Config.KeepSteps, a batch's own slice each,
	// so that a long run is not copied again as it grows.
	steps [][]rules.Step
	user  []rules.Finding
	// batches is the number of batches committed (the next batch number).
	batches      int64
	lastActivity time.Time
	// sent is the highest batch number the pipeline took; sentStored the
	// highest recorded in storage. Batches above sent wait for redelivery.
	sent, sentStored int64
	bytes            int64

	// Set by the registry, under its lock.
	gone bool // evicted or dropped: whoever waited for mu must look again
	elem *list.Element
}

func newRun(key Key, info mapping.Run, now time.Time) *Run {
	return &Run{
		key:          key,
		header:       Header{Info: info, CreatedAt: now, Sent: -1},
		summary:      mapping.NewSummary(),
		pending:      mapping.NewPending(),
		keys:         map[keyHash]struct{}{},
		lastActivity: now,
		sent:         -1,
		sentStored:   -1,
	}
}

// Unlock releases a run acquired from the registry.
func (r *Run) Unlock() { r.mu.Unlock() }

// Key is the run's key.
func (r *Run) Key() Key { return r.key }

// Header is the run's description.
func (r *Run) Header() Header { return r.header }

// StoredHeader is the header storage holds, nil before the first commit.
func (r *Run) StoredHeader() *Header {
	if !r.headerStored {
		return nil
	}
	h := r.header
	return &h
}

// Finalized reports whether the run was finalised.
func (r *Run) Finalized() bool { return !r.header.FinalizedAt.IsZero() }

// Batches is the number of batches committed.
func (r *Run) Batches() int64 { return r.batches }

// Steps are the run's steps when they are kept in memory, in a new slice.
func (r *Run) Steps() []rules.Step { return slices.Concat(r.steps...) }

// Unsent lists the committed batches the pipeline has not taken yet.
func (r *Run) Unsent() []int64 {
	var out []int64
	for n := r.sent + 1; n < r.batches; n++ {
		out = append(out, n)
	}
	return out
}

// MarkSent records that the pipeline took batch n.
func (r *Run) MarkSent(n int64) { r.sent = max(r.sent, n) }

// SentToStore returns the sent mark to persist, and false when storage has
// it already.
func (r *Run) SentToStore() (int64, bool) { return r.sent, r.sent > r.sentStored }

// SentStored records that storage has the sent mark n.
func (r *Run) SentStored(n int64) { r.sentStored = max(r.sentStored, n) }

// Written records that a batch was persisted: its record or header carried
// the run's sent mark.
func (r *Run) Written(b *Batch) {
	if b.Stored() {
		r.SentStored(b.Record.Sent)
	}
	if b.Header != nil {
		r.SentStored(b.Header.Sent)
	}
}

// keyHash stands for an idempotency key: 128 bits of FNV-1a, so that dedup
// costs 16 bytes a key whatever the key's length. A collision would need
// 2^64 keys in one run.
type keyHash [16]byte

func hashKey(key string) keyHash {
	h := fnv.New128a()
	_, _ = h.Write([]byte(key))
	var out keyHash
	h.Sum(out[:0])
	return out
}

// MarshalText writes the hash in hex.
func (k keyHash) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(k[:])), nil }

// UnmarshalText reads a hex hash.
func (k *keyHash) UnmarshalText(text []byte) error {
	if hex.DecodedLen(len(text)) != len(k) {
		return fmt.Errorf("bad key hash %q", text)
	}
	_, err := hex.Decode(k[:], text)
	return err
}
