// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package pricing

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// calcPriceCase is one row of testdata/calcprice.json: what the npm
// package's own calcPrice answered (see scripts/golden.mjs).
type calcPriceCase struct {
	provider, model     string
	input, output       int64
	at                  time.Time
	usd                 *float64
	providerID, modelID string
}

func (c *calcPriceCase) UnmarshalJSON(b []byte) error {
	var row []json.RawMessage
	if err := json.Unmarshal(b, &row); err != nil {
		return err
	}
	if len(row) != 8 {
		return fmt.Errorf("row of %d fields", len(row))
	}
	var input, output *int64
	var ms int64
	var result any
	for i, dst := range []any{&c.provider, &c.model, &input, &output, &ms, &result, &c.providerID, &c.modelID} {
		if err := json.Unmarshal(row[i], dst); err != nil {
			return err
		}
	}
	switch r := result.(type) {
	case float64:
		c.usd = &r
	case string:
		// calcPrice threw: Cost answers that as no price.
	}
	if input != nil {
		c.input = *input
	}
	if output != nil {
		c.output = *output
	}
	c.at = time.UnixMilli(ms).UTC()
	return nil
}

func loadGolden(t testing.TB) []calcPriceCase {
	body, err := os.ReadFile(filepath.Join("testdata", "calcprice.json"))
	require.NoError(t, err)
	var cases []calcPriceCase
	require.NoError(t, json.Unmarshal(body, &cases))
	return cases
}

func TestCostAgreesWithCalcPrice(t *testing.T) {
	table, err := Load(nil)
	require.NoError(t, err)
	cases := loadGolden(t)
	require.Greater(t, len(cases), 2000)
	var priced, unpriced int
	for _, c := range cases {
		name := fmt.Sprintf("%q/%q in=%d out=%d at=%s", c.provider, c.model, c.input, c.output, c.at.Format(time.RFC3339Nano))
		got, ok := table.Cost(c.provider, c.model, c.input, c.output, c.at)
		if c.usd == nil {
			unpriced++
			assert.False(t, ok, "%s: calcPrice has no price, got %v", name, got)
			continue
		}
		priced++
		if assert.True(t, ok, "%s: calcPrice says %v (%s/%s)", name, *c.usd, c.providerID, c.modelID) {
			// The same operations in the same order: the same bits.
			assert.Equal(t, *c.usd, got, name)
		}
	}
	assert.Greater(t, priced, 2000)
	assert.Greater(t, unpriced, 100)
}

// TestResolvesTheSameModel checks that the lookup picks the very model
// calcPrice picked, not just one with the same price.
func TestResolvesTheSameModel(t *testing.T) {
	table, err := Load(nil)
	require.NoError(t, err)
	// calcPrice reports the provider asked for, which may hold the model
	// only through a fallback provider: compare models.
	modelOf := map[*schedule]string{}
	for i := range table.providers {
		p := &table.providers[i]
		for j := range p.Models {
			modelOf[&p.Models[j].Prices] = p.Models[j].ID
		}
	}
	for _, c := range loadGolden(t) {
		if c.usd == nil {
			continue
		}
		s := table.lookup(c.provider, c.model)
		require.NotNil(t, s, "%q/%q", c.provider, c.model)
		assert.Equal(t, c.modelID, modelOf[s], "%q/%q", c.provider, c.model)
	}
}

func TestVersion(t *testing.T) {
	table, err := Load(nil)
	require.NoError(t, err)
	assert.Equal(t, "@pydantic/genai-prices@0.1.8", table.Version())
}

func TestSemanticConventionsProviderNames(t *testing.T) {
	table, err := Load(nil)
	require.NoError(t, err)
	at := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	cases := []struct{ semconv, id, model string }{
		{"openai", "openai", "gpt-4o"},
		{"anthropic", "anthropic", "claude-sonnet-4-20250514"},
		{"gcp.gemini", "google", "gemini-2.5-pro"},
		{"gcp.vertex_ai", "google", "gemini-2.5-flash"},
		{"gcp.gen_ai", "google", "gemini-2.5-flash"},
		{"aws.bedrock", "aws", "amazon.nova-pro-v1:0"},
		{"azure.ai.openai", "azure", "gpt-4o"},
		{"mistral_ai", "mistral", "mistral-large-latest"},
		{"x_ai", "x-ai", "grok-3"},
		{"moonshot_ai", "moonshotai", "kimi-k2-0905-preview"},
		{"deepseek", "deepseek", "deepseek-chat"},
	}
	for _, c := range cases {
		want, ok := table.Cost(c.id, c.model, 1000, 100, at)
		require.True(t, ok, "%s/%s is in the table", c.id, c.model)
		got, ok := table.Cost(c.semconv, c.model, 1000, 100, at)
		assert.True(t, ok, c.semconv)
		assert.Equal(t, want, got, c.semconv)
	}
	_, ok := table.Cost("ibm.watsonx.ai", "granite-13b", 1000, 100, at)
	assert.False(t, ok, "a provider the table does not know prices nothing")
}

func TestCostExamples(t *testing.T) {
	table, err := Load(nil)
	require.NoError(t, err)
	at := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	// claude-opus-4-6 until 2026-03-13: 5 and 25 USD per million tokens, 10
	// and 37.5 above 200k input tokens; the tier follows the input tokens for
	// both. From that date on, 5 and 25 flat.
	usd, ok := table.Cost("anthropic", "claude-opus-4-6", 1_000_000, 0, at)
	require.True(t, ok)
	assert.InDelta(t, 10.0, usd, 1e-12)
	usd, _ = table.Cost("anthropic", "claude-opus-4-6", 200_000, 1_000_000, at)
	assert.InDelta(t, 1.0+25.0, usd, 1e-12)
	usd, _ = table.Cost("anthropic", "claude-opus-4-6", 200_001, 1_000_000, at)
	assert.InDelta(t, 200_001*10.0/1e6+37.5, usd, 1e-12)
	usd, _ = table.Cost("anthropic", "claude-opus-4-6", 1_000_000, 0, time.Date(2026, 3, 13, 0, 0, 0, 0, time.UTC))
	assert.InDelta(t, 5.0, usd, 1e-12)

	_, ok = table.Cost("openai", "no-such-model", 10, 10, at)
	assert.False(t, ok)
	_, ok = table.Cost("", "no-such-model", 10, 10, at)
	assert.False(t, ok)
	_, ok = table.Cost("openai", "gpt-4o", -1, 10, at)
	assert.False(t, ok, "negative counts have no price")
	usd, ok = table.Cost("openai", "gpt-4o", 0, 0, at)
	assert.True(t, ok)
	assert.Zero(t, usd, "a priced model costs nothing for no tokens")
}

func TestTimeOfDayPrices(t *testing.T) {
	table, err := Load(nil)
	require.NoError(t, err)
	day := func(h, m int) time.Time { return time.Date(2026, 9, 1, h, m, 0, 0, time.UTC) }
	// deepseek-chat has a discount from 16:30 to 00:30 UTC, across midnight.
	peak, _ := table.Cost("deepseek", "deepseek-chat", 1_000_000, 0, day(12, 0))
	offPeak, _ := table.Cost("deepseek", "deepseek-chat", 1_000_000, 0, day(23, 0))
	afterMidnight, _ := table.Cost("deepseek", "deepseek-chat", 1_000_000, 0, day(0, 10))
	assert.Less(t, offPeak, peak)
	assert.Equal(t, offPeak, afterMidnight)
}

func TestParseTimeOfDay(t *testing.T) {
	for in, want := range map[string]float64{
		"00:30:00Z": 1800, "16:30:00Z": 59400, "23:59:59.5Z": 86399.5,
		"01:00:00+02:00": 82800, "22:00:00-03:00": 3600,
	} {
		got, err := parseTimeOfDay(in)
		require.NoError(t, err, in)
		assert.InDelta(t, want, got, 1e-9, in)
	}
	for _, in := range []string{"24:00:00Z", "12:60:00Z", "12:00:60Z", "12:00:00", "12:00:00+24:00", "1:00:00Z"} {
		_, err := parseTimeOfDay(in)
		assert.Error(t, err, in)
	}
}

func TestMatchClauses(t *testing.T) {
	parse := func(s string) matcher {
		var m matcher
		require.NoError(t, json.Unmarshal([]byte(s), &m), s)
		return m
	}
	cases := []struct {
		clause string
		yes    []string
		no     []string
	}{
		{`{"equals":"GPT-4o"}`, []string{"gpt-4o"}, []string{"gpt-4o-mini"}},
		{`{"starts_with":"Claude-"}`, []string{"claude-3"}, []string{"xclaude-3"}},
		{`{"ends_with":"-Latest"}`, []string{"mistral-large-latest"}, []string{"latest-x"}},
		{`{"contains":"gemini"}`, []string{"models/gemini-pro"}, []string{"gemma"}},
		{`{"regex":"^o[134]"}`, []string{"o3-mini", "o1"}, []string{"o2", "gpt-o3"}},
		{`{"or":[{"equals":"a"},{"equals":"b"}]}`, []string{"a", "b"}, []string{"c"}},
		{`{"and":[{"contains":"huggingface"},{"contains":"groq"}]}`, []string{"huggingface-groq"}, []string{"groq"}},
		// The source reads `or` before `equals` when both are given.
		{`{"equals":"x","or":[{"equals":"y"}]}`, []string{"y"}, []string{"x"}},
		{`{}`, nil, []string{"", "a"}},
		// A leading negative lookahead, which RE2 lacks.
		{`{"regex":"^(?![^/]+/)(?:labs-)?(?:mi|code)stral"}`, []string{"mistral-large", "labs-codestral"}, []string{"mistralai/mistral-large", "x-mistral"}},
		{`{"regex":"^(?!.*-[tT][tT][sS](?:$|-))"}`, []string{"voxtral-mini", "tts"}, []string{"voxtral-mini-tts", "a-tts-2"}},
		{`{"regex":"^(?!a(b)[)]c)x?"}`, []string{"x", "ab)cx"[3:]}, []string{"ab)c"}},
	}
	for _, c := range cases {
		m := parse(c.clause)
		for _, s := range c.yes {
			assert.True(t, m.match(s), "%s should match %q", c.clause, s)
		}
		for _, s := range c.no {
			assert.False(t, m.match(s), "%s should not match %q", c.clause, s)
		}
	}
	var m matcher
	assert.Error(t, json.Unmarshal([]byte(`{"regex":"^(?!abc"}`), &m), "unbalanced lookahead")
	assert.Error(t, json.Unmarshal([]byte(`{"regex":"(?<=a)b"}`), &m), "lookbehind is not RE2")
}

func TestExpandDates(t *testing.T) {
	for in, want := range map[string]string{
		"claude-3-5-sonnet-20241022":        "claude-3-5-sonnet-2024-10-22",
		"a-20240101-20250202":               "a-2024-01-01-2025-02-02",
		"anthropic.claude-v2-20240620-v1:0": "anthropic.claude-v2-2024-06-20-v1:0",
		"x-20240620:1":                      "x-2024-06-20:1",
		"x-20240231":                        "x-20240231",
		"x-20240620b":                       "x-20240620b",
		"x-19990101":                        "x-19990101",
		"gpt-4o":                            "gpt-4o",
	} {
		assert.Equal(t, want, expandDates(in), in)
	}
}

func TestOverrides(t *testing.T) {
	at := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	table, err := Load([]Override{
		{Provider: "OpenAI", Model: " GPT-4o ", InputUSDPerMTok: 1, OutputUSDPerMTok: 2},
		{Model: "in-house-llm", InputUSDPerMTok: 0.5, OutputUSDPerMTok: 0.25},
	})
	require.NoError(t, err)
	usd, ok := table.Cost("openai", "gpt-4o", 1_000_000, 1_000_000, at)
	require.True(t, ok)
	assert.InDelta(t, 3.0, usd, 1e-12)
	usd, ok = table.Cost("my-gateway", "In-House-LLM", 2_000_000, 4_000_000, at)
	require.True(t, ok, "an override without a provider applies to every provider")
	assert.InDelta(t, 2.0, usd, 1e-12)
	base, _ := Load(nil)
	want, _ := base.Cost("azure", "gpt-4o", 1_000_000, 0, at)
	got, _ := table.Cost("azure", "gpt-4o", 1_000_000, 0, at)
	assert.Equal(t, want, got, "an override names its provider")

	for _, bad := range [][]Override{
		{{Model: ""}},
		{{Model: "m", InputUSDPerMTok: -1}},
		{{Model: "m", OutputUSDPerMTok: math.Inf(1)}},
		{{Model: "m", InputUSDPerMTok: math.NaN()}},
		{{Model: "m"}, {Model: "M "}},
	} {
		_, err := Load(bad)
		assert.Error(t, err, "%+v", bad)
	}
}

func TestLookupCacheIsBoundedAndConcurrent(t *testing.T) {
	table, err := Load(nil)
	require.NoError(t, err)
	at := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range maxResolved {
				_, ok := table.Cost("openai", fmt.Sprintf("made-up-%d-%d", g, i), 1, 1, at)
				assert.False(t, ok)
				_, ok = table.Cost("openai", "gpt-4o", 1, 1, at)
				assert.True(t, ok)
			}
		}()
	}
	wg.Wait()
	table.mu.RLock()
	defer table.mu.RUnlock()
	assert.LessOrEqual(t, len(table.resolved), maxResolved)
}
