// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package session // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// Storage layout: one header record per run, rewritten with each change, and
// one record per accepted batch, written once. A batch and its header go in
// one storage batch, so a crash never leaves one without the other.
const (
	headerPrefix = "run/"
	batchPrefix  = "batch/"
)

func headerKey(k runKey) string { return headerPrefix + k.project + "/" + k.id }

func batchKey(k runKey, n int64) string {
	return fmt.Sprintf("%s%s/%s/%012d", batchPrefix, k.project, k.id, n)
}

// persist writes the run's header and, when rec is not nil, a new batch
// record. It is a no-op without a storage client.
func (m *Manager) persist(ctx context.Context, key runKey, r *run, rec *batchRecord) error {
	if m.client == nil {
		return nil
	}
	var ops []*storage.Operation
	if rec != nil {
		body, err := json.Marshal(rec)
		if err != nil {
			return &StorageError{Err: err}
		}
		ops = append(ops, storage.SetOperation(batchKey(key, r.state.Batches), body))
		r.state.Batches++
	}
	header, err := json.Marshal(&r.state)
	if err != nil {
		return &StorageError{Err: err}
	}
	ops = append(ops, storage.SetOperation(headerKey(key), header))
	if err := m.client.Batch(ctx, ops...); err != nil {
		return &StorageError{Err: err}
	}
	return nil
}

// deleteStored removes every record of a run.
func (m *Manager) deleteStored(ctx context.Context, key runKey, r *run) {
	if m.client == nil {
		return
	}
	ops := make([]*storage.Operation, 0, r.state.Batches+1)
	for n := int64(0); n < r.state.Batches; n++ {
		ops = append(ops, storage.DeleteOperation(batchKey(key, n)))
	}
	ops = append(ops, storage.DeleteOperation(headerKey(key)))
	if err := m.client.Batch(ctx, ops...); err != nil {
		m.logger.Warn("Failed to delete stored trace state", zap.String("project", key.project), zap.Error(err))
	}
}

// ErrNoWalk is returned when the storage client cannot list its keys, which
// restoring runs after a restart needs.
var ErrNoWalk = errors.New("the storage extension does not support listing keys (use file_storage)")

// Load restores every stored run. Call it once, before serving requests.
func (m *Manager) Load(ctx context.Context) error {
	if m.client == nil {
		return nil
	}
	walker, ok := m.client.(storage.Walker)
	if !ok {
		return ErrNoWalk
	}
	headers := map[runKey][]byte{}
	batches := map[runKey]map[int64][]byte{}
	err := walker.Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
		switch {
		case strings.HasPrefix(key, headerPrefix):
			if k, ok := parseRunKey(strings.TrimPrefix(key, headerPrefix)); ok {
				headers[k] = value
			}
		case strings.HasPrefix(key, batchPrefix):
			rest := strings.TrimPrefix(key, batchPrefix)
			i := strings.LastIndexByte(rest, '/')
			if i < 0 {
				return nil, nil
			}
			k, ok := parseRunKey(rest[:i])
			n, err := strconv.ParseInt(rest[i+1:], 10, 64)
			if !ok || err != nil {
				return nil, nil
			}
			if batches[k] == nil {
				batches[k] = map[int64][]byte{}
			}
			batches[k][n] = value
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("listing stored traces: %w", err)
	}
	for k, header := range headers {
		r := &run{keys: map[keyHash]struct{}{}, seqs: map[int64]struct{}{}}
		if err := json.Unmarshal(header, &r.state); err != nil {
			m.logger.Error("Skipping unreadable stored trace", zap.String("project", k.project), zap.Error(err))
			continue
		}
		if r.state.Pending.Tools == nil {
			r.state.Pending.Tools = map[string]json.RawMessage{}
		}
		if r.state.Pending.States == nil {
			r.state.Pending.States = map[string]json.RawMessage{}
		}
		ns := make([]int64, 0, len(batches[k]))
		for n := range batches[k] {
			ns = append(ns, n)
		}
		sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] })
		for _, n := range ns {
			var rec batchRecord
			if err := json.Unmarshal(batches[k][n], &rec); err != nil {
				return fmt.Errorf("stored batch %d of a trace is unreadable: %w", n, err)
			}
			r.applyBatch(&rec)
		}
		m.runs[k] = r
		m.owners[k.id] = k.project
	}
	return nil
}

func parseRunKey(s string) (runKey, bool) {
	i := strings.IndexByte(s, '/')
	if i <= 0 || i == len(s)-1 {
		return runKey{}, false
	}
	return runKey{project: s[:i], id: s[i+1:]}, true
}
