// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package session // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"

import (
	"container/list"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
)

// ErrBusy: the run's id belongs to a run whose stored state is being
// deleted; the caller may retry shortly.
var ErrBusy = errors.New("trace is being removed; retry later")

// Registry owns every run of a receiver. Its lock guards only the maps and
// lists below, never storage or the pipeline: each run has a lock of its
// own for that.
type Registry struct {
	cfg *Config

	mu     sync.Mutex
	runs   map[Key]*Run
	owners map[string]string // run id -> project: ids are unique across projects
	// open holds open runs, least recently active first; done holds
	// finalised runs, finalised first first. Both are LRUs: the sweep and
	// eviction read them from the front instead of scanning every run.
	open, done *list.List
	// forgotten are runs taken out of the maps whose stored state is still
	// to delete; their ids are refused (ErrBusy) until Deleted.
	forgotten []*Run
	deleting  map[Key]bool
	// unsent are runs with batches the pipeline has not taken (after a
	// restart); unstored runs whose sent mark storage lacks.
	unsent, unstored map[Key]struct{}
	bytes            int64
}

// listEntry is what the lists know of a run, written under the registry's
// lock only (the run's own fields are the run lock's).
type listEntry struct {
	run       *Run
	at        time.Time // last activity, or finalisation for done runs
	finalized bool
	bytes     int64
}

// NewRegistry returns an empty registry.
func NewRegistry(cfg *Config) *Registry {
	return &Registry{
		cfg: cfg, runs: map[Key]*Run{}, owners: map[string]string{},
		open: list.New(), done: list.New(), deleting: map[Key]bool{},
		unsent: map[Key]struct{}{}, unstored: map[Key]struct{}{},
	}
}

// Acquire returns a run locked, creating it with info when absent and
// create is set (created tells). A nil run and nil error: not found.
func (g *Registry) Acquire(key Key, create bool, info mapping.Run, now time.Time) (r *Run, created bool, err error) {
	for {
		g.mu.Lock()
		r, ok := g.runs[key]
		created = false
		if !ok {
			if !create {
				g.mu.Unlock()
				return nil, false, nil
			}
			if r, err = g.createLocked(key, info, now); err != nil {
				g.mu.Unlock()
				return nil, false, err
			}
			created = true
		}
		g.mu.Unlock()
		r.mu.Lock()
		if !r.gone {
			return r, created, nil
		}
		r.mu.Unlock()
	}
}

func (g *Registry) createLocked(key Key, info mapping.Run, now time.Time) (*Run, error) {
	switch {
	case g.deleting[key]:
		return nil, ErrBusy
	case g.owners[key.ID] != "":
		return nil, ErrOtherProject
	case g.cfg.MaxBytes > 0 && g.bytes >= g.cfg.MaxBytes:
		return nil, ErrStateFull
	}
	if len(g.runs) >= g.cfg.MaxRuns {
		oldest := g.done.Front()
		if oldest == nil {
			return nil, ErrTooManyRuns
		}
		g.forgetLocked(oldest.Value.(*listEntry).run)
	}
	r := newRun(key, info, now)
	r.elem = g.open.PushBack(&listEntry{run: r, at: now})
	g.runs[key] = r
	g.owners[key.ID] = key.Project
	return r, nil
}

// Release unlocks a run after a request, moving it in the lists by what
// the request did to it.
func (g *Registry) Release(r *Run) {
	at, finalized, bytes := r.listTime(), r.Finalized(), r.bytes
	unsent := r.sent < r.batches-1
	_, unstored := r.SentToStore()
	g.mu.Lock()
	if !r.gone && g.runs[r.key] == r {
		if unsent {
			g.unsent[r.key] = struct{}{}
		}
		if unstored {
			g.unstored[r.key] = struct{}{}
		}
		e := r.elem.Value.(*listEntry)
		g.bytes += bytes - e.bytes
		e.bytes = bytes
		switch {
		case finalized && !e.finalized:
			g.open.Remove(r.elem)
			e.finalized, e.at = true, at
			r.elem = g.done.PushBack(e)
		case !finalized:
			e.at = at
			g.open.MoveToBack(r.elem)
		}
	}
	g.mu.Unlock()
	r.mu.Unlock()
}

// Drop forgets a run its creating request did not commit, and unlocks it.
func (g *Registry) Drop(r *Run) {
	g.mu.Lock()
	if g.runs[r.key] == r {
		g.removeLocked(r)
	}
	g.mu.Unlock()
	r.gone = true
	r.mu.Unlock()
}

// Restore adds runs loaded from storage, in the order of the lists: by
// finalisation for finalised runs, by last activity for open ones.
func (g *Registry) Restore(runs []*Run) {
	slices.SortStableFunc(runs, func(a, b *Run) int { return a.listTime().Compare(b.listTime()) })
	for _, r := range runs {
		g.restore(r)
	}
}

// listTime orders a run in its list.
func (r *Run) listTime() time.Time {
	if r.Finalized() {
		return r.header.FinalizedAt
	}
	return r.lastActivity
}

func (g *Registry) restore(r *Run) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.sent < r.batches-1 {
		g.unsent[r.key] = struct{}{}
	}
	e := &listEntry{run: r, at: r.listTime(), finalized: r.Finalized(), bytes: r.bytes}
	if e.finalized {
		r.elem = g.done.PushBack(e)
	} else {
		r.elem = g.open.PushBack(e)
	}
	g.runs[r.key] = r
	g.owners[r.key.ID] = r.key.Project
	g.bytes += r.bytes
}

// Owner returns the project of the run with this id, if it exists.
func (g *Registry) Owner(runID string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.owners[runID]
	return p, ok
}

// Idle lists the open runs idle since before cutoff.
func (g *Registry) Idle(cutoff time.Time) []Key {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Key
	for e := g.open.Front(); e != nil && e.Value.(*listEntry).at.Before(cutoff); e = e.Next() {
		out = append(out, e.Value.(*listEntry).run.key)
	}
	return out
}

// Expire forgets the runs finalised before cutoff; their stored state is
// then to delete (Forgotten).
func (g *Registry) Expire(cutoff time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for e := g.done.Front(); e != nil && e.Value.(*listEntry).at.Before(cutoff); e = g.done.Front() {
		g.forgetLocked(e.Value.(*listEntry).run)
	}
}

// forgetLocked takes a run out of the maps; its id stays refused until its
// stored state is deleted.
func (g *Registry) forgetLocked(r *Run) {
	g.removeLocked(r)
	g.deleting[r.key] = true
	g.forgotten = append(g.forgotten, r)
}

func (g *Registry) removeLocked(r *Run) {
	e := r.elem.Value.(*listEntry)
	if e.finalized {
		g.done.Remove(r.elem)
	} else {
		g.open.Remove(r.elem)
	}
	g.bytes -= e.bytes
	delete(g.runs, r.key)
	delete(g.unsent, r.key)
	delete(g.unstored, r.key)
	if g.owners[r.key.ID] == r.key.Project {
		delete(g.owners, r.key.ID)
	}
}

// DeleteForgotten calls del for each forgotten run, locked (a request that
// still held it is done), then frees its id.
func (g *Registry) DeleteForgotten(del func(r *Run)) {
	g.mu.Lock()
	runs := g.forgotten
	g.forgotten = nil
	g.mu.Unlock()
	for _, r := range runs {
		r.mu.Lock()
		r.gone = true
		del(r)
		r.mu.Unlock()
		g.mu.Lock()
		delete(g.deleting, r.key)
		g.mu.Unlock()
	}
}

// TakeUnsent returns the runs with batches the pipeline has not taken.
func (g *Registry) TakeUnsent() []Key { return g.take(g.unsent) }

// TakeUnstored returns the runs whose sent mark storage lacks.
func (g *Registry) TakeUnstored() []Key { return g.take(g.unstored) }

func (g *Registry) take(set map[Key]struct{}) []Key {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Key, 0, len(set))
	for k := range set {
		out = append(out, k)
		delete(set, k)
	}
	return out
}

// Full reports whether the state of all runs reached its byte bound: no
// request may add to it until finalised runs leave.
func (g *Registry) Full() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cfg.MaxBytes > 0 && g.bytes >= g.cfg.MaxBytes
}

// Stats reports the runs kept and the bytes of state they hold.
func (g *Registry) Stats() (open, finalized int, bytes int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open.Len(), g.done.Len(), g.bytes
}
