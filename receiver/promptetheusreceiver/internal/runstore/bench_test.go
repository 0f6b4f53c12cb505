// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package runstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"
)

// BenchmarkWrite measures persisting SDK batches of 50 events (encoding and
// a file_storage transaction), from 4 writers at once as under load, per
// batch. Each writer writes its own runs.
func BenchmarkWrite(b *testing.B) {
	cfg := sessionConfig(&testing.T{})
	cfg.MaxRuns = 1 << 20
	batch := func() (*session.Run, *session.Batch) {
		r := session.Restore(session.Key{Project: "p", ID: "r"}, session.Header{Info: mapping.Run{Project: "p", ID: "r"}}, nil, -1)
		return r, batchOf(&testing.T{}, cfg, r, 0, 50)
	}
	_, sample := batch()
	s := New(openFileStorage(&testing.T{}, b.TempDir()))
	defer s.Close()
	var next atomic.Int64
	b.SetParallelism(2) // 4 writers on 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := session.Key{Project: "p", ID: fmt.Sprintf("r%d", next.Add(1))}
			if err := s.Write(context.Background(), k, sample); err != nil {
				b.Error(err)
			}
		}
	})
}
