// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package artifactstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptetheus/otelcol-promptetheus/internal/testutil"
)

func testConfig(t testing.TB) (Config, *testutil.Clock) {
	c := testutil.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	return Config{Directory: t.TempDir(), MaxTotalSize: 1 << 20, Retention: time.Hour, Now: c.Now}, c
}

func openStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

// put stores one artifact of run "run-1" as the receiver does.
func put(t *testing.T, s *Store, id string, content []byte) *Meta {
	t.Helper()
	u, err := s.Begin(context.Background(), bytes.NewReader(content), int64(len(content)), 1<<20)
	require.NoError(t, err)
	defer u.Abort()
	m := &Meta{ID: id, Project: "proj", TraceID: "run-1", ContentType: "image/png",
		SHA256: u.SHA256(), SizeBytes: u.Size(), CreatedAt: s.cfg.Now()}
	require.NoError(t, u.Commit(context.Background(), m))
	return m
}

// diskUsage sums the files the store keeps, and counts them by directory.
func diskUsage(t *testing.T, dir string) (total int64, files map[string]int) {
	t.Helper()
	files = map[string]int{}
	for _, sub := range []string{"blobs", "meta", "tmp"} {
		err := filepath.WalkDir(filepath.Join(dir, sub), func(_ string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			info, err := d.Info()
			require.NoError(t, err)
			total += info.Size()
			files[sub]++
			return nil
		})
		if !errors.Is(err, fs.ErrNotExist) {
			require.NoError(t, err)
		}
	}
	return total, files
}

func TestStoreRoundTrip(t *testing.T) {
	cfg, _ := testConfig(t)
	s := openStore(t, cfg)
	content := []byte("\x89PNG\r\n\x1a\nscreenshot")
	m := put(t, s, "shot_1", content)
	sum := sha256.Sum256(content)
	assert.Equal(t, hex.EncodeToString(sum[:]), m.SHA256)

	got, err := s.GetMeta(context.Background(), "proj", "run-1", "shot_1")
	require.NoError(t, err)
	assert.Equal(t, m.SHA256, got.SHA256)
	assert.True(t, got.CreatedAt.Equal(m.CreatedAt))
	blob, err := s.OpenBlob(context.Background(), m.SHA256)
	require.NoError(t, err)
	b, err := io.ReadAll(blob)
	require.NoError(t, blob.Close())
	require.NoError(t, err)
	assert.Equal(t, content, b)

	_, err = s.GetMeta(context.Background(), "proj", "run-1", "nope")
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = s.OpenBlob(context.Background(), "../../etc/passwd")
	assert.ErrorIs(t, err, ErrNotFound)

	onDisk, files := diskUsage(t, cfg.Directory)
	assert.Equal(t, onDisk, s.Usage(), "usage is the bytes on disk, nothing reserved once committed")
	assert.Equal(t, map[string]int{"blobs": 1, "meta": 1}, files)
}

func TestSameContentIsStoredOnce(t *testing.T) {
	cfg, _ := testConfig(t)
	s := openStore(t, cfg)
	a := put(t, s, "a", []byte("same bytes"))
	b := put(t, s, "b", []byte("same bytes"))
	assert.Equal(t, a.SHA256, b.SHA256)
	onDisk, files := diskUsage(t, cfg.Directory)
	assert.Equal(t, map[string]int{"blobs": 1, "meta": 2}, files)
	assert.Equal(t, onDisk, s.Usage())
}

func TestUsageSurvivesRestart(t *testing.T) {
	cfg, _ := testConfig(t)
	s, err := Open(cfg)
	require.NoError(t, err)
	put(t, s, "a", bytes.Repeat([]byte{1}, 5000))
	put(t, s, "b", bytes.Repeat([]byte{2}, 7000))
	before := s.Usage()
	require.NoError(t, s.Close())

	s = openStore(t, cfg)
	assert.Equal(t, before, s.Usage())
	onDisk, _ := diskUsage(t, cfg.Directory)
	assert.Equal(t, onDisk, s.Usage())
	assert.Greater(t, s.Usage(), int64(12000))
}

func TestOpenDeletesTemporaryFilesOfACrash(t *testing.T) {
	cfg, _ := testConfig(t)
	// What a SIGKILL during an upload leaves: a blob half written.
	tmp := filepath.Join(cfg.Directory, "tmp")
	require.NoError(t, os.MkdirAll(tmp, 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "blob-123456"), bytes.Repeat([]byte{9}, 4096), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "meta-654321"), []byte(`{"artifact_id":`), 0o600))

	s := openStore(t, cfg)
	entries, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, entries)
	assert.Zero(t, s.Usage())
	put(t, s, "after", []byte("still works"))
}

func TestDirectoryIsLocked(t *testing.T) {
	cfg, _ := testConfig(t)
	s, err := Open(cfg)
	require.NoError(t, err)
	_, err = Open(cfg)
	require.ErrorContains(t, err, "in use by another artifact store")
	require.NoError(t, s.Close())
	s, err = Open(cfg)
	require.NoError(t, err, "closing released the directory")
	require.NoError(t, s.Close())
}

func TestTooLargeLeavesNothing(t *testing.T) {
	cfg, _ := testConfig(t)
	s := openStore(t, cfg)
	_, err := s.Begin(context.Background(), bytes.NewReader(make([]byte, 101)), -1, 100)
	require.ErrorIs(t, err, ErrTooLarge)
	_, err = s.Begin(context.Background(), bytes.NewReader(make([]byte, 101)), 101, 100)
	require.ErrorIs(t, err, ErrTooLarge)
	onDisk, _ := diskUsage(t, cfg.Directory)
	assert.Zero(t, onDisk)
	assert.Zero(t, s.Usage())
}

// chunkReader reads at most 1 KiB at a time, as a slow client's body does.
type chunkReader struct{ r io.Reader }

func (c chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), 1<<10)]) }

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestFullStoreRefusesUploads(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.MaxTotalSize = 64 << 10
	s := openStore(t, cfg)
	put(t, s, "first", bytes.Repeat([]byte{1}, 40<<10))
	used := s.Usage()

	announced := &countingReader{r: bytes.NewReader(bytes.Repeat([]byte{2}, 40<<10))}
	_, err := s.Begin(context.Background(), announced, 40<<10, 1<<20)
	require.ErrorIs(t, err, ErrFull)
	assert.Zero(t, announced.n.Load(), "an announced length that cannot fit is refused before reading")

	unannounced := &countingReader{r: chunkReader{bytes.NewReader(bytes.Repeat([]byte{3}, 40<<10))}}
	_, err = s.Begin(context.Background(), unannounced, -1, 1<<20)
	require.ErrorIs(t, err, ErrFull)
	free := cfg.MaxTotalSize - used - recordAllowance
	assert.Equal(t, (free/1024+1)*1024, unannounced.n.Load(), "refused at the first 1 KiB read that no longer fits")

	assert.Equal(t, used, s.Usage(), "refusals hold nothing")
	onDisk, files := diskUsage(t, cfg.Directory)
	assert.Equal(t, used, onDisk)
	assert.Equal(t, map[string]int{"blobs": 1, "meta": 1}, files, "no temporary file left")

	put(t, s, "small", bytes.Repeat([]byte{4}, 10<<10))
	assert.LessOrEqual(t, s.Usage(), cfg.MaxTotalSize)
}

func TestAbortDeletesContentNoRecordNames(t *testing.T) {
	cfg, _ := testConfig(t)
	s := openStore(t, cfg)
	u, err := s.Begin(context.Background(), bytes.NewReader([]byte("refused by the trace quota")), -1, 1<<20)
	require.NoError(t, err)
	u.Abort()
	u.Abort() // idempotent
	onDisk, files := diskUsage(t, cfg.Directory)
	assert.Zero(t, onDisk, "%v", files)
	assert.Zero(t, s.Usage())

	kept := put(t, s, "kept", []byte("shared"))
	u, err = s.Begin(context.Background(), bytes.NewReader([]byte("shared")), -1, 1<<20)
	require.NoError(t, err)
	u.Abort()
	_, err = s.OpenBlob(context.Background(), kept.SHA256)
	assert.NoError(t, err, "an aborted upload of stored content leaves it to the record naming it")
}

func TestMetadataOnlyRecordCountsItsBytes(t *testing.T) {
	cfg, _ := testConfig(t)
	s := openStore(t, cfg)
	u, err := s.Begin(context.Background(), nil, -1, 0)
	require.NoError(t, err)
	require.NoError(t, u.Commit(context.Background(), &Meta{ID: "declared", Project: "proj", TraceID: "run-1", SizeBytes: 1 << 30, MetadataOnly: true}))
	require.Error(t, u.Commit(context.Background(), &Meta{ID: "again", Project: "proj", TraceID: "run-1"}))
	onDisk, files := diskUsage(t, cfg.Directory)
	assert.Equal(t, map[string]int{"meta": 1}, files)
	assert.Equal(t, onDisk, s.Usage(), "the declared size is not stored, the record is")
}

// TestConcurrentUploadsNeverExceedTheBudget: uploads of unknown and of
// announced length race for a budget that holds a fraction of them.
func TestConcurrentUploadsNeverExceedTheBudget(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.MaxTotalSize = 200 << 10
	s := openStore(t, cfg)

	stop := make(chan struct{})
	var peak atomic.Int64
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				if u := s.Usage(); u > peak.Load() {
					peak.Store(u)
				}
			}
		}
	})

	const uploads, size = 48, 16 << 10
	var ok, full atomic.Int64
	var wg sync.WaitGroup
	for i := range uploads {
		wg.Go(func() {
			content := bytes.Repeat([]byte{byte(i)}, size)
			expected := int64(-1)
			if i%2 == 0 {
				expected = size
			}
			// 1 KiB reads, so unannounced uploads reserve as they go.
			u, err := s.Begin(context.Background(), chunkReader{bytes.NewReader(content)}, expected, 1<<20)
			if errors.Is(err, ErrFull) {
				full.Add(1)
				return
			}
			if !assert.NoError(t, err) {
				return
			}
			defer u.Abort()
			err = u.Commit(context.Background(), &Meta{ID: fmt.Sprintf("a%d", i), Project: "proj", TraceID: "run-1", SHA256: u.SHA256(), SizeBytes: u.Size()})
			if errors.Is(err, ErrFull) {
				full.Add(1)
				return
			}
			if assert.NoError(t, err) {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	close(stop)
	sampler.Wait()

	assert.Equal(t, int64(uploads), ok.Load()+full.Load())
	assert.Positive(t, ok.Load())
	assert.Positive(t, full.Load())
	assert.LessOrEqual(t, peak.Load(), cfg.MaxTotalSize, "reservations never exceed the budget")
	onDisk, files := diskUsage(t, cfg.Directory)
	assert.LessOrEqual(t, onDisk, cfg.MaxTotalSize)
	assert.Equal(t, onDisk, s.Usage())
	assert.Equal(t, int(ok.Load()), files["blobs"])
	assert.Equal(t, int(ok.Load()), files["meta"])
	assert.Zero(t, files["tmp"])
}
