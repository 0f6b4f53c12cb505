// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package artifactstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSweepDeletesExpiredArtifacts(t *testing.T) {
	cfg, c := testConfig(t)
	var expired atomic.Int64
	cfg.OnExpired = func(n int) { expired.Add(int64(n)) }
	s := openStore(t, cfg)
	old := put(t, s, "old", []byte("uploaded first"))
	declared, err := s.Begin(context.Background(), nil, -1, 0)
	require.NoError(t, err)
	require.NoError(t, declared.Commit(context.Background(), &Meta{ID: "declared", Project: "other", TraceID: "run-2", MetadataOnly: true, CreatedAt: c.Now()}))
	c.Advance(40 * time.Minute)
	young := put(t, s, "young", []byte("uploaded later"))

	n, err := s.Sweep(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n, "nothing is older than the retention yet")

	c.Advance(30 * time.Minute)
	n, err = s.Sweep(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.EqualValues(t, 2, expired.Load())
	_, err = s.GetMeta(context.Background(), "proj", "run-1", "old")
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = s.OpenBlob(context.Background(), old.SHA256)
	assert.ErrorIs(t, err, ErrNotFound, "no record names the bytes any more")
	_, err = s.OpenBlob(context.Background(), young.SHA256)
	assert.NoError(t, err)
	_, err = os.Stat(filepath.Join(cfg.Directory, "meta", "other"))
	assert.ErrorIs(t, err, os.ErrNotExist, "empty directories go too")

	onDisk, files := diskUsage(t, cfg.Directory)
	assert.Equal(t, map[string]int{"blobs": 1, "meta": 1}, files)
	assert.Equal(t, onDisk, s.Usage())
}

func TestSweepKeepsContentAnotherRecordNames(t *testing.T) {
	cfg, c := testConfig(t)
	s := openStore(t, cfg)
	first := put(t, s, "first", []byte("same screenshot"))
	c.Advance(45 * time.Minute)
	put(t, s, "second", []byte("same screenshot"))

	c.Advance(30 * time.Minute)
	n, err := s.Sweep(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = s.OpenBlob(context.Background(), first.SHA256)
	require.NoError(t, err, "the second record still names the bytes")

	c.Advance(time.Hour)
	n, err = s.Sweep(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = s.OpenBlob(context.Background(), first.SHA256)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Zero(t, s.Usage())
}

func TestSweepDeletesOrphansButNotUploadsInProgress(t *testing.T) {
	cfg, _ := testConfig(t)
	// A crash between storing bytes and their record leaves bytes no record names.
	orphan := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	require.NoError(t, os.MkdirAll(filepath.Join(cfg.Directory, "blobs", "9f"), 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(cfg.Directory, "blobs", "9f", orphan), []byte("test"), 0o600))
	s := openStore(t, cfg)
	assert.EqualValues(t, 4, s.Usage(), "counted at start-up")

	u, err := s.Begin(context.Background(), bytes.NewReader([]byte("being recorded")), -1, 1<<20)
	require.NoError(t, err)
	_, err = s.Sweep(context.Background())
	require.NoError(t, err)
	_, err = s.OpenBlob(context.Background(), orphan)
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = s.OpenBlob(context.Background(), u.SHA256())
	require.NoError(t, err, "an upload not yet recorded keeps its bytes")

	require.NoError(t, u.Commit(context.Background(), &Meta{ID: "a", Project: "proj", TraceID: "run-1", SHA256: u.SHA256(), CreatedAt: cfg.Now()}))
	_, err = s.Sweep(context.Background())
	require.NoError(t, err)
	_, err = s.OpenBlob(context.Background(), u.SHA256())
	require.NoError(t, err)
	onDisk, _ := diskUsage(t, cfg.Directory)
	assert.Equal(t, onDisk, s.Usage())
}

func TestSweepKeepsUnreadableRecords(t *testing.T) {
	cfg, c := testConfig(t)
	s := openStore(t, cfg)
	m := put(t, s, "a", []byte("bytes"))
	path := s.metaPath(m.Project, m.TraceID, m.ID)
	require.NoError(t, os.WriteFile(path, []byte("{not json"), 0o600))
	c.Advance(2 * time.Hour)
	n, err := s.Sweep(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.FileExists(t, path, "kept for an operator to look at")
}

func TestSweepLoopRunsUntilClose(t *testing.T) {
	cfg, c := testConfig(t)
	s, err := Open(cfg)
	require.NoError(t, err)
	s.sweepInterval = 5 * time.Millisecond
	put(t, s, "a", []byte("first"))
	s.Start()
	c.Advance(2 * time.Hour)
	assert.Eventually(t, func() bool {
		_, err := s.GetMeta(context.Background(), "proj", "run-1", "a")
		return err == ErrNotFound
	}, 5*time.Second, 5*time.Millisecond)

	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "closing twice is harmless")
	put(t, s, "b", []byte("second"))
	c.Advance(2 * time.Hour)
	time.Sleep(10 * s.sweepInterval)
	_, err = s.GetMeta(context.Background(), "proj", "run-1", "b")
	assert.NoError(t, err, "no sweep after Close")
}

func TestSweepIntervalFollowsRetention(t *testing.T) {
	for retention, want := range map[time.Duration]time.Duration{
		time.Minute:        10 * time.Second,
		time.Hour:          6 * time.Minute,
		7 * 24 * time.Hour: time.Hour,
	} {
		cfg, _ := testConfig(t)
		cfg.Retention = retention
		s := openStore(t, cfg)
		assert.Equal(t, want, s.sweepInterval, retention)
	}
}

// TestSweepRacingUploadsOfTheSameContent: uploads that reuse content whose
// last record a concurrent sweep is deleting never end with a record whose
// bytes are gone.
func TestSweepRacingUploadsOfTheSameContent(t *testing.T) {
	cfg, c := testConfig(t)
	s := openStore(t, cfg)
	done := make(chan struct{})
	var sweeps sync.WaitGroup
	sweeps.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				c.Advance(20 * time.Minute)
				_, err := s.Sweep(context.Background())
				assert.NoError(t, err)
			}
		}
	})
	var uploads sync.WaitGroup
	for w := range 4 {
		uploads.Go(func() {
			for i := range 100 {
				put(t, s, fmt.Sprintf("w%d-%d", w, i), []byte{byte(i % 3)})
			}
		})
	}
	uploads.Wait()
	close(done)
	sweeps.Wait()

	err := filepath.WalkDir(filepath.Join(cfg.Directory, "meta"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		m, err := readMeta(path)
		require.NoError(t, err)
		_, err = s.OpenBlob(context.Background(), m.SHA256)
		assert.NoError(t, err, "record %s", m.ID)
		return nil
	})
	if !errors.Is(err, fs.ErrNotExist) {
		require.NoError(t, err)
	}
	onDisk, _ := diskUsage(t, cfg.Directory)
	assert.Equal(t, onDisk, s.Usage())
}
