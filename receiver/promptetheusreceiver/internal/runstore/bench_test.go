// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package runstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/collector/extension/xextension/storage"

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

// BenchmarkStorageLayout measures the file_storage client alone, per value
// of the size of a stored 50-event batch (incompressible, as compressed
// data is): keys of 100 interleaved runs (random run ids, the layout of
// this store) or keys in write order, written alone or in groups of 8.
// docs/performance.md explains why neither grouping nor key order changes
// what the receiver pays under the side-by-side load.
func BenchmarkStorageLayout(b *testing.B) {
	for _, order := range []string{"interleaved", "write_order"} {
		for _, group := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/group_%d", order, group), func(b *testing.B) {
				client := openFileStorage(&testing.T{}, b.TempDir())
				value := make([]byte, 4400)
				_, _ = rand.Read(value)
				n := 0
				b.ResetTimer()
				for i := 0; i < b.N; i += group {
					ops := make([]*storage.Operation, 0, group)
					for range group {
						key := fmt.Sprintf("b/p/r%04d/%012d", n%100, n/100)
						if order == "write_order" {
							key = fmt.Sprintf("b/%016d", n)
						}
						n++
						ops = append(ops, storage.SetOperation(key, value))
					}
					if err := client.Batch(context.Background(), ops...); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkTransactionSize measures one file_storage transaction of one
// incompressible value, by value size, keys of 100 interleaved runs as in
// this store: what a transaction costs whatever it writes, and what each
// byte adds (bbolt rewrites the leaf a value lands in, with its neighbours).
func BenchmarkTransactionSize(b *testing.B) {
	for _, size := range []int{500, 1000, 2000, 3400, 4400, 8000} {
		b.Run(fmt.Sprintf("bytes_%d", size), func(b *testing.B) {
			client := openFileStorage(&testing.T{}, b.TempDir())
			value := make([]byte, size)
			_, _ = rand.Read(value)
			b.ResetTimer()
			for i := range b.N {
				key := fmt.Sprintf("b/p/r%04d/%012d", i%100, i/100)
				if err := client.Batch(context.Background(), storage.SetOperation(key, value)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
