// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusprocessor // import "github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor"

import (
	"container/list"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

// traceFacts is what the processor keeps of a trace between its spans:
// compact steps, the user-rule findings already emitted, and the resource to
// emit findings under if the trace ends without a root span.
type traceFacts struct {
	traceID      pcommon.TraceID
	steps        []rules.Step
	spanIDs      map[rules.SpanRef]struct{}
	userFindings []rules.Finding
	resource     pcommon.Resource
	rootSeen     bool
	lastSeen     time.Time
	elem         *list.Element
}

// factStore holds the facts of at most max traces, least recently touched
// first in order.
type factStore struct {
	mu    sync.Mutex
	max   int
	byID  map[pcommon.TraceID]*traceFacts
	order *list.List
}

func newFactStore(max int) *factStore {
	return &factStore{max: max, byID: map[pcommon.TraceID]*traceFacts{}, order: list.New()}
}

// record adds what one span taught about its trace. It returns the facts
// evicted to stay within max (oldest first).
func (s *factStore) record(id pcommon.TraceID, resource pcommon.Resource, step *rules.Step, user []rules.Finding, root bool, now time.Time) []*traceFacts {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.byID[id]
	if !ok {
		f = &traceFacts{traceID: id, spanIDs: map[rules.SpanRef]struct{}{}, resource: pcommon.NewResource()}
		resource.CopyTo(f.resource)
		f.elem = s.order.PushBack(f)
		s.byID[id] = f
	} else {
		s.order.MoveToBack(f.elem)
	}
	f.lastSeen = now
	f.rootSeen = f.rootSeen || root
	f.userFindings = append(f.userFindings, user...)
	if step != nil {
		// A span sent twice (a client retry) is one step.
		if _, dup := f.spanIDs[step.SpanID]; !dup {
			f.spanIDs[step.SpanID] = struct{}{}
			f.steps = append(f.steps, *step)
		}
	}
	var evicted []*traceFacts
	for len(s.byID) > s.max {
		evicted = append(evicted, s.removeLocked(s.order.Front().Value.(*traceFacts)))
	}
	return evicted
}

func (s *factStore) removeLocked(f *traceFacts) *traceFacts {
	s.order.Remove(f.elem)
	delete(s.byID, f.traceID)
	return f
}

// snapshot returns copies of a trace's steps and user findings.
func (s *factStore) snapshot(id pcommon.TraceID) (steps []rules.Step, user []rules.Finding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.byID[id]; ok {
		return slices.Clone(f.steps), slices.Clone(f.userFindings)
	}
	return nil, nil
}

// idle removes and returns the traces untouched since before cutoff.
func (s *factStore) idle(cutoff time.Time) []*traceFacts {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*traceFacts
	for e := s.order.Front(); e != nil; e = s.order.Front() {
		f := e.Value.(*traceFacts)
		if !f.lastSeen.Before(cutoff) {
			break
		}
		out = append(out, s.removeLocked(f))
	}
	return out
}

func (s *factStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}
