// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package session // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

// runState is the part of a run persisted as its header record.
type runState struct {
	Info         mapping.Run     `json:"info"`
	CreatedAt    time.Time       `json:"created_at"`
	Created      bool            `json:"created"`
	LastActivity time.Time       `json:"last_activity"`
	FinalizedAt  time.Time       `json:"finalized_at,omitzero"`
	FinalizedBy  string          `json:"finalized_by,omitempty"`
	Summary      mapping.Summary `json:"summary"`
	Pending      mapping.Pending `json:"pending"`
	// Batches counts the batch records written for this run.
	Batches       int64           `json:"batches"`
	ArtifactBytes int64           `json:"artifact_bytes,omitempty"`
	Analysis      json.RawMessage `json:"analysis,omitempty"`
}

// batchRecord is persisted once per accepted batch: the idempotency keys it
// recorded and the steps of the spans it emitted.
type batchRecord struct {
	Keys  []keySeq     `json:"keys"`
	Steps []rules.Step `json:"steps,omitempty"`
}

type keySeq struct {
	Key string `json:"k"`
	Seq int64  `json:"q"`
}

// run is one run in memory. mu serialises everything done to it, including
// handing its spans to the pipeline, so that spans leave in a stable order.
type run struct {
	mu    sync.Mutex
	state runState
	keys  map[string]int64
	seqs  map[int64]string
	steps []rules.Step
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
		keys: map[string]int64{},
		seqs: map[int64]string{},
	}
}

func (r *run) finalized() bool { return !r.state.FinalizedAt.IsZero() }

// applyBatch records a committed batch in memory.
func (r *run) applyBatch(rec *batchRecord) {
	for _, ks := range rec.Keys {
		r.keys[ks.Key] = ks.Seq
		r.seqs[ks.Seq] = ks.Key
	}
	r.steps = append(r.steps, rec.Steps...)
}
