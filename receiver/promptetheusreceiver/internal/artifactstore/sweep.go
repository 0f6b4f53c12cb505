// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package artifactstore // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/artifactstore"

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Start sweeps now, then periodically, until Close.
func (s *Store) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopSweep, s.sweepDone = cancel, make(chan struct{})
	go func() {
		defer close(s.sweepDone)
		ticker := time.NewTicker(s.sweepInterval)
		defer ticker.Stop()
		for {
			if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("Artifact retention sweep failed", zap.Error(err))
			}
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
}

// Close stops the sweeps and releases the directory.
func (s *Store) Close() error {
	if s.stopSweep != nil {
		s.stopSweep()
		<-s.sweepDone
		s.stopSweep = nil
	}
	if s.unlock == nil {
		return nil
	}
	err := s.unlock()
	s.unlock = nil
	return err
}

// Sweep deletes the records of artifacts uploaded longer than the retention
// ago, then every blob no record refers to (a blob shared by several
// artifacts stays while one of them does), and returns the number of
// artifacts deleted. It holds one key per blob still referred to.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	s.mu.Lock()
	// Uploads in progress may record their blob after the listing of records.
	s.touched = make(map[string]struct{}, len(s.inflight))
	for sha := range s.inflight {
		s.touched[sha] = struct{}{}
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.touched = nil
		s.mu.Unlock()
	}()

	live, expired, err := s.sweepRecords(ctx, s.cfg.Now().Add(-s.cfg.Retention))
	if expired > 0 && s.cfg.OnExpired != nil {
		s.cfg.OnExpired(expired)
	}
	if err != nil {
		return expired, err
	}
	return expired, s.sweepBlobs(ctx, live)
}

// sweepRecords deletes expired records and their empty directories, and
// returns the blobs the others refer to.
func (s *Store) sweepRecords(ctx context.Context, cutoff time.Time) (map[[32]byte]struct{}, int, error) {
	live := map[[32]byte]struct{}{}
	expired := 0
	metaDir := filepath.Join(s.cfg.Directory, "meta")
	projects, err := readDirs(metaDir)
	for _, project := range projects {
		traces, terr := readDirs(project)
		err = errors.Join(err, terr)
		for _, trace := range traces {
			files, ferr := os.ReadDir(trace)
			err = errors.Join(err, ferr)
			for _, f := range files {
				if ctx.Err() != nil {
					return live, expired, ctx.Err()
				}
				if !f.Type().IsRegular() || !strings.HasSuffix(f.Name(), ".json") {
					continue
				}
				path := filepath.Join(trace, f.Name())
				if m, rerr := readMeta(path); rerr != nil {
					s.cfg.Logger.Warn("Keeping an unreadable artifact record", zap.String("path", path), zap.Error(rerr))
				} else if !m.CreatedAt.Before(cutoff) || !s.removeExpired(path, cutoff) {
					addLive(live, m.SHA256)
				} else {
					expired++
				}
			}
			s.removeEmptyDir(trace)
		}
		s.removeEmptyDir(project)
	}
	return live, expired, err
}

// removeExpired deletes a record if it is still expired: an upload with the
// same id may have replaced it since it was read.
func (s *Store) removeExpired(path string, cutoff time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := readMeta(path)
	return err == nil && m.CreatedAt.Before(cutoff) && s.removeLocked(path)
}

// sweepBlobs deletes blobs no record refers to and no upload has pinned
// since the sweep began.
func (s *Store) sweepBlobs(ctx context.Context, live map[[32]byte]struct{}) error {
	prefixes, err := readDirs(filepath.Join(s.cfg.Directory, "blobs"))
	deleted := 0
	for _, prefix := range prefixes {
		files, ferr := os.ReadDir(prefix)
		err = errors.Join(err, ferr)
		for _, f := range files {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var key [32]byte
			if n, herr := hex.Decode(key[:], []byte(f.Name())); herr != nil || n != len(key) || len(f.Name()) != 2*len(key) {
				continue // not ours
			}
			if _, ok := live[key]; ok {
				continue
			}
			s.mu.Lock()
			_, touched := s.touched[f.Name()]
			if s.inflight[f.Name()] == nil && !touched && s.removeLocked(filepath.Join(prefix, f.Name())) {
				deleted++
			}
			s.mu.Unlock()
		}
	}
	if deleted > 0 {
		s.cfg.Logger.Debug("Deleted unreferenced artifact contents", zap.Int("blobs", deleted))
	}
	return err
}

// removeEmptyDir deletes dir if it is empty; under the lock, so an upload
// never finds its directory gone between creating it and renaming into it.
func (s *Store) removeEmptyDir(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = os.Remove(dir) // fails unless empty
}

func addLive(live map[[32]byte]struct{}, sha string) {
	var key [32]byte
	if n, err := hex.Decode(key[:], []byte(sha)); err == nil && n == len(key) {
		live[key] = struct{}{}
	}
}

// readDirs returns the paths of the directories in dir; none if dir is absent.
func readDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(dir, e.Name()))
		}
	}
	return dirs, err
}

func readMeta(path string) (*Meta, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	return &m, nil
}
