// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/testutil"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/artifactstore"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/metadata"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/metadatatest"
)

func (s *testServer) upload(t *testing.T, token, run string, body []byte, headers ...string) response {
	return s.do(t, http.MethodPost, "/api/traces/"+run+"/artifacts", token, bytes.NewReader(body), headers...)
}

func TestArtifactUploadAndDownload(t *testing.T) {
	s := startReceiver(t, testReceiverConfig(t), nil)
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 4096)...)
	r := s.upload(t, testKey, "t1", png, "Content-Type", "image/png",
		"X-Promptetheus-Filename", "../nested/step one.png", "X-Promptetheus-Artifact-Type", "screenshot")
	require.Equal(t, 201, r.status, string(r.body))
	a := r.json(t)["artifact"].(map[string]any)
	sum := sha256.Sum256(png)
	assert.Equal(t, "step_one.png", a["filename"], "path and spaces never survive")
	assert.Equal(t, hex.EncodeToString(sum[:]), a["sha256"])
	assert.EqualValues(t, len(png), a["size_bytes"])
	assert.Equal(t, "screenshot", a["artifact_type"])
	assert.Equal(t, "artifacts/ws_dev/t1/"+a["artifact_id"].(string)+"/step_one.png", a["storage_path"])

	got := s.do(t, http.MethodGet, a["uri"].(string), testKey, nil)
	require.Equal(t, 200, got.status)
	assert.Equal(t, png, got.body)
	assert.Equal(t, "image/png", got.header.Get("Content-Type"))
	assert.Equal(t, "nosniff", got.header.Get("X-Content-Type-Options"))

	assert.Equal(t, 403, s.do(t, http.MethodGet, a["uri"].(string), otherKey, nil).status, "another project's key")
	assert.Equal(t, 404, s.do(t, http.MethodGet, "/api/traces/t1/artifacts/nope", testKey, nil).status)
	assert.Equal(t, 404, s.do(t, http.MethodGet, "/api/traces/t1/artifacts/..%2F..%2Fetc", testKey, nil).status)

	var span bool
	for _, sp := range testutil.SpansOf(s.sink) {
		if sp.Name() == "artifact screenshot" {
			v, _ := sp.Attributes().Get(conventions.AttrArtifactSHA256)
			span = v.Str() == a["sha256"]
		}
	}
	assert.True(t, span, "the upload has an artifact span")
}

func TestArtifactClientIDIsIdempotent(t *testing.T) {
	s := startReceiver(t, testReceiverConfig(t), nil)
	for range 2 {
		r := s.upload(t, testKey, "t1", []byte("webm bytes"), "Content-Type", "video/webm", "X-Promptetheus-Artifact-Id", "rec_1")
		require.Equal(t, 201, r.status, string(r.body))
		assert.Equal(t, "rec_1", r.json(t)["artifact"].(map[string]any)["artifact_id"])
	}
	assert.Len(t, testutil.SpansOf(s.sink), 1, "a retried upload is not a second artifact")
	r := s.upload(t, testKey, "t1", []byte("x"), "Content-Type", "video/webm", "X-Promptetheus-Artifact-Id", "../../etc/passwd")
	assert.Equal(t, 400, r.status)
}

func TestArtifactRefusals(t *testing.T) {
	cfg := testReceiverConfig(t)
	cfg.Artifacts.MaxSize = 1024
	cfg.Artifacts.MaxSizePerTrace = 1500
	s := startReceiver(t, cfg, nil)
	cases := []struct {
		name    string
		body    string
		headers []string
		status  int
		detail  string
	}{
		{"other media type", "hello", []string{"Content-Type", "text/plain"}, 415, "unsupported artifact content-type: 'text/plain'"},
		{"raw too large", strings.Repeat("x", 2048), []string{"Content-Type", "image/png"}, 413, "artifact exceeds maximum size"},
		{"declared too large", `{"content_type":"image/png","size_bytes":4096}`, nil, 413, "artifact exceeds maximum size"},
		{"declared negative", `{"content_type":"image/png","size_bytes":-1}`, nil, 413, "artifact size_bytes must be a non-negative integer"},
		{"declared not a number", `{"content_type":"image/png","size_bytes":"big"}`, nil, 413, "artifact size_bytes must be a non-negative integer"},
		{"declared other type", `{"content_type":"application/pdf","size_bytes":1}`, nil, 415, "unsupported artifact content-type: 'application/pdf'"},
		{"bad json", `{"content_type":`, nil, 400, "malformed JSON body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.upload(t, testKey, "t1", []byte(c.body), c.headers...)
			assert.Equal(t, c.status, r.status, string(r.body))
			assert.Equal(t, c.detail, r.json(t)["detail"])
		})
	}
	require.Equal(t, 201, s.upload(t, testKey, "t2", bytes.Repeat([]byte{1}, 1000), "Content-Type", "image/png").status)
	r := s.upload(t, testKey, "t2", bytes.Repeat([]byte{2}, 1000), "Content-Type", "image/png")
	assert.Equal(t, 413, r.status, "over the per-trace budget")
	assert.Equal(t, "artifacts of this trace exceed their size limit", r.json(t)["detail"])
}

func TestMetadataOnlyArtifact(t *testing.T) {
	s := startReceiver(t, testReceiverConfig(t), nil)
	r := s.post(t, "/api/traces/t1/artifacts", testKey, `{"content_type":"image/png","size_bytes":1024,"filename":"step-3.png","artifact_type":"screenshot"}`)
	require.Equal(t, 201, r.status, string(r.body))
	a := r.json(t)["artifact"].(map[string]any)
	assert.Equal(t, true, a["metadata_only"])
	assert.EqualValues(t, 1024, a["size_bytes"])
	got := s.do(t, http.MethodGet, a["uri"].(string), testKey, nil)
	assert.Equal(t, 404, got.status, "no bytes were uploaded")
}

func TestSanitizeFilename(t *testing.T) {
	for in, want := range map[string]string{
		"../nested/step one.png": "step_one.png",
		`C:\Users\x\shot.png`:    "shot.png",
		"..":                     "artifact.bin",
		"":                       "artifact.bin",
		"a\x00b\nc.png":          "a_b_c.png",
		"écran.png":              "écran.png",
		"x/..":                   "artifact.bin",
	} {
		assert.Equal(t, want, artifactstore.SanitizeFilename(in), in)
	}
	assert.Len(t, artifactstore.SanitizeFilename(strings.Repeat("a", 500)), 200)
}

func startMeasuredReceiver(t *testing.T, cfg *Config, tel *componenttest.Telemetry, c *testutil.Clock) (*testServer, func()) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.TracesSink)
	r, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(tel), cfg, sink)
	require.NoError(t, err)
	r.(*promptetheusReceiver).now = c.Now
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	var once sync.Once
	stop := func() { once.Do(func() { require.NoError(t, r.Shutdown(context.Background())) }) }
	t.Cleanup(stop)
	return &testServer{url: "http://" + cfg.ServerConfig.NetAddr.Endpoint, sink: sink, rcv: r.(*promptetheusReceiver)}, stop
}

// storedBytes sums the files of an artifact directory.
func storedBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	require.NoError(t, filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			total += info.Size()
		}
		return err
	}))
	return total
}

// TestArtifactStoreFull: past max_total_size an upload is answered 503 with
// Retry-After, which the SDK retries, until retention frees space; the
// budget holds across a restart.
func TestArtifactStoreFull(t *testing.T) {
	cfg := testReceiverConfig(t)
	cfg.Artifacts.MaxSize = 12 << 10
	cfg.Artifacts.MaxSizePerTrace = 12 << 10
	cfg.Artifacts.MaxTotalSize = 24 << 10
	cfg.Artifacts.Retention = 24 * time.Hour
	clock := testutil.NewClock(time.Now().UTC())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	s, stop := startMeasuredReceiver(t, cfg, tel, clock)

	png := func(fill byte) []byte { return bytes.Repeat([]byte{fill}, 10<<10) }
	first := s.upload(t, testKey, "t1", png(1), "Content-Type", "image/png")
	require.Equal(t, 201, first.status)
	firstURI := first.json(t)["artifact"].(map[string]any)["uri"].(string)
	r := s.upload(t, testKey, "t2", png(2), "Content-Type", "image/png")
	require.Equal(t, http.StatusServiceUnavailable, r.status, string(r.body))
	assert.Equal(t, "5", r.header.Get("Retry-After"))
	assert.JSONEq(t, `{"detail": "artifact storage is full; retry later"}`, string(r.body))
	r = s.upload(t, testKey, "t3", bytes.Repeat([]byte{3}, 13<<10), "Content-Type", "image/png")
	require.Equal(t, http.StatusRequestEntityTooLarge, r.status, "one artifact over max_size is still 413")

	used := storedBytes(t, cfg.Artifacts.Directory)
	assert.LessOrEqual(t, used, cfg.Artifacts.MaxTotalSize)
	metadatatest.AssertEqualReceiverPromptetheusArtifactsSize(t, tel,
		[]metricdata.DataPoint[int64]{{Value: used}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualReceiverPromptetheusArtifactsRefused(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("limit", "max_size"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("limit", "max_total_size"))},
	}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())

	// Usage is counted again at start-up: still full after a restart.
	stop()
	s, _ = startMeasuredReceiver(t, cfg, tel, clock)
	assert.Equal(t, http.StatusServiceUnavailable, s.upload(t, testKey, "t2", png(2), "Content-Type", "image/png").status)

	clock.Advance(25 * time.Hour)
	n, err := s.rcv.artifacts.Sweep(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	metadatatest.AssertEqualReceiverPromptetheusArtifactsExpired(t, tel,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	assert.Equal(t, 201, s.upload(t, testKey, "t2", png(2), "Content-Type", "image/png").status, "retention freed the space")
	assert.Equal(t, 404, s.do(t, http.MethodGet, firstURI, testKey, nil).status, "the expired artifact is gone")
}

func TestReceiverStartDeletesTemporaryFilesOfACrash(t *testing.T) {
	cfg := testReceiverConfig(t)
	tmp := filepath.Join(cfg.Artifacts.Directory, "tmp")
	require.NoError(t, os.MkdirAll(tmp, 0o750))
	left := filepath.Join(tmp, "blob-4242")
	require.NoError(t, os.WriteFile(left, bytes.Repeat([]byte{1}, 1<<20), 0o600))
	startReceiver(t, cfg, nil)
	assert.NoFileExists(t, left)
}

func TestTwoReceiversCannotShareAnArtifactDirectory(t *testing.T) {
	cfg := testReceiverConfig(t)
	startReceiver(t, cfg, nil)
	second := testReceiverConfig(t)
	second.Artifacts.Directory = cfg.Artifacts.Directory
	r, err := NewFactory().CreateTraces(context.Background(), receivertest.NewNopSettings(metadata.Type), second, consumertest.NewNop())
	require.NoError(t, err)
	err = r.Start(context.Background(), componenttest.NewNopHost())
	assert.ErrorContains(t, err, "in use by another artifact store")
	require.NoError(t, r.Shutdown(context.Background()))
}
