// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package mapping // import "github.com/promptetheus/otelcol-promptetheus/internal/mapping"

import (
	"time"

	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
)

// Summary accumulates what the root span reports. It is serialisable, so a
// run's totals survive restarts.
type Summary struct {
	// Start and End bound the spans of the run.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// LastSeq is the highest seq seen, or -1 when there were no events.
	LastSeq      int64 `json:"last_seq"`
	Events       int64 `json:"events"`
	LLMCalls     int64 `json:"llm_calls"`
	ToolCalls    int64 `json:"tool_calls"`
	Errors       int64 `json:"errors"`
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
	// CostUSD is the price of the PricedLLMCalls; UnpricedLLMCalls had none
	// in the price table or reported no tokens. Both stay 0 without a table.
	CostUSD          float64 `json:"cost_usd,omitempty"`
	PricedLLMCalls   int64   `json:"priced_llm_calls,omitempty"`
	UnpricedLLMCalls int64   `json:"unpriced_llm_calls,omitempty"`
	// Goal is the goal_check with the highest seq, nil when there was none.
	Goal          *wire.GoalCheck `json:"goal,omitempty"`
	GoalSeq       int64           `json:"goal_seq"`
	SessionStatus string          `json:"session_status,omitempty"`
	SessionError  string          `json:"session_error,omitempty"`
}

// NewSummary returns the totals of a run with no events.
func NewSummary() Summary { return Summary{LastSeq: -1, GoalSeq: -1} }

// Count adds one accepted event to the totals.
func (s *Summary) Count(ev *wire.Event) {
	s.Events++
	s.LastSeq = max(s.LastSeq, ev.Seq)
	switch p := ev.Payload.(type) {
	case *wire.LLMCall:
		s.LLMCalls++
		if p.InputTokens != nil {
			s.InputTokens += *p.InputTokens
		}
		if p.OutputTokens != nil {
			s.OutputTokens += *p.OutputTokens
		}
	case *wire.ToolCall:
		s.ToolCalls++
	case *wire.ToolResult:
		if p.Failed() {
			s.Errors++
		}
	case *wire.Error:
		s.Errors++
	case *wire.GoalCheck:
		if p.Passed != nil && ev.Seq >= s.GoalSeq {
			s.GoalSeq = ev.Seq
			s.Goal = p
		}
	case *wire.SessionEnd:
		s.SessionStatus = p.Status
		s.SessionError = jsonText(p.Error)
		if s.SessionError == "null" {
			s.SessionError = ""
		}
	}
}

// Widen takes in what b built since the last call: the run's time range
// stretches over its spans, and the costs of its LLM calls add to the
// run's. Calling it again with the same builder adds nothing twice.
func (s *Summary) Widen(b *Builder) {
	s.CostUSD += b.untallied.usd
	s.PricedLLMCalls += b.untallied.priced
	s.UnpricedLLMCalls += b.untallied.unpriced
	b.untallied = callCosts{}
	for i := 0; i < b.spans.Len(); i++ {
		span := b.spans.At(i)
		if start := span.StartTimestamp().AsTime(); s.Start.IsZero() || start.Before(s.Start) {
			s.Start = start
		}
		if end := span.EndTimestamp().AsTime(); end.After(s.End) {
			s.End = end
		}
	}
}

func (s *Summary) goalFailed() bool { return s.Goal != nil && s.Goal.Passed != nil && !*s.Goal.Passed }
