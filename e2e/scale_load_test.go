// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

//go:build scale

package e2e

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/promptetheus/otelcol-promptetheus/client"
)

// spoolFor is how long an agent keeps a batch it could not deliver, replaying
// it every second as the SDK replays its spool.
const spoolFor = 3 * time.Minute

// fleetRun is what the collectors acknowledged of one run.
type fleetRun struct {
	passed   bool
	complete bool // goal_check and session_end acknowledged
	acked    map[int64]bool
}

// fleetLoad is the agents of make scale and what the fleet acknowledged.
type fleetLoad struct {
	base string

	mu        sync.Mutex
	runs      map[string]*fleetRun
	latencies []time.Duration // per delivered request, retries and spool included
	lost      []string        // batches given up after spoolFor
	// recovered is when the last request that waited over a second for its
	// collector was delivered.
	recovered time.Time

	events   atomic.Int64 // acknowledged
	requests atomic.Int64 // attempts
	retried  atomic.Int64 // attempts that were retried
	spooled  atomic.Int64 // replays of a batch after the client gave up
	// first503 and last503 bound the time agents saw a collector unavailable.
	first503, last503 atomic.Int64
}

func newFleetLoad(base string) *fleetLoad {
	return &fleetLoad{base: base, runs: map[string]*fleetRun{}}
}

// client is an agent's client: the SDK's retries, one connection pool.
func (l *fleetLoad) client(token string) *client.Client {
	return client.New(l.base, token,
		client.WithHTTPClient(&http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}),
		client.WithRetries(6, 100*time.Millisecond, 2*time.Second),
		client.WithOnRetry(func(err error) {
			l.retried.Add(1)
			var apiErr *client.APIError
			if errors.As(err, &apiErr) && apiErr.Status == http.StatusServiceUnavailable {
				now := time.Now().UnixNano()
				l.first503.CompareAndSwap(0, now)
				l.last503.Store(now)
			}
		}))
}

// agent sends runs one after the other until ctx ends; every run it starts
// it finishes. limiter (nil: no limit) paces events.
func (l *fleetLoad) agent(ctx context.Context, c *client.Client, limiter *rate.Limiter, name string, runEvents, batch int, finish bool) {
	for n := 0; ctx.Err() == nil; n++ {
		l.run(c, limiter, fmt.Sprintf("%s_%05d", name, n), runEvents, batch, finish)
	}
}

// run sends one run: create, runEvents events in batches, then (finish) a
// goal_check and a session_end.
func (l *fleetLoad) run(c *client.Client, limiter *rate.Limiter, id string, runEvents, batch int, finish bool) {
	h := fnv.New32a()
	h.Write([]byte(id))
	r := &fleetRun{passed: h.Sum32()%3 != 0, acked: map[int64]bool{}}
	if !l.deliver("create "+id, func() error {
		_, err := c.CreateTrace(context.Background(), client.CreateTraceRequest{ID: id, Agent: "fleet-agent", UserGoal: "Book Tuesday at 2pm"})
		return err
	}) {
		return
	}
	l.mu.Lock()
	l.runs[id] = r
	l.mu.Unlock()
	s := client.NewSession(id)
	for sent := 0; sent < runEvents; {
		k := min(batch, runEvents-sent)
		if limiter != nil {
			_ = limiter.WaitN(context.Background(), k)
		}
		events := make([]client.Event, 0, k)
		for i := range k {
			events = append(events, agentEvent(s, sent+i))
		}
		l.send(c, r, id, events)
		sent += k
	}
	if finish {
		last := []client.Event{
			s.Event("goal_check", map[string]any{"passed": r.passed, "mismatches": []string{}}),
			s.Event("session_end", map[string]any{"status": "completed"}),
		}
		if l.send(c, r, id, last) {
			l.mu.Lock()
			r.complete = true
			l.mu.Unlock()
		}
	}
}

// agentEvent is event i of a run: a question, then LLM calls and answers.
func agentEvent(s *client.Session, i int) client.Event {
	switch {
	case i == 0:
		return s.Event("user_message", map[string]any{"content": "Book Tuesday at 2pm Pacific"})
	case i%2 == 1:
		return s.Event("llm_call", map[string]any{"model": "gpt-5", "input_tokens": 1200 + i, "output_tokens": 300, "latency_ms": 900})
	}
	return s.Event("agent_message", map[string]any{"content": fmt.Sprintf("Step %d: checking the calendar.", i)})
}

func (l *fleetLoad) send(c *client.Client, r *fleetRun, id string, events []client.Event) bool {
	ok := l.deliver(fmt.Sprintf("events %s seq %d", id, events[0].Seq), func() error {
		res, err := c.AppendEvents(context.Background(), id, events)
		if err == nil && len(res.Rejected) > 0 {
			return fmt.Errorf("rejected: %+v", res.Rejected)
		}
		return err
	})
	if ok {
		l.mu.Lock()
		for _, e := range events {
			r.acked[e.Seq] = true
		}
		l.mu.Unlock()
		l.events.Add(int64(len(events)))
	}
	return ok
}

// deliver makes a request until it is acknowledged: the client's retries,
// then a replay every second for spoolFor (the SDK's spool).
func (l *fleetLoad) deliver(what string, send func() error) bool {
	begin := time.Now()
	for {
		l.requests.Add(1)
		err := send()
		if err == nil {
			break
		}
		var apiErr *client.APIError
		if errors.As(err, &apiErr) && !apiErr.Retryable() || time.Since(begin) > spoolFor {
			l.mu.Lock()
			l.lost = append(l.lost, fmt.Sprintf("%s: %v", what, err))
			l.mu.Unlock()
			return false
		}
		l.spooled.Add(1)
		time.Sleep(time.Second)
	}
	took := time.Since(begin)
	l.mu.Lock()
	l.latencies = append(l.latencies, took)
	if took > time.Second { // waited for a collector
		l.recovered = time.Now()
	}
	l.mu.Unlock()
	return true
}

// latencyFrom is the p50, p99 and max of the requests delivered from index i.
func (l *fleetLoad) latencyFrom(i int) (p50, p99, worst time.Duration) {
	l.mu.Lock()
	lat := slices.Clone(l.latencies[i:])
	l.mu.Unlock()
	if len(lat) == 0 {
		return 0, 0, 0
	}
	return percentile(lat, 50), percentile(lat, 99), slices.Max(lat).Round(time.Millisecond)
}

func (l *fleetLoad) delivered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.latencies)
}

// snapshot copies the runs.
func (l *fleetLoad) snapshot() map[string]*fleetRun {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]*fleetRun, len(l.runs))
	for id, r := range l.runs {
		out[id] = r
	}
	return out
}
