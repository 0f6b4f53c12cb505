// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package session // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"

import "math/bits"

// seqSet holds the seqs a run used. SDKs number events 0, 1, 2, ..., so the
// seqs below denseLimit go in a bitset (a bit each); others in a map.
type seqSet struct {
	words  []uint64
	sparse map[int64]struct{}
}

// denseLimit bounds the bitset to 128 KiB a run whatever seqs a client sends.
const denseLimit = 1 << 20

func (s *seqSet) has(q int64) bool {
	if q >= 0 && q < denseLimit {
		w := int(q / 64)
		return w < len(s.words) && s.words[w]&(1<<(q%64)) != 0
	}
	_, ok := s.sparse[q]
	return ok
}

func (s *seqSet) add(q int64) {
	if q >= 0 && q < denseLimit {
		w := int(q / 64)
		if w >= len(s.words) {
			s.words = append(s.words, make([]uint64, w+1-len(s.words))...)
		}
		s.words[w] |= 1 << (q % 64)
		return
	}
	if s.sparse == nil {
		s.sparse = map[int64]struct{}{}
	}
	s.sparse[q] = struct{}{}
}

// len counts the seqs held.
func (s *seqSet) len() int {
	n := len(s.sparse)
	for _, w := range s.words {
		n += bits.OnesCount64(w)
	}
	return n
}
