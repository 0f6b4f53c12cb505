// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter // import "github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter"

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/exporter"
)

// tenant is the otlp_http exporter of one tenant and its use.
type tenant struct {
	id    string
	queue queueProbe

	// ready is closed once exp is started or err is set.
	ready chan struct{}
	exp   exporter.Traces
	err   error
	// gone is closed once the exporter is shut down and the tenant removed.
	gone chan struct{}

	mu       sync.Mutex
	released *sync.Cond // signalled when inUse drops to 0
	inUse    int
	stopping bool
	lastUsed time.Time
}

func newTenant(id string) *tenant {
	t := &tenant{id: id, ready: make(chan struct{}), gone: make(chan struct{}), lastUsed: time.Now()}
	t.released = sync.NewCond(&t.mu)
	return t
}

// acquire marks the exporter in use, unless it is being shut down.
func (t *tenant) acquire() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopping {
		return false
	}
	t.inUse++
	t.lastUsed = time.Now()
	return true
}

func (t *tenant) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inUse--
	t.lastUsed = time.Now()
	if t.inUse == 0 {
		t.released.Broadcast()
	}
}

// retireIfIdle marks the tenant stopping when it is started, unused, got
// no data for idle, and its queue is empty; once stopping, its queue only
// shrinks. A queue whose size the exporter does not report is never taken
// for empty: sizeUnknown tells the caller.
func (t *tenant) retireIfIdle(ctx context.Context, now time.Time, idle time.Duration, hasQueue bool) (retire, sizeUnknown bool) {
	select {
	case <-t.ready:
	default:
		return false, false
	}
	if t.err != nil {
		return false, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopping || t.inUse > 0 || now.Sub(t.lastUsed) < idle {
		return false, false
	}
	size, known := t.queue.size(ctx)
	if hasQueue && !known {
		return false, true
	}
	if size > 0 {
		return false, false
	}
	t.stopping = true
	return true, false
}

// stopAndWait refuses new uses and waits for the current ones to end.
func (t *tenant) stopAndWait() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopping = true
	for t.inUse > 0 {
		t.released.Wait()
	}
}
