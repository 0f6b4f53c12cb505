// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

//go:build reliability

package e2e

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"golang.org/x/time/rate"

	"github.com/promptetheus/otelcol-promptetheus/client"
)

var (
	agentsFlag   = flag.Int("agents", 20, "concurrent agents")
	rateFlag     = flag.Float64("rate", 200, "events per second, all agents together")
	durationFlag = flag.Duration("duration", 2*time.Minute, "how long the load runs")
	runEvents    = flag.Int("run-events", 40, "events per run before its session_end")
	batchFlag    = flag.Int("batch", 10, "events per request")
)

// TestReliabilitySuite holds a steady load on the built collector for
// -duration while the backend goes away for a while and the collector is
// killed with SIGKILL and restarted; it samples the collector's RSS, then
// checks in Jaeger that every acknowledged event arrived exactly once.
// Run it with `make reliability`.
func TestReliabilitySuite(t *testing.T) {
	j := startJaegerWith(t, t.TempDir())
	c := startCollector(t, collectorOptions{
		exporters: map[string]string{"otlp_grpc/jaeger": jaegerExporter(j) +
			"retry_on_failure:\n  initial_interval: 100ms\n  max_interval: 2s\n  max_elapsed_time: 0\n"},
		receiverExtra: "sessions:\n  idle_timeout: 1m\n",
	})

	rss := &rssSampler{}
	stopSampling := rss.run(func() int { return c.cmd.Process.Pid })
	load := &loadRun{acked: map[string]map[int64]bool{}}
	limiter := rate.NewLimiter(rate.Limit(*rateFlag), *batchFlag)
	ctx, cancel := context.WithTimeout(context.Background(), *durationFlag)
	defer cancel()

	var faults []string
	var wg sync.WaitGroup
	wg.Go(func() {
		sleepCtx(ctx, *durationFlag/3)
		faults = append(faults, "backend down 10s")
		j.stop(syscall.SIGTERM)
		time.Sleep(10 * time.Second)
		j.restart(t)
		sleepCtx(ctx, *durationFlag/3-10*time.Second)
		faults = append(faults, "collector SIGKILL + restart")
		c.stop(syscall.SIGKILL)
		c.restart(t)
	})
	started := time.Now()
	agent := reliabilityClient(c, client.WithOnRetry(func(error) { load.retried.Add(1) }))
	for a := range *agentsFlag {
		wg.Go(func() { load.agent(ctx, agent, limiter, a) })
	}
	wg.Wait()
	elapsed := time.Since(started)
	stopSampling()

	verifyStart := time.Now()
	lost, dups, copies := load.verify(t, j)
	s := load.stats()
	fmt.Printf(`
| measure | value |
|---|---|
| agents | %d |
| target rate | %.0f events/s |
| achieved rate | %.0f events/s |
| runs | %d |
| events acknowledged (2xx) | %d |
| requests / retried attempts | %d / %d |
| request latency p50 / p99 | %s / %s |
| faults injected | %s |
| collector RSS: start / max / end | %.0f / %.0f / %.0f MiB |
| events lost | %d |
| events duplicated | %d |
| identical copies redelivered (collapsed) | %d |
| verification in Jaeger | %s |
`, *agentsFlag, *rateFlag, float64(s.events)/elapsed.Seconds(), s.runs, s.events, s.requests, s.retried,
		s.p50, s.p99, strings.Join(faults, "; "), rss.first(), rss.max(), rss.last(), lost, dups, copies, time.Since(verifyStart).Round(time.Second))
	assert.Zero(t, lost)
	assert.Zero(t, dups)
	assert.Less(t, rss.max(), 4*rss.first()+256, "memory stays bounded")
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// loadRun is the load of every agent and what the collector acknowledged.
type loadRun struct {
	mu        sync.Mutex
	acked     map[string]map[int64]bool
	latencies []time.Duration
	requests  atomic.Int64
	retried   atomic.Int64
}

// agent sends runs of -run-events events in batches until ctx ends, then
// ends its last run.
func (l *loadRun) agent(ctx context.Context, c *client.Client, limiter *rate.Limiter, agent int) {
	for n := 0; ctx.Err() == nil; n++ {
		run := client.NewSession(fmt.Sprintf("load_%02d_%04d", agent, n))
		for sent := 0; sent <= *runEvents; {
			var events []client.Event
			if sent == *runEvents || ctx.Err() != nil {
				events = []client.Event{run.Event("session_end", map[string]any{"status": "completed"})}
				sent = *runEvents + 1
			} else {
				k := min(*batchFlag, *runEvents-sent)
				if limiter.WaitN(ctx, k) != nil {
					continue
				}
				for i := range k {
					events = append(events, run.Event("llm_call", map[string]any{
						"model": "gpt-5", "input_tokens": 100 + i, "output_tokens": 20, "latency_ms": 300,
					}))
				}
				sent += k
			}
			begin := time.Now()
			res, err := c.AppendEvents(context.Background(), run.ID, events)
			took := time.Since(begin)
			l.requests.Add(1)
			if err != nil || len(res.Rejected) > 0 {
				continue // not acknowledged: not counted as delivered
			}
			l.mu.Lock()
			if l.acked[run.ID] == nil {
				l.acked[run.ID] = map[int64]bool{}
			}
			for _, e := range events {
				l.acked[run.ID][e.Seq] = true
			}
			l.latencies = append(l.latencies, took)
			l.mu.Unlock()
		}
	}
}

type loadStats struct {
	runs, events, requests, retried int64
	p50, p99                        time.Duration
}

func (l *loadRun) stats() loadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := loadStats{runs: int64(len(l.acked)), requests: l.requests.Load(), retried: l.retried.Load()}
	for _, seqs := range l.acked {
		s.events += int64(len(seqs))
	}
	lat := slices.Clone(l.latencies)
	slices.Sort(lat)
	if len(lat) > 0 {
		s.p50, s.p99 = lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond)
	}
	return s
}

// verify counts, per run, the acknowledged events missing from Jaeger, the
// ones stored as more than one distinct span, and the identical copies of a
// span delivered twice (collapsed, as backends do).
func (l *loadRun) verify(t *testing.T, j *jaeger) (lost, dups, copies int) {
	for run, seqs := range l.acked {
		spans, n := distinct(t, j.traceWithin(t, hexTraceID("proj_acmemeet", run), len(seqs)+1, 2*time.Minute))
		copies += n
		got := map[int64]int{}
		for _, sp := range spans {
			if sp.tag("promptetheus.event.type") != nil {
				got[int64(sp.tag("promptetheus.event.seq").(float64))]++
			}
		}
		for seq := range seqs {
			switch n := got[seq]; {
			case n == 0:
				lost++
			case n > 1:
				dups += n - 1
			}
		}
	}
	return lost, dups, copies
}

// rssSampler reads a process's resident set size every second.
type rssSampler struct {
	mu      sync.Mutex
	samples []float64 // MiB
}

func (r *rssSampler) run(pid func() int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if mib, ok := procMiB(pid(), "VmRSS"); ok {
				r.mu.Lock()
				r.samples = append(r.samples, mib)
				r.mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-time.After(time.Second):
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (r *rssSampler) first() float64 { return r.at(0) }
func (r *rssSampler) last() float64  { return r.at(-1) }

func (r *rssSampler) at(i int) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.samples) == 0 {
		return 0
	}
	if i < 0 {
		i = len(r.samples) - 1
	}
	return r.samples[i]
}

func (r *rssSampler) max() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Max(append([]float64{0}, r.samples...))
}
