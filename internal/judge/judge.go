// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package judge connects the Promptetheus receiver to the rules of the
// Promptetheus processor, so that one configuration judges a run whether it
// is analyzed on request or annotated as its root span passes through.
//
// The processor registers itself under its component ID (processors start
// before receivers); the receiver looks it up by the ID named in its config.
// When the receiver emits a root span it puts the run's durable steps in the
// request context, so the processor judges the run from them rather than
// from what it saw in memory (which a restart would have lost).
package judge // import "github.com/promptetheus/otelcol-promptetheus/internal/judge"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

// Judge evaluates a run.
type Judge interface {
	// Analyze judges a run from its steps. A processor adds the findings of
	// user rules it recorded for the trace.
	Analyze(traceID pcommon.TraceID, run rules.Run, steps []rules.Step) rules.Result
}

var (
	mu       sync.Mutex
	registry = map[component.ID]Judge{}
)

// Register makes j reachable under id until the returned func is called.
func Register(id component.ID, j Judge) (unregister func()) {
	mu.Lock()
	defer mu.Unlock()
	registry[id] = j
	return func() {
		mu.Lock()
		defer mu.Unlock()
		if registry[id] == j {
			delete(registry, id)
		}
	}
}

// Lookup returns the judge registered under id.
func Lookup(id component.ID) (Judge, bool) {
	mu.Lock()
	defer mu.Unlock()
	j, ok := registry[id]
	return j, ok
}

// Engine is a Judge of the built-in rules alone, for a receiver configured
// without a processor.
type Engine struct{ *rules.Engine }

// Analyze implements Judge.
func (e Engine) Analyze(_ pcommon.TraceID, run rules.Run, steps []rules.Step) rules.Result {
	return e.Evaluate(run, steps)
}

// Trajectory is a run as its receiver knows it.
type Trajectory struct {
	TraceID pcommon.TraceID
	Run     rules.Run
	Steps   []rules.Step
}

type trajectoryKey struct{}

// WithTrajectory returns a context carrying a run's durable steps, for the
// processor to judge the root span emitted with it.
func WithTrajectory(ctx context.Context, t *Trajectory) context.Context {
	return context.WithValue(ctx, trajectoryKey{}, t)
}

// TrajectoryFrom returns the steps carried for traceID, if any.
func TrajectoryFrom(ctx context.Context, traceID pcommon.TraceID) (*Trajectory, bool) {
	t, ok := ctx.Value(trajectoryKey{}).(*Trajectory)
	if !ok || t.TraceID != traceID {
		return nil, false
	}
	return t, true
}
