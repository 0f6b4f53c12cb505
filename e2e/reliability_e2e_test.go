// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptetheus/otelcol-promptetheus/client"
)

// stream is a load of runs sent the way the SDK sends them, remembering
// which events the collector acknowledged.
type stream struct {
	runs, batches, perBatch int
	mu                      sync.Mutex
	acked                   map[string]map[int64]bool // run -> acknowledged seqs
	sent                    atomic.Int64
}

func newStream(runs, batches, perBatch int) *stream {
	return &stream{runs: runs, batches: batches, perBatch: perBatch, acked: map[string]map[int64]bool{}}
}

func (s *stream) runID(i int) string { return fmt.Sprintf("run_rel_%02d", i) }

// send pushes every batch of every run from a few concurrent agents, each
// batch retried until acknowledged, then ends each run with session_end.
// onBatch is called after each acknowledged batch.
func (s *stream) send(t *testing.T, c *client.Client, onBatch func(n int64)) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, s.runs)
	for i := range s.runs {
		wg.Go(func() {
			run := client.NewSession(s.runID(i))
			for b := 0; b <= s.batches; b++ {
				var events []client.Event
				if b == s.batches {
					events = []client.Event{run.Event("session_end", map[string]any{"status": "completed"})}
				} else {
					for range s.perBatch {
						events = append(events, run.Event("agent_message", map[string]any{"content": fmt.Sprintf("step of %s", run.ID)}))
					}
				}
				res, err := c.AppendEvents(context.Background(), run.ID, events)
				if err != nil {
					errs <- fmt.Errorf("%s batch %d: %w", run.ID, b, err)
					return
				}
				if len(res.Rejected) > 0 {
					errs <- fmt.Errorf("%s batch %d: rejected %+v", run.ID, b, res.Rejected)
					return
				}
				s.mu.Lock()
				if s.acked[run.ID] == nil {
					s.acked[run.ID] = map[int64]bool{}
				}
				for _, e := range events {
					s.acked[run.ID][e.Seq] = true
				}
				s.mu.Unlock()
				onBatch(s.sent.Add(1))
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// verify reads every run back from Jaeger: each acknowledged event exactly
// once (one distinct span per seq) plus the root.
func (s *stream) verify(t *testing.T, j *jaeger) {
	t.Helper()
	for i := range s.runs {
		run := s.runID(i)
		want := len(s.acked[run])
		require.Equal(t, s.batches*s.perBatch+1, want, "%s: every event was acknowledged", run)
		spans, copies := distinct(t, j.waitTrace(t, hexTraceID("proj_acmemeet", run), want+1))
		if copies > 0 {
			t.Logf("%s: %d span(s) delivered twice, identical (at-least-once delivery across the kill)", run, copies)
		}
		seqs := map[int64]int{}
		roots := 0
		for _, sp := range spans {
			switch {
			case sp.tag("promptetheus.event.type") != nil:
				seqs[int64(sp.tag("promptetheus.event.seq").(float64))]++
			case sp.OperationName == "invoke_agent":
				roots++
			}
		}
		assert.Equal(t, 1, roots, "%s: one root", run)
		for seq := range s.acked[run] {
			assert.Equal(t, 1, seqs[seq], "%s: seq %d exactly once", run, seq)
		}
		assert.Len(t, seqs, want, "%s: nothing that was not acknowledged", run)
	}
}

// reliabilityClient is patient enough to span a restart of the collector.
func reliabilityClient(c *collector, opts ...client.Option) *client.Client {
	opts = append([]client.Option{client.WithRetries(60, 50*time.Millisecond, 500*time.Millisecond),
		client.WithHTTPClient(&http.Client{Timeout: 5 * time.Second})}, opts...)
	return client.New("http://"+c.api, "pt_dev_key", opts...)
}

// TestE2ECrashRestartLosesNothing kills the collector with SIGKILL in the
// middle of a stream of batches and restarts it on the same data: every
// event that got a 2xx reaches Jaeger exactly once; an artifact uploaded
// before the kill is served back byte-identical; analyze still answers.
func TestE2ECrashRestartLosesNothing(t *testing.T) {
	j := startJaeger(t)
	c := startCollector(t, collectorOptions{
		exporters:     map[string]string{"otlp_grpc/jaeger": jaegerExporter(j)},
		receiverExtra: "sessions:\n  idle_timeout: 1m\n",
	})
	agent := reliabilityClient(c)
	ctx := context.Background()

	art := bytes.Repeat([]byte("\x89PNG-bytes"), 1000)
	info, err := agent.UploadArtifact(ctx, "run_with_artifact", client.Artifact{Body: art, ContentType: "image/png", Filename: "s.png", Type: "screenshot"})
	require.NoError(t, err)
	analyzed := client.NewSession("run_analyzed")
	_, err = agent.AppendEvents(ctx, analyzed.ID, []client.Event{analyzed.Event("goal_check", map[string]any{"passed": false, "mismatches": []string{"wrong day"}})})
	require.NoError(t, err)
	console := client.New("http://"+c.api, "pt_console_token", client.WithRetries(60, 50*time.Millisecond, 500*time.Millisecond))
	_, err = console.Analyze(ctx, analyzed.ID)
	require.NoError(t, err)

	s := newStream(6, 12, 5)
	var once sync.Once
	s.send(t, agent, func(n int64) {
		if n == 25 {
			once.Do(func() {
				c.stop(syscall.SIGKILL)
				c.restart(t)
			})
		}
	})
	s.verify(t, j)

	got := download(t, "http://"+c.api+info.URI, "pt_dev_key")
	assert.Equal(t, art, got, "the artifact survived the kill")
	a, err := console.Analyze(ctx, analyzed.ID)
	require.NoError(t, err)
	assert.Equal(t, []string{"browser_goal_mismatch"}, a.Labels, "analyze still answers after the restart")
}

// TestE2EBackendOutageLosesNothing stops Jaeger under load and starts it
// again: the persistent sending queue holds what was acknowledged meanwhile.
func TestE2EBackendOutageLosesNothing(t *testing.T) {
	j := startJaegerWith(t, t.TempDir())
	c := startCollector(t, collectorOptions{
		exporters: map[string]string{"otlp_grpc/jaeger": jaegerExporter(j) +
			"retry_on_failure:\n  initial_interval: 100ms\n  max_interval: 1s\n  max_elapsed_time: 0\n"},
	})
	s := newStream(4, 12, 5)
	var once sync.Once
	s.send(t, reliabilityClient(c), func(n int64) {
		if n == 10 {
			once.Do(func() {
				// The other agents keep sending while the backend is away.
				j.stop(syscall.SIGTERM)
				time.Sleep(3 * time.Second)
				j.restart(t)
			})
		}
	})
	s.verify(t, j)
}

func download(t *testing.T, url, token string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, http.NoBody)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}
