// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusprocessor // import "github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor"

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/judge"
	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
	"github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor/internal/metadata"
)

// promptetheusProcessor streams spans through, keeping compact facts per
// trace. Span rules fire as each span passes; trace rules fire when the root
// span arrives (or the trace goes idle), and the verdict is written on the
// root and as rule_finding spans.
type promptetheusProcessor struct {
	cfg       *Config
	id        component.ID
	next      consumer.Traces
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	engine    *rules.Engine
	userRules []userRule
	facts     *factStore
	now       func() time.Time

	unregister       func()
	warnNoTrajectory sync.Once
	stop             chan struct{}
	wg               sync.WaitGroup
}

var _ judge.Judge = (*promptetheusProcessor)(nil)

func newProcessor(cfg *Config, set processor.Settings, next consumer.Traces) (*promptetheusProcessor, error) {
	userRules, err := newUserRules(cfg.UserRules, set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &promptetheusProcessor{
		cfg:       cfg,
		id:        set.ID,
		next:      next,
		logger:    set.Logger,
		telemetry: tb,
		engine:    rules.NewEngine(cfg.Rules),
		userRules: userRules,
		facts:     newFactStore(cfg.NumTraces),
		now:       time.Now,
		stop:      make(chan struct{}),
	}
	err = tb.RegisterProcessorPromptetheusTracesInMemoryCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(int64(p.facts.len()))
		return nil
	})
	return p, err
}

// Start registers the processor's rules for the receiver's analyze and
// starts the idle sweep.
func (p *promptetheusProcessor) Start(context.Context, component.Host) error {
	p.unregister = judge.Register(p.id, p)
	interval := min(max(p.cfg.TraceIdleTimeout/4, 100*time.Millisecond), 10*time.Second)
	p.wg.Go(func() {
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-ticker.C:
				p.sweepIdle(context.Background())
			}
		}
	})
	return nil
}

// Shutdown stops the sweep. Facts of traces still open are dropped: their
// spans already went through.
func (p *promptetheusProcessor) Shutdown(context.Context) error {
	if p.unregister != nil {
		p.unregister()
		close(p.stop)
		p.wg.Wait()
	}
	p.telemetry.Shutdown()
	return nil
}

func (*promptetheusProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// Analyze implements judge.Judge: the built-in rules over the given steps,
// plus the user-rule findings this processor recorded for the trace.
func (p *promptetheusProcessor) Analyze(traceID pcommon.TraceID, run rules.Run, steps []rules.Step) rules.Result {
	res := p.engine.Evaluate(run, steps)
	_, user := p.facts.snapshot(traceID)
	res.Findings = append(res.Findings, user...)
	rules.SortFindings(res.Findings)
	return res
}

type rootRef struct {
	res   pcommon.Resource
	scope string
	span  ptrace.Span
}

func (p *promptetheusProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	now := p.now()
	w := newFindingWriter(td)
	var roots []rootRef
	// Only the resource spans received: the writer appends findings after them.
	for i, n := 0, td.ResourceSpans().Len(); i < n; i++ {
		rs := td.ResourceSpans().At(i)
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			// Our receiver keeps the steps of its runs durably and hands them
			// over with the root: holding them here too would double the
			// memory a run costs.
			receiverOwned := ss.Scope().Name() == mapping.ScopeName
			for k := 0; k < ss.Spans().Len(); k++ {
				span := ss.Spans().At(k)
				isRoot := span.ParentSpanID().IsEmpty()
				step, isStep := rules.StepFromSpan(span)
				ref := rules.Step{Seq: -1, SpanID: rules.SpanRef(span.SpanID()), End: int64(span.EndTimestamp())}
				if isStep {
					ref = step
				}
				user := p.matchUserRules(ctx, rs, ss, span, &ref)
				var stepPtr *rules.Step
				var immediate []rules.Finding
				if isStep {
					immediate = p.engine.StepFindings(&step)
					if !receiverOwned {
						stepPtr = &step
					}
				}
				evicted := p.facts.record(span.TraceID(), rs.Resource(), stepPtr, user, isRoot, now)
				p.countEvicted(ctx, evicted, "capacity")
				immediate = append(immediate, user...)
				w.write(rs.Resource(), span.TraceID(), span.SpanID(), span.EndTimestamp(), runIDOf(span), immediate)
				p.countFindings(ctx, immediate)
				if isRoot {
					roots = append(roots, rootRef{res: rs.Resource(), scope: ss.Scope().Name(), span: span})
				}
			}
		}
	}
	for _, root := range roots {
		p.judgeRoot(ctx, w, root)
	}
	return p.next.ConsumeTraces(ctx, td)
}

// judgeRoot evaluates the trace rules when a root span arrives. The durable
// steps a receiver passed along win over the facts seen in memory.
func (p *promptetheusProcessor) judgeRoot(ctx context.Context, w *findingWriter, root rootRef) {
	traceID := root.span.TraceID()
	steps, user := p.facts.snapshot(traceID)
	run := runOf(root.span)
	if t, ok := judge.TrajectoryFrom(ctx, traceID); ok {
		run, steps = t.Run, t.Steps
	} else if root.scope == mapping.ScopeName {
		p.warnNoTrajectory.Do(func() {
			p.logger.Warn("The root span of a Promptetheus run arrived without its steps: put the promptetheus processor " +
				"right after the receivers, before any batching, or runs are judged without their events")
		})
	}
	res := p.engine.Evaluate(run, steps)
	traceFindings := notImmediate(res.Findings)
	res.Findings = append(res.Findings, user...)
	rules.SortFindings(res.Findings)
	annotateRoot(root.span, &res, p.cfg.ErrorSeverity)
	w.write(root.res, traceID, root.span.SpanID(), root.span.EndTimestamp(), run.ID, traceFindings)
	p.countFindings(ctx, traceFindings)
	p.telemetry.ProcessorPromptetheusTracesEvaluated.Add(ctx, 1)
}

// sweepIdle forgets traces idle for longer than the timeout; one that never
// showed its root is judged now, its findings hung off its first span.
func (p *promptetheusProcessor) sweepIdle(ctx context.Context) {
	idle := p.facts.idle(p.now().Add(-p.cfg.TraceIdleTimeout))
	for _, f := range idle {
		if f.rootSeen || len(f.steps) == 0 {
			continue
		}
		p.countEvicted(ctx, []*traceFacts{f}, "idle")
		rules.SortSteps(f.steps)
		first := f.steps[0]
		parent := pcommon.SpanID(first.SpanID)
		res := p.engine.Evaluate(rules.Run{ID: f.traceID.String()}, f.steps)
		findings := notImmediate(res.Findings)
		if len(findings) == 0 {
			continue
		}
		td := ptrace.NewTraces()
		newFindingWriter(td).write(f.resource, f.traceID, parent, pcommon.Timestamp(first.End), "", findings)
		if err := p.next.ConsumeTraces(ctx, td); err != nil {
			p.logger.Warn("Dropping findings of an idle trace", zap.Stringer("trace_id", f.traceID), zap.Error(err))
			continue
		}
		p.countFindings(ctx, findings)
		p.telemetry.ProcessorPromptetheusTracesEvaluated.Add(ctx, 1)
	}
}

func notImmediate(findings []rules.Finding) []rules.Finding {
	var out []rules.Finding
	for _, f := range findings {
		if !f.Immediate {
			out = append(out, f)
		}
	}
	return out
}

// runOf reads what the rules need of a run from its root span.
func runOf(root ptrace.Span) rules.Run {
	attrs := root.Attributes()
	run := rules.Run{ID: runIDOf(root)}
	if v, ok := attrs.Get(conventions.AttrUserGoal); ok {
		run.UserGoal = v.AsString()
	}
	if v, ok := attrs.Get(conventions.AttrGenAIAgentName); ok {
		run.Agent = v.AsString()
	}
	return run
}

func runIDOf(span ptrace.Span) string {
	if v, ok := span.Attributes().Get(conventions.AttrTraceID); ok {
		return v.AsString()
	}
	return ""
}

func (p *promptetheusProcessor) countFindings(ctx context.Context, findings []rules.Finding) {
	for i := range findings {
		p.telemetry.ProcessorPromptetheusFindings.Add(ctx, 1, metric.WithAttributes(
			attribute.String("rule", findings[i].RuleID), attribute.String("severity", findings[i].Severity.String())))
	}
}

func (p *promptetheusProcessor) countEvicted(ctx context.Context, evicted []*traceFacts, reason string) {
	n := 0
	for _, f := range evicted {
		if !f.rootSeen {
			n++
		}
	}
	if n > 0 {
		p.telemetry.ProcessorPromptetheusTracesEvicted.Add(ctx, int64(n), metric.WithAttributes(attribute.String("reason", reason)))
	}
}
