// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package testutil // import "github.com/promptetheus/otelcol-promptetheus/internal/testutil"

import (
	"sync"
	"time"
)

// Clock is a time that tests move by hand, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock standing at now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
