// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package artifactstore keeps uploaded artifacts (screenshots, recordings)
// outside the trace: bytes content-addressed by SHA-256, one metadata record
// per artifact, every file written atomically (temporary file, then rename).
// The store holds at most a configured number of bytes and deletes artifacts
// older than its retention.
package artifactstore // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/artifactstore"

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Meta describes one artifact.
type Meta struct {
	ID          string    `json:"artifact_id"`
	Project     string    `json:"project_id"`
	TraceID     string    `json:"trace_id"`
	Type        string    `json:"artifact_type"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	SHA256      string    `json:"sha256,omitempty"`
	SizeBytes   int64     `json:"size_bytes"`
	CreatedAt   time.Time `json:"created_at"`
	// MetadataOnly is true when the client declared the artifact without
	// uploading its bytes.
	MetadataOnly bool `json:"metadata_only,omitempty"`
}

var (
	// ErrNotFound: no such artifact.
	ErrNotFound = errors.New("artifact not found")
	// ErrTooLarge: the upload is over the size limit.
	ErrTooLarge = errors.New("artifact too large")
	// ErrFull: storing the artifact would exceed the store's total size.
	ErrFull = errors.New("artifact storage is full")
)

// Config configures a Store.
type Config struct {
	// Directory holds the store; one store per directory.
	Directory string
	// MaxTotalSize bounds the bytes of every file the store keeps (contents,
	// records, uploads being written).
	MaxTotalSize int64
	// Retention is how long an artifact is kept after its upload.
	Retention time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// OnExpired is called with the number of artifacts a sweep deleted.
	OnExpired func(n int)
	Logger    *zap.Logger
}

// recordAllowance is reserved for an artifact's record before its bytes are
// read, so the record can always be written once the bytes are stored.
// Records are a few hundred bytes: every field is bounded by the receiver.
const recordAllowance = 4 << 10

// Store is a content-addressed artifact store in a local directory:
//
//	<dir>/blobs/<sha[:2]>/<sha>                    the bytes
//	<dir>/meta/<project>/<hash(trace)>/<id>.json   the records
//	<dir>/tmp/                                     files being written
//
// Every file created or removed under blobs/ and meta/ is accounted in used,
// and so are bytes reserved for uploads in progress: a write reserves its
// bytes first and fails with ErrFull when they do not fit.
type Store struct {
	cfg    Config
	unlock func() error

	mu   sync.Mutex
	used int64
	// inflight: blobs written by uploads not yet committed or aborted.
	inflight map[string]*inflightBlob
	// touched: blobs pinned since the running sweep began listing records.
	touched map[string]struct{}

	sweepMu   sync.Mutex // one sweep at a time
	stopSweep context.CancelFunc
	sweepDone chan struct{}
	// sweepInterval is derived from the retention; tests shorten it.
	sweepInterval time.Duration
}

type inflightBlob struct {
	uploads int
	// created: one of these uploads wrote the blob; nothing referred to it before.
	created bool
	// referenced: a record naming the blob was committed.
	referenced bool
}

// Open locks the directory, deletes the temporary files a crash left and
// counts the bytes stored.
func Open(cfg Config) (*Store, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if err := os.MkdirAll(cfg.Directory, 0o750); err != nil {
		return nil, fmt.Errorf("creating artifact directory: %w", err)
	}
	unlock, err := lockDirectory(filepath.Join(cfg.Directory, ".lock"))
	if err != nil {
		return nil, fmt.Errorf("artifact directory %s: %w", cfg.Directory, err)
	}
	s := &Store{
		cfg:           cfg,
		unlock:        unlock,
		inflight:      map[string]*inflightBlob{},
		sweepInterval: min(max(cfg.Retention/10, 10*time.Second), time.Hour),
	}
	if err := s.recover(); err != nil {
		_ = unlock()
		return nil, err
	}
	return s, nil
}

// recover deletes files a crash left in tmp/ and counts blobs/ and meta/.
func (s *Store) recover() error {
	tmp := s.tmpDir()
	left, _ := os.ReadDir(tmp)
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("deleting temporary artifact files: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return fmt.Errorf("creating artifact directory: %w", err)
	}
	for _, sub := range []string{"blobs", "meta"} {
		err := filepath.WalkDir(filepath.Join(s.cfg.Directory, sub), func(_ string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			info, err := d.Info()
			if err == nil {
				s.used += info.Size()
			}
			return err
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("reading artifact directory: %w", err)
		}
	}
	s.cfg.Logger.Info("Artifact store opened",
		zap.Int64("bytes_used", s.used), zap.Int("temporary_files_deleted", len(left)))
	return nil
}

// Usage returns the bytes stored and reserved.
func (s *Store) Usage() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

func (s *Store) reserve(n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used+n > s.cfg.MaxTotalSize {
		return ErrFull
	}
	s.used += n
	return nil
}

func (s *Store) release(n int64) {
	s.mu.Lock()
	s.used -= n
	s.mu.Unlock()
}

// Upload is an artifact being stored: its bytes are on disk and its record's
// bytes reserved, until Commit writes the record or Abort gives them up.
type Upload struct {
	s        *Store
	sha      string
	size     int64
	reserved int64 // for the record
	done     bool
}

// Begin stores at most maxSize bytes of body, nil for an artifact declared
// without content. expected is the body's announced length, -1 if unknown:
// it is reserved at once, and more as the body turns out larger. ErrTooLarge
// when body holds more than maxSize, ErrFull when the store cannot hold it.
func (s *Store) Begin(_ context.Context, body io.Reader, expected, maxSize int64) (*Upload, error) {
	if err := s.reserve(recordAllowance); err != nil {
		return nil, err
	}
	u := &Upload{s: s, reserved: recordAllowance}
	if body == nil {
		return u, nil
	}
	if err := u.writeBlob(body, expected, maxSize); err != nil {
		u.Abort()
		return nil, err
	}
	return u, nil
}

func (u *Upload) writeBlob(body io.Reader, expected, maxSize int64) error {
	s := u.s
	tmp, err := os.CreateTemp(s.tmpDir(), "blob-*")
	if err != nil {
		return err
	}
	q := &quotaWriter{s: s, w: tmp}
	defer func() { s.release(q.reserved) }() // zero once the blob is accounted
	defer os.Remove(tmp.Name())              // a no-op once renamed
	if expected > 0 {
		if err = s.reserve(min(expected, maxSize+1)); err != nil {
			_ = tmp.Close()
			return err
		}
		q.reserved = min(expected, maxSize+1)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(h, q), io.LimitReader(body, maxSize+1))
	if err == nil && n > maxSize {
		err = ErrTooLarge
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	u.sha, u.size = hex.EncodeToString(h.Sum(nil)), n

	s.mu.Lock()
	defer s.mu.Unlock()
	s.used -= q.reserved - n // what was reserved beyond the content
	q.reserved = n
	dst := s.blobPath(u.sha)
	_, statErr := os.Stat(dst)
	created := errors.Is(statErr, fs.ErrNotExist)
	if created {
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), dst); err != nil {
			return err
		}
		q.reserved = 0 // the blob's bytes are stored: keep them accounted
	}
	s.pinLocked(u.sha, created)
	return nil
}

// SHA256 returns the hex SHA-256 of the stored bytes.
func (u *Upload) SHA256() string { return u.sha }

// Size returns the number of stored bytes.
func (u *Upload) Size() int64 { return u.size }

// Commit records the artifact; m.SHA256 must be the upload's, if any.
func (u *Upload) Commit(_ context.Context, m *Meta) error {
	if u.done {
		return errors.New("artifact upload already finished")
	}
	s := u.s
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if extra := int64(len(body)) - u.reserved; extra > 0 {
		if err := s.reserve(extra); err != nil {
			return err
		}
		u.reserved += extra
	}
	tmp, err := writeTemp(s.tmpDir(), "meta-*", body)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // a no-op once renamed

	dst := s.metaPath(m.Project, m.TraceID, m.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	var replaced int64
	if info, err := os.Stat(dst); err == nil {
		replaced = info.Size()
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	s.used -= replaced + u.reserved - int64(len(body))
	u.reserved, u.done = 0, true
	if b := s.inflight[u.sha]; b != nil {
		b.referenced = true
	}
	s.unpinLocked(u.sha)
	return nil
}

// Abort gives up an upload not committed: its reservation, and its bytes
// unless a record refers to them. A no-op after Commit.
func (u *Upload) Abort() {
	if u.done {
		return
	}
	u.done = true
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used -= u.reserved
	u.reserved = 0
	s.unpinLocked(u.sha)
}

// pinLocked keeps a sweep from deleting a blob an upload is about to record.
func (s *Store) pinLocked(sha string, created bool) {
	b := s.inflight[sha]
	if b == nil {
		b = &inflightBlob{}
		s.inflight[sha] = b
	}
	b.uploads++
	b.created = b.created || created
	if s.touched != nil {
		s.touched[sha] = struct{}{}
	}
}

// unpinLocked deletes a blob at once when the uploads that wrote it all
// ended without a record naming it.
func (s *Store) unpinLocked(sha string) {
	b := s.inflight[sha]
	if b == nil {
		return
	}
	if b.uploads--; b.uploads > 0 {
		return
	}
	delete(s.inflight, sha)
	if b.created && !b.referenced {
		s.removeLocked(s.blobPath(sha))
	}
}

// removeLocked deletes a file and its bytes from the count.
func (s *Store) removeLocked(path string) bool {
	info, err := os.Lstat(path)
	if err != nil {
		return false
	}
	if err := os.Remove(path); err != nil {
		s.cfg.Logger.Warn("Could not delete an artifact file", zap.String("path", path), zap.Error(err))
		return false
	}
	s.used -= info.Size()
	return true
}

// GetMeta returns an artifact's record, or ErrNotFound.
func (s *Store) GetMeta(_ context.Context, project, traceID, artifactID string) (*Meta, error) {
	body, err := os.ReadFile(s.metaPath(project, traceID, artifactID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("artifact record is unreadable: %w", err)
	}
	return &m, nil
}

// OpenBlob opens stored bytes by SHA-256.
func (s *Store) OpenBlob(_ context.Context, sha string) (io.ReadSeekCloser, error) {
	if !validSHA(sha) {
		return nil, ErrNotFound
	}
	f, err := os.Open(s.blobPath(sha))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	return f, err
}

func (s *Store) tmpDir() string { return filepath.Join(s.cfg.Directory, "tmp") }

func (s *Store) blobPath(sha string) string {
	return filepath.Join(s.cfg.Directory, "blobs", sha[:2], sha)
}

// metaPath never puts a client string in a path: the project is checked by
// the receiver's config, the artifact id by ValidID, the trace id is hashed.
func (s *Store) metaPath(project, traceID, artifactID string) string {
	sum := sha256.Sum256([]byte(traceID))
	return filepath.Join(s.cfg.Directory, "meta", project, hex.EncodeToString(sum[:16]), artifactID+".json")
}

func validSHA(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// quotaWriter reserves bytes in the store before writing them.
type quotaWriter struct {
	s        *Store
	w        io.Writer
	written  int64
	reserved int64
}

func (q *quotaWriter) Write(p []byte) (int, error) {
	if more := q.written + int64(len(p)) - q.reserved; more > 0 {
		if err := q.s.reserve(more); err != nil {
			return 0, err
		}
		q.reserved += more
	}
	n, err := q.w.Write(p)
	q.written += int64(n)
	return n, err
}

func writeTemp(dir, pattern string, body []byte) (string, error) {
	tmp, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	_, err = tmp.Write(body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}
