// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusprocessor // import "github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor"

import (
	"cmp"
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

	"github.com/promptetheus/otelcol-promptetheus/extension/agentrulesextension"
	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
	"github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor/internal/metadata"
)

// scopeName is the instrumentation scope of the finding spans the processor adds.
const scopeName = "github.com/promptetheus/otelcol-promptetheus/processor/promptetheusprocessor"

// promptetheusProcessor judges agent traces from any source. Spans that are
// not an agent's pass untouched and cost no state. Of an agent trace it keeps
// compact facts and holds back its agent spans; decision_wait after the
// trace's root span (or trace_idle_timeout after its last span when the root
// lives elsewhere) it writes the verdict on the outermost agent span and
// emits it with the held spans and one rule_finding span per finding.
type promptetheusProcessor struct {
	cfg       *Config
	set       processor.Settings
	next      consumer.Traces
	telemetry *metadata.TelemetryBuilder
	judge     *agentrulesextension.Judge
	facts     *factStore
	now       func() time.Time

	stop chan struct{}
	wg   sync.WaitGroup
}

func newProcessor(cfg *Config, set processor.Settings, next consumer.Traces) (*promptetheusProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &promptetheusProcessor{
		cfg:       cfg,
		set:       set,
		next:      next,
		telemetry: tb,
		facts:     newFactStore(cfg),
		now:       time.Now,
		stop:      make(chan struct{}),
	}
	err = tb.RegisterProcessorPromptetheusTracesInMemoryCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(int64(p.facts.len()))
		return nil
	})
	return p, err
}

// Start finds the rules and starts judging traces as their deadlines pass.
func (p *promptetheusProcessor) Start(_ context.Context, host component.Host) error {
	judge, err := agentrulesextension.Lookup(host, p.cfg.Rules, p.set.TelemetrySettings)
	if err != nil {
		return err
	}
	p.judge = judge
	interval := min(max(min(cmp.Or(p.cfg.DecisionWait, p.cfg.TraceIdleTimeout), p.cfg.TraceIdleTimeout)/4, 50*time.Millisecond), time.Second)
	p.wg.Go(func() {
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-ticker.C:
				p.judgeDue(context.Background())
			}
		}
	})
	return nil
}

// judgeDue judges and emits the traces whose deadline has passed.
func (p *promptetheusProcessor) judgeDue(ctx context.Context) {
	due, released := p.facts.takeDue(p.now())
	p.emit(ctx, p.decide(ctx, due, released, ptrace.Traces{}))
}

// Shutdown judges the agent traces still held with what arrived of them,
// so that no span taken out of a batch is lost.
func (p *promptetheusProcessor) Shutdown(ctx context.Context) error {
	if p.judge != nil {
		close(p.stop)
		p.wg.Wait()
		due, released := p.facts.takeAll()
		p.emit(ctx, p.decide(ctx, due, released, ptrace.Traces{}))
	}
	p.telemetry.Shutdown()
	return nil
}

func (*promptetheusProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

func (p *promptetheusProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	obs := p.observe(ctx, td)
	if len(obs) == 0 {
		return p.next.ConsumeTraces(ctx, td)
	}
	res := p.facts.record(obs, p.now())
	if res.late > 0 {
		p.telemetry.ProcessorPromptetheusLateSpans.Add(ctx, int64(res.late))
	}
	removeHeld(td, obs)
	p.countEvicted(ctx, res.evicted, reasonCapacity)
	for _, f := range res.evicted {
		f.held.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	p.decide(ctx, res.due, res.released, td)
	if td.ResourceSpans().Len() == 0 {
		return nil // every span was an agent span held for its verdict
	}
	return p.next.ConsumeTraces(ctx, td)
}

// observe works out, without touching the store, what each span tells:
// agent spans with their steps and user-rule findings, and root spans.
func (p *promptetheusProcessor) observe(ctx context.Context, td ptrace.Traces) []observation {
	var obs []observation
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			for k := 0; k < ss.Spans().Len(); k++ {
				span := ss.Spans().At(k)
				role := roleOf(span)
				isRoot := span.ParentSpanID().IsEmpty()
				if role == roleNone && !isRoot {
					continue
				}
				o := observation{traceID: span.TraceID(), spanID: span.SpanID(), role: role, isRoot: isRoot}
				if role != roleNone {
					if role == roleStep {
						if step, ok := rules.StepFromSpan(span); ok {
							o.step = &step
						}
					}
					o.user = p.judge.MatchSpan(ctx, rs, ss, span, o.step)
					o.span, o.resource, o.scope = span, rs.Resource(), ss.Scope()
				}
				obs = append(obs, o)
			}
		}
	}
	return obs
}

// removeHeld takes the spans the store now holds out of the batch.
func removeHeld(td ptrace.Traces, obs []observation) {
	type spanKey struct {
		trace pcommon.TraceID
		span  pcommon.SpanID
	}
	held := map[spanKey]bool{}
	for i := range obs {
		if obs[i].held {
			held[spanKey{obs[i].traceID, obs[i].spanID}] = true
		}
	}
	if len(held) == 0 {
		return
	}
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			ss.Spans().RemoveIf(func(s ptrace.Span) bool { return held[spanKey{s.TraceID(), s.SpanID()}] })
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
}

// decide judges the due traces and appends their held spans and findings
// to out (a new batch when out is the zero value); released traces (no
// agent run after all) give their held spans back unjudged.
func (p *promptetheusProcessor) decide(ctx context.Context, due, released []*traceFacts, out ptrace.Traces) ptrace.Traces {
	p.countEvicted(ctx, released, reasonNoAgentSpan)
	if out == (ptrace.Traces{}) {
		out = ptrace.NewTraces()
	}
	for _, f := range due {
		p.judgeTrace(ctx, f)
		f.held.ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
	}
	for _, f := range released {
		f.held.ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
	}
	return out
}

// judgeTrace writes the verdict of a trace on its outermost held agent span
// and adds the finding spans to the held spans.
func (p *promptetheusProcessor) judgeTrace(ctx context.Context, f *traceFacts) {
	rootRS, root := runRoot(f.held)
	run := rules.Run{ID: f.traceID.String(), UserGoal: str(root.Attributes(), conventions.AttrUserGoal)}
	run.Agent = cmp.Or(str(root.Attributes(), conventions.AttrGenAIAgentName), str(rootRS.Resource().Attributes(), conventions.AttrServiceName))
	res := p.judge.Evaluate(run, f.steps, f.user)
	if f.stepsDropped > 0 {
		p.telemetry.ProcessorPromptetheusStepsDropped.Add(ctx, int64(f.stepsDropped))
	}
	rs := f.held.ResourceSpans().AppendEmpty()
	rootRS.Resource().CopyTo(rs.Resource())
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(scopeName)
	p.judge.WriteVerdict(root, &res, "", ss.Spans())
	for i := range res.Findings {
		p.telemetry.ProcessorPromptetheusFindings.Add(ctx, 1, metric.WithAttributes(
			attribute.String("rule", res.Findings[i].RuleID), attribute.String("severity", res.Findings[i].Severity.String())))
	}
	p.telemetry.ProcessorPromptetheusTracesJudged.Add(ctx, 1)
}

// runRoot is the held agent span that receives the verdict: one whose
// parent is not held (an agent nested in another is not the run), the
// earliest to start when there are several.
func runRoot(held ptrace.Traces) (ptrace.ResourceSpans, ptrace.Span) {
	ids := map[pcommon.SpanID]bool{}
	for i := 0; i < held.ResourceSpans().Len(); i++ {
		ids[spanOf(held.ResourceSpans().At(i)).SpanID()] = true
	}
	best := -1
	for i := 0; i < held.ResourceSpans().Len(); i++ {
		s := spanOf(held.ResourceSpans().At(i))
		if ids[s.ParentSpanID()] {
			continue
		}
		if best < 0 || s.StartTimestamp() < spanOf(held.ResourceSpans().At(best)).StartTimestamp() {
			best = i
		}
	}
	if best < 0 { // a cycle of parents: malformed, take the first
		best = 0
	}
	rs := held.ResourceSpans().At(best)
	return rs, spanOf(rs)
}

// spanOf is the one span of a held resource spans.
func spanOf(rs ptrace.ResourceSpans) ptrace.Span { return rs.ScopeSpans().At(0).Spans().At(0) }

// emit hands judged traces downstream from the processor's own goroutine.
func (p *promptetheusProcessor) emit(ctx context.Context, td ptrace.Traces) {
	if td == (ptrace.Traces{}) || td.SpanCount() == 0 {
		return
	}
	if err := p.next.ConsumeTraces(ctx, td); err != nil {
		p.telemetry.ProcessorPromptetheusSpansDropped.Add(ctx, int64(td.SpanCount()))
		p.set.Logger.Warn("Dropping judged agent spans refused by the next consumer", zap.Int("spans", td.SpanCount()), zap.Error(err))
	}
}

const (
	reasonCapacity    = "capacity"
	reasonNoAgentSpan = "no_agent_span"
)

func (p *promptetheusProcessor) countEvicted(ctx context.Context, facts []*traceFacts, reason string) {
	if len(facts) > 0 {
		p.telemetry.ProcessorPromptetheusTracesEvicted.Add(ctx, int64(len(facts)), metric.WithAttributes(attribute.String("reason", reason)))
	}
}
