// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package mapping

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/pricing"
	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
)

func llmCall(t *testing.T, seq int, payload string) *wire.Event {
	t.Helper()
	raw := fmt.Sprintf(`{"type":"llm_call","session_id":"r","timestamp":"2026-03-01T12:00:00Z","seq":%d,"idempotency_key":"r:n:%d","payload":%s}`, seq, seq, payload)
	ev, err := wire.DecodeEvent(json.RawMessage(raw), "r")
	require.NoError(t, err)
	return &ev
}

// TestRunCostAcrossBatches follows the receiver: a builder per batch, the
// summary taking each in (twice for the batch that closes the run), the root
// carrying the run's totals.
func TestRunCostAcrossBatches(t *testing.T) {
	prices, err := pricing.Load(nil)
	require.NoError(t, err)
	cfg := Config{Prices: prices}
	run := Run{Project: "p", ID: "r", Agent: "a"}
	sum := NewSummary()
	pending := NewPending()

	first := NewBuilder(&cfg, &run)
	for i, payload := range []string{`{"model":"gpt-4o","input_tokens":1000000}`, `{"model":"no-such-model","input_tokens":5}`} {
		ev := llmCall(t, i, payload)
		sum.Count(ev)
		first.Add(ev, nil, &pending, false)
	}
	assert.InDelta(t, 2.5, first.CostUSD(), 1e-12)
	assert.EqualValues(t, 1, first.UnpricedCalls())
	sum.Widen(first)
	sum.Widen(first)
	assert.InDelta(t, 2.5, sum.CostUSD, 1e-12, "a builder is taken in once")

	// The summary is stored as JSON between batches.
	stored, err := json.Marshal(sum)
	require.NoError(t, err)
	sum = Summary{}
	require.NoError(t, json.Unmarshal(stored, &sum))

	second := NewBuilder(&cfg, &run)
	ev := llmCall(t, 2, `{"model":"gpt-4o","output_tokens":1000000}`)
	sum.Count(ev)
	second.Add(ev, nil, &pending, false)
	sum.Widen(second)
	root := second.AddRoot(&sum, time.Time{}, "analyze")
	sum.Widen(second)

	cost, ok := root.Attributes().Get(conventions.AttrCostUSD)
	require.True(t, ok)
	assert.InDelta(t, 12.5, cost.Double(), 1e-12)
	unpriced, ok := root.Attributes().Get(conventions.AttrLLMUnpricedCount)
	require.True(t, ok)
	assert.EqualValues(t, 1, unpriced.Int())
	assert.EqualValues(t, 2, sum.PricedLLMCalls)
	_, ok = root.Attributes().Get(conventions.AttrGenAIProviderName)
	assert.False(t, ok, "the in-process invoke_agent span names no provider")
}

func TestNoPriceTableNoCost(t *testing.T) {
	run := Run{Project: "p", ID: "r"}
	b := NewBuilder(&Config{}, &run)
	sum := NewSummary()
	ev := llmCall(t, 0, `{"model":"gpt-4o","input_tokens":10}`)
	sum.Count(ev)
	b.AddEvent(ev)
	sum.Widen(b)
	root := b.AddRoot(&sum, time.Time{}, "analyze")
	for _, span := range []int{0, 1} {
		attrs := b.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(span).Attributes()
		_, ok := attrs.Get(conventions.AttrCostUSD)
		assert.False(t, ok)
	}
	_, ok := root.Attributes().Get(conventions.AttrLLMUnpricedCount)
	assert.False(t, ok, "without a table no call counts as unpriced")
	assert.Zero(t, b.UnpricedCalls())
}

// TestSummaryJSONCompatible: a summary stored before costs existed still
// loads, and a run without costs stores no cost fields.
func TestSummaryJSONCompatible(t *testing.T) {
	var old Summary
	require.NoError(t, json.Unmarshal([]byte(`{"last_seq":3,"events":4,"llm_calls":1,"tool_calls":0,"errors":0,"input_tokens":7,"output_tokens":8,"goal_seq":-1}`), &old))
	assert.EqualValues(t, 1, old.LLMCalls)
	assert.Zero(t, old.CostUSD)
	body, err := json.Marshal(NewSummary())
	require.NoError(t, err)
	assert.NotContains(t, string(body), "cost")
	assert.NotContains(t, string(body), "priced")
}

func TestSplitProvider(t *testing.T) {
	for in, want := range map[string][2]string{
		"gpt-4o":                     {"openai", "gpt-4o"},
		"openai/gpt-4o":              {"openai", "gpt-4o"},
		" Anthropic/claude-3-haiku ": {"anthropic", "claude-3-haiku"},
		"bedrock:amazon.nova-pro":    {"aws.bedrock", "amazon.nova-pro"},
		"meta-llama/Llama-3-8b":      {"", "meta-llama/Llama-3-8b"},
		"İİ/gpt-4o":                  {"openai", "İİ/gpt-4o"},
		"":                           {"", ""},
	} {
		provider, name := splitProvider(in)
		assert.Equal(t, want, [2]string{provider, name}, "%q", in)
	}
}
