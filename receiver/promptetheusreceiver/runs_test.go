// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/promptetheus/otelcol-promptetheus/extension/agentrulesextension"
	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
	"github.com/promptetheus/otelcol-promptetheus/internal/testutil"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/metadata"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/metadatatest"
)

// flakyStorage is a real file_storage whose writes fail on demand: what a
// full disk or a broken volume does to the receiver.
type flakyStorage struct {
	storage.Extension
	failWrites, failDeletes atomic.Bool
}

func (f *flakyStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := f.Extension.GetClient(ctx, kind, id, name)
	return &flakyClient{Client: c, storage: f}, err
}

type flakyClient struct {
	storage.Client
	storage *flakyStorage
}

var errDiskBroken = errors.New("disk broken")

func (c *flakyClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		switch {
		case op.Type == storage.Set && c.storage.failWrites.Load(), op.Type == storage.Delete && c.storage.failDeletes.Load():
			return errDiskBroken
		}
	}
	return c.Client.Batch(ctx, ops...)
}

func (c *flakyClient) Walk(ctx context.Context, fn storage.WalkFunc) error {
	return c.Client.(storage.Walker).Walk(ctx, fn)
}

type storageHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h.exts }

var storageID = component.MustNewID("file_storage")

// openStorage starts a real file_storage extension on dir.
func openStorage(t *testing.T, dir string) *flakyStorage {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	return &flakyStorage{Extension: ext.(storage.Extension)}
}

// durableReceiver is a started receiver keeping its state in st.
func durableReceiver(t *testing.T, cfg *Config, st *flakyStorage, next consumer.Traces) (*testServer, func()) {
	t.Helper()
	cfg.Storage = &storageID
	require.NoError(t, cfg.Validate())
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.NewID(metadata.Type) // the storage client is named after it
	r, err := NewFactory().CreateTraces(context.Background(), set, cfg, next)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), storageHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{storageID: st}}))
	stop := func() { require.NoError(t, r.Shutdown(context.Background())) }
	return &testServer{url: "http://" + cfg.ServerConfig.NetAddr.Endpoint, rcv: r.(*promptetheusReceiver)}, stop
}

func eventsBody(run string, seqs ...int) string {
	var evs []string
	for _, q := range seqs {
		evs = append(evs, fmt.Sprintf(`{"type":"agent_message","session_id":%q,"timestamp":"2026-01-01T00:00:%02dZ","seq":%d,"idempotency_key":"%s:n:%d","payload":{"content":"m%d"}}`,
			run, q%60, q, run, q, q))
	}
	return `{"events":[` + strings.Join(evs, ",") + `]}`
}

// spanIDs counts the spans a sink received by id.
func spanIDs(sink *consumertest.TracesSink) map[pcommon.SpanID]int {
	out := map[pcommon.SpanID]int{}
	for _, s := range testutil.SpansOf(sink) {
		out[s.SpanID()]++
	}
	return out
}

func TestStorageErrorEmitsNothing(t *testing.T) {
	st := openStorage(t, t.TempDir())
	sink := new(consumertest.TracesSink)
	s, stop := durableReceiver(t, testReceiverConfig(t), st, sink)
	defer stop()

	st.failWrites.Store(true)
	resp := s.post(t, "/api/traces/run_a/events", testKey, eventsBody("run_a", 0, 1))
	assert.Equal(t, http.StatusServiceUnavailable, resp.status)
	assert.Equal(t, "5", resp.header.Get("Retry-After"))
	assert.Equal(t, 0, sink.SpanCount(), "nothing is emitted before it is stored")
	_, exists := s.rcv.runs.Owner("run_a")
	assert.False(t, exists, "a run its failed first request created is forgotten")

	st.failWrites.Store(false)
	resp = s.post(t, "/api/traces/run_a/events", testKey, eventsBody("run_a", 0, 1))
	require.Equal(t, http.StatusOK, resp.status)
	assert.Equal(t, 2.0, resp.json(t)["accepted"])
	assert.Equal(t, 2, sink.SpanCount(), "the retry emits once")
}

func TestPipelineRefusalRollsBack(t *testing.T) {
	dir := t.TempDir()
	st := openStorage(t, dir)
	var refuse atomic.Bool
	sink := new(consumertest.TracesSink)
	next := consumerFunc(func(ctx context.Context, td ptrace.Traces) error {
		if refuse.Load() {
			return errors.New("memory limit reached")
		}
		return sink.ConsumeTraces(ctx, td)
	})
	cfg := testReceiverConfig(t)
	s, stop := durableReceiver(t, cfg, st, next)
	require.Equal(t, http.StatusOK, s.post(t, "/api/traces/run_a/events", testKey, eventsBody("run_a", 0)).status)

	refuse.Store(true)
	resp := s.post(t, "/api/traces/run_a/events", testKey, eventsBody("run_a", 1, 2))
	assert.Equal(t, http.StatusServiceUnavailable, resp.status)
	assert.NotEmpty(t, resp.header.Get("Retry-After"))
	refuse.Store(false)
	stop()
	require.NoError(t, st.Shutdown(context.Background()))

	// After a restart the refused batch is not there: nothing re-emitted,
	// and the client's retry is new, not a duplicate.
	st = openStorage(t, dir)
	s, stop = durableReceiver(t, testReceiverConfig(t), st, sink)
	defer stop()
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, 1, sink.SpanCount())
	resp = s.post(t, "/api/traces/run_a/events", testKey, eventsBody("run_a", 1, 2))
	require.Equal(t, http.StatusOK, resp.status)
	assert.Equal(t, 2.0, resp.json(t)["accepted"], "both accepted")
	assert.Equal(t, 3, sink.SpanCount())
	for id, n := range spanIDs(sink) {
		assert.Equal(t, 1, n, "span %s emitted once", id)
	}
}

// crashWithUnsentBatch freezes a receiver after it stored run_a's second
// batch (seqs 2 and 3) and before the pipeline took it, and returns a copy
// of the disk as it is then, with the sink of what the pipeline took.
func crashWithUnsentBatch(t *testing.T) (string, *consumertest.TracesSink) {
	t.Helper()
	dir := t.TempDir()
	st := openStorage(t, dir)
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	taken := new(consumertest.TracesSink)
	frozen := consumerFunc(func(ctx context.Context, td ptrace.Traces) error {
		if calls.Add(1) == 2 {
			close(entered)
			<-release // the process is gone: the pipeline never takes this batch
			return errors.New("crashed")
		}
		return taken.ConsumeTraces(ctx, td)
	})
	s, stopFrozen := durableReceiver(t, testReceiverConfig(t), st, frozen)
	t.Cleanup(stopFrozen)
	t.Cleanup(func() { close(release) }) // runs before stopFrozen
	require.Equal(t, http.StatusOK, s.post(t, "/api/traces/run_a/events", testKey, eventsBody("run_a", 0, 1)).status)
	go func() { _ = s.post(t, "/api/traces/run_a/events", testKey, eventsBody("run_a", 2, 3)) }()
	<-entered

	crashed := t.TempDir()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(crashed, e.Name()), b, 0o600))
	}
	return crashed, taken
}

// TestCrashBetweenPersistAndEmit starts a new receiver on the disk of a
// crash between persist and emit: the batch is emitted at start-up, and the
// client's retry finds it already accepted.
func TestCrashBetweenPersistAndEmit(t *testing.T) {
	crashed, first := crashWithUnsentBatch(t)
	second := new(consumertest.TracesSink)
	s2, stop := durableReceiver(t, testReceiverConfig(t), openStorage(t, crashed), second)
	defer stop()
	require.Eventually(t, func() bool { return second.SpanCount() == 2 }, 5*time.Second, 20*time.Millisecond,
		"the stored, unsent batch is emitted at start-up")

	resp := s2.post(t, "/api/traces/run_a/events", testKey, eventsBody("run_a", 2, 3))
	require.Equal(t, http.StatusOK, resp.status)
	assert.Equal(t, 2.0, resp.json(t)["accepted"])
	assert.Equal(t, 2, second.SpanCount(), "the retry is a duplicate: emitted once, not twice")
	for _, sp := range testutil.SpansOf(first) {
		assert.NotContains(t, spanIDs(second), sp.SpanID(), "batches the pipeline took are not emitted again")
	}
}

// TestRequestAfterCrashEmitsUnsentFirst: when the start-up re-emission did
// not get through, the run's next request emits the batch the crash left
// unsent before its own, and neither is lost or emitted twice.
func TestRequestAfterCrashEmitsUnsentFirst(t *testing.T) {
	crashed, _ := crashWithUnsentBatch(t)
	redelivered := make(chan struct{})
	var calls atomic.Int32
	sink := new(consumertest.TracesSink)
	next := consumerFunc(func(ctx context.Context, td ptrace.Traces) error {
		if calls.Add(1) == 1 {
			close(redelivered)
			return errors.New("exporter queue full") // the start-up re-emission
		}
		return sink.ConsumeTraces(ctx, td)
	})
	s, stop := durableReceiver(t, testReceiverConfig(t), openStorage(t, crashed), next)
	defer stop()
	<-redelivered

	require.Equal(t, http.StatusOK, s.post(t, "/api/traces/run_a/events", testKey, eventsBody("run_a", 4, 5)).status)
	var seqs []int64
	for _, sp := range testutil.SpansOf(sink) {
		seq, _ := sp.Attributes().Get(conventions.AttrEventSeq)
		seqs = append(seqs, seq.Int())
	}
	assert.Equal(t, []int64{2, 3, 4, 5}, seqs, "the unsent batch first, then the new one")
	for id, n := range spanIDs(sink) {
		assert.Equal(t, 1, n, "span %s emitted once", id)
	}
}

// TestShutdownStoresSentMarks: after a clean stop and a start, nothing is
// emitted again, for any of the runs whose marks shutdown stored together.
func TestShutdownStoresSentMarks(t *testing.T) {
	dir := t.TempDir()
	st := openStorage(t, dir)
	sink := new(consumertest.TracesSink)
	s, stop := durableReceiver(t, testReceiverConfig(t), st, sink)
	for _, run := range []string{"run_a", "run_b", "run_c"} {
		for i := range 5 {
			require.Equal(t, http.StatusOK, s.post(t, "/api/traces/"+run+"/events", testKey, eventsBody(run, i)).status)
		}
	}
	stop()
	require.NoError(t, st.Shutdown(context.Background()))
	again := new(consumertest.TracesSink)
	_, stop = durableReceiver(t, testReceiverConfig(t), openStorage(t, dir), again)
	defer stop()
	time.Sleep(200 * time.Millisecond)
	assert.Zero(t, again.SpanCount())
}

// TestConcurrentRequests drives many runs at once, appends, analyze and
// sweeps included, with state in storage (run it under -race): every
// accepted event's span is emitted once and every run once judged.
func TestConcurrentRequests(t *testing.T) {
	st := openStorage(t, t.TempDir())
	sink := new(consumertest.TracesSink)
	cfg := testReceiverConfig(t)
	cfg.Sessions.MaxRuns = 20
	s, stop := durableReceiver(t, cfg, st, sink)
	var wg sync.WaitGroup
	for c := range 6 {
		wg.Go(func() {
			for i := range 30 {
				run := fmt.Sprintf("run_%d", (c+i)%10)
				body := eventsBody(run, i, i+100)
				resp := s.post(t, "/api/traces/"+run+"/events", testKey, body)
				assert.Contains(t, []int{http.StatusOK, http.StatusTooManyRequests}, resp.status, string(resp.body))
				if i%10 == 9 {
					s.post(t, "/api/traces/"+run+"/analyze", testConsole, "")
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			s.rcv.sweep(context.Background(), time.Now())
			time.Sleep(5 * time.Millisecond)
		}
	})
	wg.Wait()
	stop()
	roots := map[pcommon.TraceID]int{}
	for id, n := range spanIDs(sink) {
		assert.Equal(t, 1, n, "span %s emitted once", id)
	}
	for _, sp := range testutil.SpansOf(sink) {
		if sp.ParentSpanID().IsEmpty() {
			roots[sp.TraceID()]++
		}
	}
	for id, n := range roots {
		assert.Equal(t, 1, n, "run %s judged once", id)
	}
	assert.NotEmpty(t, roots)
}

// TestEveryEmissionIsCounted: the receiver's accepted and refused span
// counters cover analyze, the idle sweep and artifacts, not only appends.
func TestEveryEmissionIsCounted(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	cfg := testReceiverConfig(t)
	cfg.Sessions.IdleTimeout = time.Hour
	sink := new(consumertest.TracesSink)
	r, err := NewFactory().CreateTraces(context.Background(), receiverSettings(tel), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	s := &testServer{url: "http://" + cfg.ServerConfig.NetAddr.Endpoint, sink: sink, rcv: r.(*promptetheusReceiver)}

	require.Equal(t, http.StatusOK, s.post(t, "/api/traces/run_a/events", testKey, eventsBody("run_a", 0)).status)
	require.Equal(t, http.StatusOK, s.post(t, "/api/traces/run_a/analyze", testConsole, "").status)
	require.Equal(t, http.StatusOK, s.post(t, "/api/traces/run_b/events", testKey, eventsBody("run_b", 0)).status)
	s.rcv.sweep(context.Background(), time.Now().Add(2*time.Hour))
	req, err := http.NewRequest(http.MethodPost, s.url+"/api/traces/run_c/artifacts", strings.NewReader("\x89PNG"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "image/png")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	assert.Equal(t, float64(sink.SpanCount()), acceptedSpans(t, tel), "every span emitted is counted as accepted")
}

type consumerFunc func(context.Context, ptrace.Traces) error

func (f consumerFunc) ConsumeTraces(ctx context.Context, td ptrace.Traces) error { return f(ctx, td) }
func (consumerFunc) Capabilities() consumer.Capabilities                         { return consumer.Capabilities{} }

func receiverSettings(tel *componenttest.Telemetry) receiver.Settings {
	return metadatatest.NewSettings(tel)
}

// acceptedSpans reads the standard otelcol_receiver_accepted_spans counter.
func acceptedSpans(t *testing.T, tel *componenttest.Telemetry) float64 {
	t.Helper()
	m, err := tel.GetMetric("otelcol_receiver_accepted_spans")
	require.NoError(t, err)
	var sum float64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		sum += float64(dp.Value)
	}
	return sum
}

// TestVerdictSurvivesRestarts: a user rule matches an event before a
// restart; the run is finalised after it, its finding is emitted with the
// verdict, and analyze after another restart answers that same verdict.
func TestVerdictSurvivesRestarts(t *testing.T) {
	dir := t.TempDir()
	rulesID := component.MustNewID("agent_rules")
	rulesCfg := agentrulesextension.NewFactory().CreateDefaultConfig().(*agentrulesextension.Config)
	rulesCfg.UserRules = []agentrulesextension.UserRuleConfig{{ID: "gpt5_used", Severity: rules.SeverityInfo,
		Condition: `span.attributes["gen_ai.request.model"] == "gpt-5"`}}
	rulesExt, err := agentrulesextension.NewFactory().Create(context.Background(), extensiontest.NewNopSettings(component.MustNewType("agent_rules")), rulesCfg)
	require.NoError(t, err)
	start := func(next consumer.Traces) (*testServer, func(), *flakyStorage) {
		st := openStorage(t, dir)
		cfg := testReceiverConfig(t)
		cfg.Rules = &rulesID
		cfg.Storage = &storageID
		set := receivertest.NewNopSettings(metadata.Type)
		set.ID = component.NewID(metadata.Type)
		r, err := NewFactory().CreateTraces(context.Background(), set, cfg, next)
		require.NoError(t, err)
		require.NoError(t, r.Start(context.Background(), storageHost{Host: componenttest.NewNopHost(),
			exts: map[component.ID]component.Component{storageID: st, rulesID: rulesExt}}))
		return &testServer{url: "http://" + cfg.ServerConfig.NetAddr.Endpoint, rcv: r.(*promptetheusReceiver)},
			func() {
				require.NoError(t, r.Shutdown(context.Background()))
				require.NoError(t, st.Shutdown(context.Background()))
			}, st
	}

	s, stop, _ := start(consumertest.NewNop())
	llm := `{"events":[{"type":"llm_call","session_id":"run_v","timestamp":"2026-01-01T00:00:00Z","seq":0,"idempotency_key":"k0","payload":{"model":"gpt-5","input_tokens":10,"output_tokens":5}}]}`
	require.Equal(t, http.StatusOK, s.post(t, "/api/traces/run_v/events", testKey, llm).status)
	stop()

	sink := new(consumertest.TracesSink)
	s, stop, _ = start(sink)
	end := `{"events":[{"type":"session_end","session_id":"run_v","timestamp":"2026-01-01T00:00:01Z","seq":1,"idempotency_key":"k1","payload":{"status":"completed"}}]}`
	require.Equal(t, http.StatusOK, s.post(t, "/api/traces/run_v/events", testKey, end).status)
	var names []string
	for _, sp := range testutil.SpansOf(sink) {
		names = append(names, sp.Name())
	}
	assert.ElementsMatch(t, []string{"session_end", "invoke_agent", "rule_finding missing_goal_check", "rule_finding gpt5_used"}, names,
		"the steps and user findings stored before the restart are judged")
	stop()

	s, stop, _ = start(consumertest.NewNop())
	defer stop()
	resp := s.post(t, "/api/traces/run_v/analyze", testConsole, "")
	require.Equal(t, http.StatusOK, resp.status)
	var ids []string
	for _, f := range resp.json(t)["analysis"].(map[string]any)["findings"].([]any) {
		ids = append(ids, f.(map[string]any)["rule_id"].(string))
	}
	assert.ElementsMatch(t, []string{"missing_goal_check", "gpt5_used"}, ids, "analyze answers the verdict that was exported")
}

// TestStateBounds: one run reaching max_bytes_per_trace has its further
// events rejected with a reason; all runs reaching max_bytes get 503 with
// Retry-After, and analyze still answers.
func TestStateBounds(t *testing.T) {
	cfg := testReceiverConfig(t)
	cfg.Sessions.MaxBytesPerRun = 1000
	cfg.Sessions.MaxBytes = 1500
	s := startReceiver(t, cfg, nil)
	resp := s.post(t, "/api/traces/run_a/events", testKey, eventsBody("run_a", 0, 1, 2, 3, 4, 5, 6, 7))
	require.Equal(t, http.StatusOK, resp.status)
	rejected := resp.json(t)["rejected"].([]any)
	require.NotEmpty(t, rejected)
	assert.Equal(t, "trace has reached its state limit of 1000 bytes", rejected[0].(map[string]any)["reason"])
	assert.Equal(t, 8.0, resp.json(t)["accepted"].(float64)+float64(len(rejected)), "every event accounted for")

	require.Equal(t, http.StatusOK, s.post(t, "/api/traces/run_b/events", testKey, eventsBody("run_b", 0, 1, 2, 3)).status)
	resp = s.post(t, "/api/traces/run_c/events", testKey, eventsBody("run_c", 0))
	assert.Equal(t, http.StatusServiceUnavailable, resp.status)
	assert.NotEmpty(t, resp.header.Get("Retry-After"))
	assert.Equal(t, http.StatusOK, s.post(t, "/api/traces/run_a/analyze", testConsole, "").status)
}
