// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package artifactstore keeps uploaded artifacts (screenshots, recordings)
// outside the trace: bytes content-addressed by SHA-256, one metadata record
// per artifact, every file written atomically (temporary file, then rename).
package artifactstore // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/artifactstore"

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
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

// Store keeps artifacts. Implementations must be safe for concurrent use.
type Store interface {
	// PutBlob stores at most maxSize bytes of r and returns their SHA-256
	// and size. ErrTooLarge when r holds more.
	PutBlob(ctx context.Context, r io.Reader, maxSize int64) (sha string, size int64, err error)
	// PutMeta records an artifact; its blob, if any, must be stored.
	PutMeta(ctx context.Context, m *Meta) error
	// GetMeta returns an artifact's record, or ErrNotFound.
	GetMeta(ctx context.Context, project, traceID, artifactID string) (*Meta, error)
	// OpenBlob opens stored bytes by SHA-256.
	OpenBlob(ctx context.Context, sha string) (io.ReadSeekCloser, error)
}

var (
	// ErrNotFound: no such artifact.
	ErrNotFound = errors.New("artifact not found")
	// ErrTooLarge: the upload is over the size limit.
	ErrTooLarge = errors.New("artifact too large")
)

// Local is a Store in a local directory:
//
//	<dir>/blobs/<sha[:2]>/<sha>                    the bytes
//	<dir>/meta/<project>/<hash(trace)>/<id>.json   the records
//	<dir>/tmp/                                     files being written
type Local struct {
	dir string
}

// NewLocal returns a store in dir; directories are created on first write.
func NewLocal(dir string) *Local { return &Local{dir: dir} }

// tmpDir returns the directory of files being written, creating it.
func (l *Local) tmpDir() (string, error) {
	dir := filepath.Join(l.dir, "tmp")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("creating artifact directory: %w", err)
	}
	return dir, nil
}

// PutBlob implements Store.
func (l *Local) PutBlob(_ context.Context, r io.Reader, maxSize int64) (string, int64, error) {
	dir, err := l.tmpDir()
	if err != nil {
		return "", 0, err
	}
	tmp, err := os.CreateTemp(dir, "blob-*")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, maxSize+1))
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
		return "", 0, err
	}
	sha := hex.EncodeToString(h.Sum(nil))
	dst := l.blobPath(sha)
	if _, statErr := os.Stat(dst); statErr == nil {
		return sha, n, nil // same content already stored
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", 0, err
	}
	return sha, n, nil
}

// PutMeta implements Store.
func (l *Local) PutMeta(_ context.Context, m *Meta) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	dst := l.metaPath(m.Project, m.TraceID, m.ID)
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	dir, err := l.tmpDir()
	if err != nil {
		return err
	}
	return writeAtomic(dir, dst, body)
}

// GetMeta implements Store.
func (l *Local) GetMeta(_ context.Context, project, traceID, artifactID string) (*Meta, error) {
	body, err := os.ReadFile(l.metaPath(project, traceID, artifactID))
	if errors.Is(err, os.ErrNotExist) {
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

// OpenBlob implements Store.
func (l *Local) OpenBlob(_ context.Context, sha string) (io.ReadSeekCloser, error) {
	if !validSHA(sha) {
		return nil, ErrNotFound
	}
	f, err := os.Open(l.blobPath(sha))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	return f, err
}

func (l *Local) blobPath(sha string) string {
	return filepath.Join(l.dir, "blobs", sha[:2], sha)
}

// metaPath never puts a client string in a path: the project is checked by
// the receiver's config, the artifact id by ValidID, the trace id is hashed.
func (l *Local) metaPath(project, traceID, artifactID string) string {
	sum := sha256.Sum256([]byte(traceID))
	return filepath.Join(l.dir, "meta", project, hex.EncodeToString(sum[:16]), artifactID+".json")
}

func validSHA(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func writeAtomic(tmpDir, dst string, body []byte) error {
	tmp, err := os.CreateTemp(tmpDir, "meta-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
