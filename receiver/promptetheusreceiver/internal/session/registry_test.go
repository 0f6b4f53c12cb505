// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package session

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
)

func key(id string) Key { return Key{Project: "proj_a", ID: id} }

func info(id string) mapping.Run { return mapping.Run{Project: "proj_a", ID: id} }

func acquire(t *testing.T, g *Registry, id string, now time.Time) *Run {
	t.Helper()
	r, _, err := g.Acquire(key(id), true, info(id), now)
	require.NoError(t, err)
	return r
}

// finalize marks a locked run finalised as a committed finalize batch does.
func finalize(r *Run, at time.Time) {
	r.header.FinalizedAt, r.header.FinalizedBy = at, FinalizedByAnalyze
}

func TestRegistryEvictsOldestFinalised(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxRuns = 2
	g := NewRegistry(cfg)
	r1 := acquire(t, g, "r1", t0)
	finalize(r1, t0)
	g.Release(r1)
	g.Release(acquire(t, g, "r2", t0))

	r3 := acquire(t, g, "r3", t0)
	g.Release(r3)
	_, ok := g.Owner("r1")
	assert.False(t, ok, "the finalised run made room")
	_, _, err := g.Acquire(key("r1"), true, info("r1"), t0)
	assert.ErrorIs(t, err, ErrBusy, "its id waits until its stored state is deleted")

	var deleted []Key
	g.DeleteForgotten(func(r *Run) { deleted = append(deleted, r.Key()) })
	assert.Equal(t, []Key{key("r1")}, deleted)

	_, _, err = g.Acquire(key("r4"), true, info("r4"), t0)
	assert.ErrorIs(t, err, ErrTooManyRuns, "both runs are open: none can go")

	_, _, err = g.Acquire(Key{Project: "proj_b", ID: "r2"}, true, info("r2"), t0)
	assert.ErrorIs(t, err, ErrOtherProject, "run ids are unique across projects")
}

func TestRegistryIdleAndExpire(t *testing.T) {
	g := NewRegistry(testConfig(t))
	for i, id := range []string{"a", "b", "c"} {
		g.Release(acquire(t, g, id, t0.Add(time.Duration(i)*time.Second)))
	}
	b, _, _ := g.Acquire(key("b"), false, mapping.Run{}, t0)
	b.lastActivity = t0.Add(10 * time.Second)
	g.Release(b)
	assert.Equal(t, []Key{key("a"), key("c")}, g.Idle(t0.Add(5*time.Second)), "least recently active first, from the list")

	c, _, _ := g.Acquire(key("c"), false, mapping.Run{}, t0)
	finalize(c, t0.Add(time.Minute))
	g.Release(c)
	assert.Equal(t, []Key{key("a"), key("b")}, g.Idle(t0.Add(time.Hour)), "finalised runs are not idle")
	g.Expire(t0.Add(time.Minute))
	_, ok := g.Owner("c")
	assert.True(t, ok, "retained until its retention passes")
	g.Expire(t0.Add(time.Minute + time.Nanosecond))
	_, ok = g.Owner("c")
	assert.False(t, ok)
}

func TestRegistryStateBytesBound(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxBytes = 1000
	g := NewRegistry(cfg)
	r := acquire(t, g, "big", t0)
	r.bytes = 1000
	g.Release(r)
	_, _, bytes := g.Stats()
	assert.Equal(t, int64(1000), bytes)
	_, _, err := g.Acquire(key("new"), true, info("new"), t0)
	assert.ErrorIs(t, err, ErrStateFull)
	r, _, _ = g.Acquire(key("big"), false, mapping.Run{}, t0)
	finalize(r, t0)
	g.Release(r)
	g.Expire(t0.Add(time.Second))
	_, _, bytes = g.Stats()
	assert.Zero(t, bytes, "a forgotten run's bytes are freed")
}

// TestRegistryConcurrency runs requests, drops, expiry and deletion of many
// runs at once (under -race): every run is held by one request at a time,
// and the counts add up at the end.
func TestRegistryConcurrency(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxRuns = 50
	g := NewRegistry(cfg)
	var wg sync.WaitGroup
	var mu sync.Mutex
	holders := map[*Run]int{}
	for w := range 8 {
		wg.Go(func() {
			for i := range 300 {
				id := fmt.Sprintf("r%d", (w*7+i)%80)
				r, created, err := g.Acquire(key(id), true, info(id), t0.Add(time.Duration(i)*time.Millisecond))
				if err != nil {
					continue // full, busy: what a client would retry
				}
				mu.Lock()
				holders[r]++
				require.Equal(t, 1, holders[r], "a run is held by one request at a time")
				mu.Unlock()
				r.bytes += 10
				switch {
				case created && i%5 == 0:
					mu.Lock()
					holders[r]--
					mu.Unlock()
					g.Drop(r)
					continue
				case i%3 == 0:
					finalize(r, t0)
				}
				mu.Lock()
				holders[r]--
				mu.Unlock()
				g.Release(r)
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			g.Expire(t0.Add(time.Hour))
			g.DeleteForgotten(func(*Run) {})
			_ = g.Idle(t0.Add(time.Hour))
		}
	})
	wg.Wait()
	g.Expire(t0.Add(time.Hour))
	g.DeleteForgotten(func(*Run) {})
	open, finalized, bytes := g.Stats()
	assert.LessOrEqual(t, open+finalized, cfg.MaxRuns)
	var sum int64
	for _, r := range g.runs {
		sum += r.bytes
	}
	assert.Equal(t, sum, bytes, "the byte total is the sum over the runs kept")
}

func TestRegistryFull(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxBytes = 100
	g := NewRegistry(cfg)
	assert.False(t, g.Full())
	r := acquire(t, g, "r", t0)
	r.bytes = 100
	g.Release(r)
	assert.True(t, g.Full())
}
