// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusprocessor // import "github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor"

import (
	"container/list"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

// observation is what one span of a batch tells about its trace, worked
// out before the store is locked.
type observation struct {
	traceID pcommon.TraceID
	spanID  pcommon.SpanID
	role    spanRole
	isRoot  bool // the trace's root span (no parent)
	step    *rules.Step
	user    []rules.Finding
	// span, resource and scope locate an agent span, which the store may
	// copy to hold until the verdict; the batch then goes on without it.
	span     ptrace.Span
	resource pcommon.Resource
	scope    pcommon.InstrumentationScope
	// held is set by the store when it took the span.
	held bool
}

// traceFacts is what the processor keeps of an agent trace until its
// verdict: compact steps, user-rule findings, and the agent spans held back
// to receive the verdict.
type traceFacts struct {
	traceID pcommon.TraceID
	steps   []rules.Step
	user    []rules.Finding
	// seen holds the agent spans recorded, so that a retried batch does not
	// count them twice.
	seen map[pcommon.SpanID]struct{}
	// held are the agent spans taken out of their batches, one resource
	// spans each.
	held ptrace.Traces
	// agent is set when an agent span was seen: with only chains held, the
	// trace is an agent run if it holds steps.
	agent        bool
	stepsDropped int
	rootAt       time.Time // when the trace's root span arrived
	lastSeen     time.Time
	elem         *list.Element
}

// deadline is when the trace is judged: decisionWait after its root span,
// or idleTimeout after its last span while the root has not come.
func (f *traceFacts) deadline(decisionWait, idleTimeout time.Duration) time.Time {
	if !f.rootAt.IsZero() {
		return f.rootAt.Add(decisionWait)
	}
	return f.lastSeen.Add(idleTimeout)
}

// factStore owns every map of the processor. Agent traces only: a span
// that is not an agent's never creates an entry.
type factStore struct {
	mu           sync.Mutex
	maxTraces    int
	maxSteps     int
	decisionWait time.Duration
	idleTimeout  time.Duration

	byID map[pcommon.TraceID]*traceFacts
	lru  *list.List // of *traceFacts, least recently seen first
	// decided remembers the traces judged lately, so that their late spans
	// pass untouched instead of starting a second verdict.
	decided      map[pcommon.TraceID]*list.Element
	decidedOrder *list.List // of pcommon.TraceID, oldest first
}

func newFactStore(cfg *Config) *factStore {
	return &factStore{
		maxTraces: cfg.NumTraces, maxSteps: cfg.MaxStepsPerTrace,
		decisionWait: cfg.DecisionWait, idleTimeout: cfg.TraceIdleTimeout,
		byID: map[pcommon.TraceID]*traceFacts{}, lru: list.New(),
		decided: map[pcommon.TraceID]*list.Element{}, decidedOrder: list.New(),
	}
}

// applied is what recording a batch changed besides the facts.
type applied struct {
	late     int           // agent spans of traces already judged
	evicted  []*traceFacts // traces pushed out by the bound, oldest first
	due      []*traceFacts // traces to judge now
	released []*traceFacts // traces that turned out to hold no agent run
}

// record applies a batch's observations: agent spans create or extend
// facts (agent-level spans are moved into them), roots set deadlines. It
// then takes out the traces of the batch that are due at now (those whose
// root arrived, with no decision wait).
func (s *factStore) record(obs []observation, now time.Time) applied {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out applied
	var rooted []*traceFacts
	for i := range obs {
		o := &obs[i]
		if _, done := s.decided[o.traceID]; done {
			if o.role != roleNone {
				out.late++
			}
			continue
		}
		f, ok := s.byID[o.traceID]
		if !ok {
			if o.role == roleNone {
				continue // a root span of a trace without agent spans
			}
			f = &traceFacts{traceID: o.traceID, seen: map[pcommon.SpanID]struct{}{}, held: ptrace.NewTraces()}
			f.elem = s.lru.PushBack(f)
			s.byID[o.traceID] = f
			for len(s.byID) > s.maxTraces {
				out.evicted = append(out.evicted, s.removeLocked(s.lru.Front().Value.(*traceFacts)))
			}
		} else {
			s.lru.MoveToBack(f.elem)
		}
		f.lastSeen = now
		if o.isRoot && f.rootAt.IsZero() {
			f.rootAt = now
			rooted = append(rooted, f)
		}
		if o.role == roleNone {
			continue
		}
		if _, dup := f.seen[o.spanID]; dup {
			o.held = o.role.held() // a retried agent span: keep only the copy held
			continue
		}
		f.seen[o.spanID] = struct{}{}
		f.user = append(f.user, o.user...)
		if o.step != nil {
			if len(f.steps) < s.maxSteps {
				f.steps = append(f.steps, *o.step)
			} else {
				f.stepsDropped++
			}
		}
		f.agent = f.agent || o.role == roleAgent
		if o.role.held() {
			rs := f.held.ResourceSpans().AppendEmpty()
			o.resource.CopyTo(rs.Resource())
			ss := rs.ScopeSpans().AppendEmpty()
			o.scope.CopyTo(ss.Scope())
			o.span.CopyTo(ss.Spans().AppendEmpty())
			o.held = true
		}
	}
	for _, f := range rooted {
		if s.byID[f.traceID] == f {
			s.takeIfDueLocked(f, now, &out.due, &out.released)
		}
	}
	return out
}

// takeDue removes and returns the traces whose deadline has passed.
func (s *factStore) takeDue(now time.Time) (due, released []*traceFacts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.byID {
		s.takeIfDueLocked(f, now, &due, &released)
	}
	return due, released
}

// takeIfDueLocked removes f when its deadline has passed: to be judged when
// it holds an agent span, else released.
func (s *factStore) takeIfDueLocked(f *traceFacts, now time.Time, due, released *[]*traceFacts) {
	if now.Before(f.deadline(s.decisionWait, s.idleTimeout)) {
		return
	}
	s.removeLocked(f)
	if !f.agentRun() {
		*released = append(*released, f)
		return
	}
	s.markDecidedLocked(f.traceID)
	*due = append(*due, f)
}

// agentRun reports whether the trace is an agent run to judge: it holds an
// agent span, or chains with steps under them.
func (f *traceFacts) agentRun() bool {
	return f.held.ResourceSpans().Len() > 0 && (f.agent || len(f.steps) > 0)
}

// takeAll removes and returns every trace: at shutdown, those holding
// agent spans are judged with what arrived.
func (s *factStore) takeAll() (due, released []*traceFacts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.byID {
		s.removeLocked(f)
		if !f.agentRun() {
			released = append(released, f)
			continue
		}
		due = append(due, f)
	}
	return due, released
}

func (s *factStore) markDecidedLocked(id pcommon.TraceID) {
	s.decided[id] = s.decidedOrder.PushBack(id)
	for s.decidedOrder.Len() > s.maxTraces {
		delete(s.decided, s.decidedOrder.Remove(s.decidedOrder.Front()).(pcommon.TraceID))
	}
}

func (s *factStore) removeLocked(f *traceFacts) *traceFacts {
	s.lru.Remove(f.elem)
	delete(s.byID, f.traceID)
	return f
}

func (s *factStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}
