// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package artifactstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

const benchSize = 1 << 20

// BenchmarkUpload stores 1 MiB artifacts of unannounced length (reserved
// chunk by chunk) and records them; compare with BenchmarkBaselineWrite.
func BenchmarkUpload(b *testing.B) {
	cfg, _ := testConfig(b)
	cfg.MaxTotalSize = 1 << 40
	s, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	content := make([]byte, benchSize)
	b.SetBytes(benchSize)
	for i := 0; b.Loop(); i++ {
		content[0], content[1], content[2] = byte(i), byte(i>>8), byte(i>>16) // distinct blobs
		u, err := s.Begin(context.Background(), chunkReader{bytes.NewReader(content)}, -1, benchSize)
		if err != nil {
			b.Fatal(err)
		}
		if err := u.Commit(context.Background(), &Meta{ID: fmt.Sprint(i), Project: "p", TraceID: "r", SHA256: u.SHA256()}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineWrite does the same file work without the store: a
// temporary file hashed, synced and renamed, and a small record.
func BenchmarkBaselineWrite(b *testing.B) {
	dir := b.TempDir()
	content := make([]byte, benchSize)
	b.SetBytes(benchSize)
	for i := 0; b.Loop(); i++ {
		content[0], content[1], content[2] = byte(i), byte(i>>8), byte(i>>16)
		tmp, err := os.CreateTemp(dir, "blob-*")
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(h, tmp), chunkReader{bytes.NewReader(content)}); err != nil {
			b.Fatal(err)
		}
		if err := tmp.Sync(); err != nil {
			b.Fatal(err)
		}
		_ = tmp.Close()
		if err := os.Rename(tmp.Name(), filepath.Join(dir, fmt.Sprintf("%x", h.Sum(nil)))); err != nil {
			b.Fatal(err)
		}
		rec, err := writeTemp(dir, "meta-*", []byte(`{"artifact_id":"x"}`))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(rec, filepath.Join(dir, fmt.Sprint(i)+".json")); err != nil {
			b.Fatal(err)
		}
	}
}
