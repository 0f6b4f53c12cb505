// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package runstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// failingClient refuses every transaction that holds a key ending in "!",
// counts the transactions and keeps the largest.
type failingClient struct {
	storage.Client
	batches, largest atomic.Int64
}

var errRefused = errors.New("refused")

func (c *failingClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	c.batches.Add(1)
	for n := int64(len(ops)); ; {
		if l := c.largest.Load(); n <= l || c.largest.CompareAndSwap(l, n) {
			break
		}
	}
	for _, op := range ops {
		if strings.HasSuffix(op.Key, "!") {
			return errRefused
		}
	}
	return c.Client.Batch(ctx, ops...)
}

// TestGroupCommit writes from many goroutines at once: every write that
// returned nil is stored, every write that returned an error is not (a
// write shares the fate of its transaction, never more), and concurrent
// writes share transactions.
func TestGroupCommit(t *testing.T) {
	client := &failingClient{Client: openFileStorage(t, t.TempDir())}
	s := New(client)
	const writers, each = maxGroup + 16, 10 // more writers than a group takes
	var mu sync.Mutex
	outcome := map[string]error{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("k/%02d/%03d", w, i)
				if i%10 == 9 {
					key += "!"
				}
				err := s.commit(context.Background(), storage.SetOperation(key, []byte(key)))
				mu.Lock()
				outcome[key] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	require.Len(t, outcome, writers*each)
	var failed int
	for key, err := range outcome {
		get := storage.GetOperation(key)
		require.NoError(t, client.Client.Batch(context.Background(), get))
		if err != nil {
			failed++
			assert.ErrorIs(t, err, errRefused)
			assert.Nil(t, get.Value, "%s failed but was stored", key)
			continue
		}
		assert.Equal(t, []byte(key), get.Value, "%s succeeded but was not stored", key)
	}
	assert.GreaterOrEqual(t, failed, writers*each/10, "every refused key failed")
	t.Logf("%d writes in %d transactions (the largest of %d), %d failed", writers*each, client.batches.Load(), client.largest.Load(), failed)
	assert.Less(t, client.batches.Load(), int64(writers*each), "concurrent writes share transactions")
	assert.LessOrEqual(t, client.largest.Load(), int64(maxGroup), "a transaction takes at most maxGroup writes")

	// A cancelled caller queues nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.Error(t, s.commit(ctx, storage.SetOperation("cancelled", []byte("x"))))
	get := storage.GetOperation("cancelled")
	require.NoError(t, client.Client.Batch(context.Background(), get))
	assert.Nil(t, get.Value)
}
