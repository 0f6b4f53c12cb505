// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package session // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

// runState is the part of a run persisted as its header record.
type runState struct {
	Info         mapping.Run     `json:"info"`
	CreatedAt    time.Time       `json:"created_at"`
	LastActivity time.Time       `json:"last_activity"`
	FinalizedAt  time.Time       `json:"finalized_at,omitzero"`
	FinalizedBy  string          `json:"finalized_by,omitempty"`
	Summary      mapping.Summary `json:"summary"`
	Pending      mapping.Pending `json:"pending"`
	// Batches counts the batch records written for this run.
	Batches       int64 `json:"batches"`
	ArtifactBytes int64 `json:"artifact_bytes,omitempty"`
	// Verdict is the judgement of the run, made once when it is finalised:
	// the exported root span and analyze answer from it.
	Verdict  *rules.Result   `json:"verdict,omitempty"`
	Analysis json.RawMessage `json:"analysis,omitempty"`
}

// batchRecord is persisted once per accepted batch: the idempotency keys
// and seqs it recorded, the steps of the spans it emitted and the findings
// of the user rules on them.
type batchRecord struct {
	Keys         []keyHash       `json:"keys"`
	Seqs         []int64         `json:"seqs"`
	Steps        []rules.Step    `json:"steps,omitempty"`
	UserFindings []rules.Finding `json:"user,omitempty"`
}

// keyHash stands for an idempotency key: 128 bits of FNV-1a, so that dedup
// costs 16 bytes a key whatever the key's length. A collision would need
// 2^64 keys in one run.
type keyHash [16]byte

func hashKey(key string) keyHash {
	h := fnv.New128a()
	_, _ = h.Write([]byte(key))
	var out keyHash
	h.Sum(out[:0])
	return out
}

// MarshalText writes the hash in hex.
func (k keyHash) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(k[:])), nil }

// UnmarshalText reads a hex hash.
func (k *keyHash) UnmarshalText(text []byte) error {
	if hex.DecodedLen(len(text)) != len(k) {
		return fmt.Errorf("bad key hash %q", text)
	}
	_, err := hex.Decode(k[:], text)
	return err
}

// run is one run in memory. mu serialises everything done to it, including
// handing its spans to the pipeline, so that spans leave in a stable order.
type run struct {
	mu    sync.Mutex
	state runState
	keys  map[keyHash]struct{}
	seqs  map[int64]struct{}
	steps []rules.Step
	// userFindings are the user-rule findings on the run's spans so far.
	userFindings []rules.Finding
	// gone is set when the run was evicted while a caller waited for mu.
	gone bool
}

func newRun(info mapping.Run, now time.Time) *run {
	return &run{
		state: runState{
			Info:         info,
			CreatedAt:    now,
			LastActivity: now,
			Summary:      mapping.NewSummary(),
			Pending:      mapping.NewPending(),
		},
		keys: map[keyHash]struct{}{},
		seqs: map[int64]struct{}{},
	}
}

func (r *run) finalized() bool { return !r.state.FinalizedAt.IsZero() }

// applyBatch records a committed batch in memory.
func (r *run) applyBatch(rec *batchRecord) {
	for _, k := range rec.Keys {
		r.keys[k] = struct{}{}
	}
	for _, q := range rec.Seqs {
		r.seqs[q] = struct{}{}
	}
	r.steps = append(r.steps, rec.Steps...)
	r.userFindings = append(r.userFindings, rec.UserFindings...)
}
