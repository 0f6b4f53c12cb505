// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package runstore persists the state of Promptetheus runs through a
// collector storage extension. A batch is written, with the spans it will
// emit, before they are emitted; a sent mark says which batches the
// pipeline took, so that a crash in between re-emits them at start-up.
//
// Layout, per run (project p, run id r):
//
//	h/p/r      the header (description, finalisation, verdict), written when it changes
//	b/p/r/n    batch n, written once: its record (dedup keys, seqs, pending
//	           halves, totals, the sent mark as of then) and its OTLP spans
//	m/p/r      the sent mark: the highest batch the pipeline took, stored apart
//	           for runs that go quiet
//
// Nothing is rewritten per batch: one value a batch, in one transaction with
// the header when it changes.
package runstore // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/runstore"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"
)

// Error wraps a failure of the storage.
type Error struct{ Err error }

func (e *Error) Error() string { return "storing trace state failed: " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ErrNoWalk is returned when the storage client cannot list its keys, which
// restoring runs after a restart needs.
var ErrNoWalk = errors.New("the storage extension does not support listing keys (use file_storage)")

// Store persists runs; a nil client keeps nothing (state in memory only).
//
// Writes of concurrent requests are committed together (group commit): a
// storage transaction costs about the same for one batch as for several,
// and requests of different runs arrive at once under load. The caller
// that finds no transaction running commits, on its own goroutine, its
// write and every write queued meanwhile, then hands the turn to the first
// caller queued behind it: a write alone costs no goroutine switch, and no
// write waits for a timer.
type Store struct {
	client storage.Client

	mu         sync.Mutex
	queue      []*write
	committing bool
}

// write is one caller's operations, committed with whatever else is queued.
type write struct {
	ops  []*storage.Operation
	done chan error // the outcome, or errTurn
}

// errTurn tells a queued caller that it commits next.
var errTurn = errors.New("commit turn")

// maxGroup bounds the writes committed in one transaction.
const maxGroup = 64

// New returns a store over client, which may be nil.
func New(client storage.Client) *Store {
	return &Store{client: client}
}

// commit writes ops in one transaction, possibly shared with other callers.
// ctx bounds nothing once the write is queued: a queued write is waited for.
func (s *Store) commit(ctx context.Context, ops ...*storage.Operation) error {
	if err := ctx.Err(); err != nil {
		return &Error{Err: err}
	}
	w := &write{ops: ops, done: make(chan error, 1)}
	s.mu.Lock()
	s.queue = append(s.queue, w)
	if s.committing {
		s.mu.Unlock()
		if err := <-w.done; err != errTurn {
			return wrapErr(err)
		}
		s.mu.Lock()
	}
	s.committing = true
	group := s.queue
	if len(group) > maxGroup {
		group, s.queue = group[:maxGroup:maxGroup], group[maxGroup:]
	} else {
		s.queue = nil
	}
	s.mu.Unlock()

	ops = group[0].ops
	if len(group) > 1 {
		ops = nil
		for _, g := range group {
			ops = append(ops, g.ops...)
		}
	}
	err := s.client.Batch(context.Background(), ops...)

	s.mu.Lock()
	if len(s.queue) > 0 {
		s.queue[0].done <- errTurn
	} else {
		s.committing = false
	}
	s.mu.Unlock()
	for _, g := range group {
		if g != w {
			g.done <- err
		}
	}
	return wrapErr(err)
}

func wrapErr(err error) error {
	if err != nil {
		return &Error{Err: err}
	}
	return nil
}

// Persistent reports whether state survives a restart.
func (s *Store) Persistent() bool { return s.client != nil }

const (
	headerPrefix = "h/"
	batchPrefix  = "b/"
	sentPrefix   = "m/"
)

func runPath(k session.Key) string { return k.Project + "/" + k.ID }

func batchKey(k session.Key, n int64) string {
	return fmt.Sprintf("%s%s/%012d", batchPrefix, runPath(k), n)
}

// Write persists a batch before its spans are emitted: the record and
// spans of a batch with events and the run's header when it changes, in one
// storage batch. Both carry the run's sent mark.
func (s *Store) Write(ctx context.Context, k session.Key, b *session.Batch) error {
	if s.client == nil {
		return nil
	}
	var ops []*storage.Operation
	if b.Stored() {
		// The value is needed until the transaction is over, which commit
		// waits for.
		vp := bufPool.Get().(*[]byte)
		defer putBuf(vp)
		value, err := encodeBatch(b, *vp)
		if err != nil {
			return &Error{Err: err}
		}
		*vp = value
		ops = append(ops, storage.SetOperation(batchKey(k, b.N), value))
	}
	if b.Header != nil {
		body, err := json.Marshal(b.Header)
		if err != nil {
			return &Error{Err: err}
		}
		ops = append(ops, storage.SetOperation(headerPrefix+runPath(k), body))
	}
	if len(ops) == 0 {
		return nil
	}
	return s.commit(ctx, ops...)
}

// Rollback undoes Write for a batch the pipeline refused: its record and
// spans go, and the header it replaced (prev) is written back, or deleted
// when there was none.
func (s *Store) Rollback(ctx context.Context, k session.Key, b *session.Batch, prev *session.Header) error {
	if s.client == nil {
		return nil
	}
	var ops []*storage.Operation
	if b.Stored() {
		ops = append(ops, storage.DeleteOperation(batchKey(k, b.N)))
	}
	switch {
	case b.Header != nil && prev == nil:
		ops = append(ops, storage.DeleteOperation(headerPrefix+runPath(k)))
	case b.Header != nil:
		body, err := json.Marshal(prev)
		if err != nil {
			return &Error{Err: err}
		}
		ops = append(ops, storage.SetOperation(headerPrefix+runPath(k), body))
	}
	if len(ops) == 0 {
		return nil
	}
	return s.commit(ctx, ops...)
}

// WriteSent stores the sent marks of runs, in one transaction.
func (s *Store) WriteSent(ctx context.Context, marks map[session.Key]int64) error {
	if s.client == nil || len(marks) == 0 {
		return nil
	}
	ops := make([]*storage.Operation, 0, len(marks))
	for k, sent := range marks {
		ops = append(ops, storage.SetOperation(sentPrefix+runPath(k), []byte(strconv.FormatInt(sent, 10))))
	}
	return s.commit(ctx, ops...)
}

// ReadSpans reads the spans stored with batches [from, to).
func (s *Store) ReadSpans(ctx context.Context, k session.Key, from, to int64) ([]ptrace.Traces, error) {
	if s.client == nil || from >= to {
		return nil, nil
	}
	ops := make([]*storage.Operation, 0, to-from)
	for n := from; n < to; n++ {
		ops = append(ops, storage.GetOperation(batchKey(k, n)))
	}
	if err := s.client.Batch(ctx, ops...); err != nil {
		return nil, &Error{Err: err}
	}
	out := make([]ptrace.Traces, 0, len(ops))
	for _, op := range ops {
		if op.Value == nil {
			continue
		}
		_, pb, err := decodeBatch(op.Value)
		if err != nil {
			return nil, &Error{Err: fmt.Errorf("stored batch %s: %w", op.Key, err)}
		}
		if len(pb) == 0 {
			continue // a batch without spans
		}
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(pb)
		if err != nil {
			return nil, &Error{Err: fmt.Errorf("stored spans of %s: %w", op.Key, err)}
		}
		out = append(out, td)
	}
	return out, nil
}

// Delete removes every record of a run with the given number of batches.
func (s *Store) Delete(ctx context.Context, k session.Key, batches int64) error {
	if s.client == nil {
		return nil
	}
	ops := make([]*storage.Operation, 0, 2*batches+2)
	for n := int64(0); n < batches; n++ {
		ops = append(ops, storage.DeleteOperation(batchKey(k, n)))
	}
	ops = append(ops, storage.DeleteOperation(headerPrefix+runPath(k)), storage.DeleteOperation(sentPrefix+runPath(k)))
	return s.commit(ctx, ops...)
}

// stored is what Load found of one run.
type stored struct {
	header  []byte
	records map[int64][]byte
	sent    int64
}

// Load restores every stored run. A run whose batch records are not all
// there (a crash between writes cannot cause it; a damaged store can) is
// restored up to the first missing one.
func (s *Store) Load(ctx context.Context, onError func(k session.Key, err error)) ([]*session.Run, error) {
	if s.client == nil {
		return nil, nil
	}
	walker, ok := s.client.(storage.Walker)
	if !ok {
		return nil, ErrNoWalk
	}
	runs := map[session.Key]*stored{}
	get := func(k session.Key) *stored {
		if runs[k] == nil {
			runs[k] = &stored{records: map[int64][]byte{}, sent: -1}
		}
		return runs[k]
	}
	err := walker.Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
		prefix, rest, _ := strings.Cut(key, "/")
		switch prefix + "/" {
		case headerPrefix:
			if k, ok := parseRunPath(rest); ok {
				get(k).header = value
			}
		case sentPrefix:
			k, ok := parseRunPath(rest)
			n, err := strconv.ParseInt(string(value), 10, 64)
			if ok && err == nil {
				get(k).sent = n
			}
		case batchPrefix:
			i := strings.LastIndexByte(rest, '/')
			if i < 0 {
				return nil, nil
			}
			k, ok := parseRunPath(rest[:i])
			n, err := strconv.ParseInt(rest[i+1:], 10, 64)
			if ok && err == nil {
				get(k).records[n] = value
			}
		}
		return nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing stored traces: %w", err)
	}
	out := make([]*session.Run, 0, len(runs))
	for k, st := range runs {
		r, err := restore(k, st)
		if err != nil {
			onError(k, err)
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *session.Run) int { return strings.Compare(runPath(a.Key()), runPath(b.Key())) })
	return out, nil
}

func restore(k session.Key, st *stored) (*session.Run, error) {
	if st.header == nil {
		return nil, errors.New("no header")
	}
	var h session.Header
	if err := json.Unmarshal(st.header, &h); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	records := make([]session.Record, 0, len(st.records))
	for n := int64(0); ; n++ {
		body, ok := st.records[n]
		if !ok {
			break
		}
		rec, _, err := decodeBatch(body)
		if err != nil {
			return nil, fmt.Errorf("batch %d: %w", n, err)
		}
		records = append(records, rec)
	}
	return session.Restore(k, h, records, st.sent), nil
}

func parseRunPath(s string) (session.Key, bool) {
	i := strings.IndexByte(s, '/')
	if i <= 0 || i == len(s)-1 {
		return session.Key{}, false
	}
	return session.Key{Project: s[:i], ID: s[i+1:]}, true
}
