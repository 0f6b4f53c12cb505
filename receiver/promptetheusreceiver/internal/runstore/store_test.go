// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package runstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/promptetheus/otelcol-promptetheus/extension/agentrulesextension"
	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"
)

// openFileStorage opens a real file_storage client on dir.
func openFileStorage(t *testing.T, dir string) storage.Client {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	client, err := ext.(storage.Extension).GetClient(context.Background(), component.KindReceiver, component.MustNewID("promptetheus"), "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ext.Shutdown(context.Background()) })
	return client
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func sessionConfig(t *testing.T) *session.Config {
	judge, err := agentrulesextension.Lookup(componenttest.NewNopHost(), nil, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	return &session.Config{MaxRuns: 10, MaxEventsPerRun: 1000, MaxBytesPerRun: 1 << 20, MaxBytes: 1 << 30, Judge: judge,
		Mapping: mapping.Config{CaptureContent: true, MaxAttributeLength: 2048, MaxArrayLength: 128}}
}

func batchOf(t *testing.T, cfg *session.Config, r *session.Run, from, n int) *session.Batch {
	var in []session.Incoming
	for seq := from; seq < from+n; seq++ {
		raw := json.RawMessage(fmt.Sprintf(`{"type":"tool_call","session_id":"r1","timestamp":"2026-03-01T10:00:00Z","seq":%d,"idempotency_key":"k%d","payload":{"tool_name":"t","call_id":"c%d"}}`, seq, seq, seq/2))
		if seq%2 == 1 {
			raw = json.RawMessage(fmt.Sprintf(`{"type":"tool_result","session_id":"r1","timestamp":"2026-03-01T10:00:01Z","seq":%d,"idempotency_key":"k%d","payload":{"call_id":"c%d","result":"ok"}}`, seq, seq, seq/2))
		}
		ev, err := wire.DecodeEvent(raw, "r1")
		require.NoError(t, err)
		in = append(in, session.Incoming{Event: &ev, Raw: raw})
	}
	return r.PlanAppend(context.Background(), cfg, in, t0)
}

func TestWriteLoadRollbackDelete(t *testing.T) {
	dir := t.TempDir()
	client := openFileStorage(t, dir)
	s := New(client)
	cfg := sessionConfig(t)
	key := session.Key{Project: "proj_a", ID: "r1"}
	g := session.NewRegistry(cfg)
	r, created, err := g.Acquire(key, true, mapping.Run{Project: "proj_a", ID: "r1", Implicit: true}, t0)
	require.NoError(t, err)
	require.True(t, created)

	// Three batches stored; the pipeline took the first two.
	var spans int
	for i := range 3 {
		b := batchOf(t, cfg, r, 4*i, 3) // the third event of each waits for its result
		require.NoError(t, s.Write(context.Background(), key, b))
		r.Written(b)
		r.Commit(cfg, b)
		if i < 2 {
			r.MarkSent(b.N)
		}
		spans += b.SpanCount()
	}
	// A fourth is refused by the pipeline and rolled back.
	refused := batchOf(t, cfg, r, 12, 2)
	require.NoError(t, s.Write(context.Background(), key, refused))
	require.NoError(t, s.Rollback(context.Background(), key, refused, r.StoredHeader()))
	g.Release(r)

	// A restart: a new store over the same data.
	require.NoError(t, client.Close(context.Background()))
	s = New(openFileStorage(t, dir))
	runs, err := s.Load(context.Background(), func(k session.Key, err error) { t.Errorf("%v: %v", k, err) })
	require.NoError(t, err)
	require.Len(t, runs, 1)
	back := runs[0]
	assert.Equal(t, int64(3), back.Batches(), "the refused batch is gone")
	assert.Equal(t, []int64{2}, back.Unsent(), "the batch the pipeline did not take waits for redelivery")
	tds, err := s.ReadSpans(context.Background(), key, 0, back.Batches())
	require.NoError(t, err)
	var read int
	for _, td := range tds {
		read += td.SpanCount()
	}
	assert.Equal(t, spans, read, "every stored span reads back")

	require.NoError(t, s.WriteSent(context.Background(), map[session.Key]int64{key: 2}))
	runs, err = s.Load(context.Background(), nil)
	require.NoError(t, err)
	assert.Empty(t, runs[0].Unsent(), "a stored sent mark: nothing to re-emit")

	require.NoError(t, s.Delete(context.Background(), key, back.Batches()))
	runs, err = s.Load(context.Background(), nil)
	require.NoError(t, err)
	assert.Empty(t, runs)
	var left []string
	require.NoError(t, s.client.(storage.Walker).Walk(context.Background(), func(k string, _ []byte) ([]*storage.Operation, error) {
		left = append(left, k)
		return nil, nil
	}))
	assert.Empty(t, left, "nothing of the run is left")
}

func TestMemoryStoreKeepsNothing(t *testing.T) {
	s := New(nil)
	assert.False(t, s.Persistent())
	runs, err := s.Load(context.Background(), nil)
	require.NoError(t, err)
	assert.Empty(t, runs)
}

// newRun is a new implicit run r1 of project p.
func newRun(t testing.TB, cfg *session.Config) *session.Run {
	r, _, err := session.NewRegistry(cfg).Acquire(session.Key{Project: "p", ID: "r1"}, true, mapping.Run{Project: "p", ID: "r1", Implicit: true}, t0)
	require.NoError(t, err)
	return r
}

// FuzzDecodeBatch: any stored value decodes to a record or an error, never
// a panic (a damaged store must not stop the collector).
func FuzzDecodeBatch(f *testing.F) {
	cfg := sessionConfig(&testing.T{})
	r := newRun(f, cfg)
	b := batchOf(&testing.T{}, cfg, r, 0, 3)
	value, err := encodeBatch(b, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(value)
	f.Add([]byte{})
	f.Add([]byte("not s2"))
	f.Fuzz(func(t *testing.T, value []byte) {
		rec, spans, err := decodeBatch(value)
		if err != nil {
			return
		}
		_ = session.Restore(session.Key{Project: "p", ID: "r"}, session.Header{}, []session.Record{rec}, -1)
		_, _ = (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(spans)
	})
}

func TestBatchRoundTrip(t *testing.T) {
	cfg := sessionConfig(t)
	r := newRun(t, cfg)
	b := batchOf(t, cfg, r, 0, 3)
	value, err := encodeBatch(b, nil)
	require.NoError(t, err)
	rec, spans, err := decodeBatch(value)
	require.NoError(t, err)
	assert.Equal(t, b.Record, rec)
	want, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(b.Spans())
	require.NoError(t, err)
	assert.Equal(t, want, spans)
}

func TestSummaryRoundTrip(t *testing.T) {
	passed := false
	for name, s := range map[string]mapping.Summary{
		"new run":        mapping.NewSummary(),
		"seq 0, no goal": {Start: t0, End: t0.Add(time.Second), LastSeq: 0, Events: 1, GoalSeq: -1},
		"every field": {
			Start: t0, End: t0.Add(90 * time.Minute), LastSeq: 1 << 40, Events: 7, LLMCalls: 3, ToolCalls: 2,
			Errors: 1, InputTokens: 12000, OutputTokens: 3400, CostUSD: 0.0425, PricedLLMCalls: 2,
			UnpricedLLMCalls: 1, Goal: &wire.GoalCheck{Passed: &passed, Mismatches: []string{"time: 2:00 AM"}},
			GoalSeq: 6, SessionStatus: "error", SessionError: strings.Repeat("e", 300),
		},
	} {
		t.Run(name, func(t *testing.T) {
			buf, err := appendSummary(nil, &s)
			require.NoError(t, err)
			num, typ, n := protowire.ConsumeTag(buf)
			require.Equal(t, fieldSummary, num)
			require.Equal(t, protowire.BytesType, typ)
			msg, m := protowire.ConsumeBytes(buf[n:])
			require.Equal(t, len(buf), n+m, "one field, its length right")
			got, err := decodeSummary(msg)
			require.NoError(t, err)
			assert.Equal(t, s, got)
		})
	}
}

// A batch stored by a version that wrote the totals as JSON (field 9) is
// read with the same totals.
func TestDecodeBatchWithJSONTotals(t *testing.T) {
	want := mapping.Summary{Start: t0, End: t0.Add(time.Minute), LastSeq: 4, Events: 5, LLMCalls: 2, InputTokens: 10, GoalSeq: -1}
	totals, err := json.Marshal(&want)
	require.NoError(t, err)
	var buf []byte
	buf = protowire.AppendTag(buf, fieldSent, protowire.VarintType)
	buf = protowire.AppendVarint(buf, protowire.EncodeZigZag(-1))
	buf = protowire.AppendTag(buf, fieldSummaryJSON, protowire.BytesType)
	buf = protowire.AppendBytes(buf, totals)
	rec, spans, err := decodeBatch(s2.Encode(nil, buf))
	require.NoError(t, err)
	assert.Nil(t, spans)
	assert.Equal(t, int64(-1), rec.Sent)
	assert.Equal(t, want, rec.Summary)
}

// The buffer a value is encoded in is reused for the next batch, which
// decodes as itself.
func TestEncodeBatchReusesBuffer(t *testing.T) {
	cfg := sessionConfig(t)
	r := newRun(t, cfg)
	first := batchOf(t, cfg, r, 0, 4)
	r.Written(first)
	r.Commit(cfg, first)
	second := batchOf(t, cfg, r, 4, 4)
	v1, err := encodeBatch(first, nil)
	require.NoError(t, err)
	want1 := bytes.Clone(v1)
	v2, err := encodeBatch(second, v1)
	require.NoError(t, err)
	assert.Same(t, &v1[0], &v2[0], "encoded in the buffer it was given")
	rec, _, err := decodeBatch(v2)
	require.NoError(t, err)
	assert.Equal(t, second.Record, rec)
	rec, _, err = decodeBatch(want1)
	require.NoError(t, err)
	assert.Equal(t, first.Record, rec)
}
