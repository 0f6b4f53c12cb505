// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package mapping

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/internal/pricing"
	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
)

var update = flag.Bool("update", false, "rewrite the expected OTLP files")

// goldenCase is one testdata/*.json input: a run and the events it received,
// in arrival order.
type goldenCase struct {
	Run struct {
		Project     string          `json:"project"`
		Workspace   string          `json:"workspace"`
		ID          string          `json:"id"`
		Agent       string          `json:"agent"`
		UserGoal    string          `json:"user_goal"`
		Environment string          `json:"environment"`
		Source      string          `json:"source"`
		Tags        []string        `json:"tags"`
		Metadata    json.RawMessage `json:"metadata"`
		Implicit    bool            `json:"implicit"`
	} `json:"run"`
	// EventsFile, when set, reads the events from a contract sample file
	// relative to the repository root instead of Events.
	EventsFile  string            `json:"events_file"`
	Events      []json.RawMessage `json:"events"`
	Artifacts   []Artifact        `json:"artifacts"`
	CreatedAt   time.Time         `json:"created_at"`
	FinalizedBy string            `json:"finalized_by"`
	Config      *struct {
		CaptureContent     bool   `json:"capture_content"`
		MaxAttributeLength int    `json:"max_attribute_length"`
		MaxArrayLength     int    `json:"max_array_length"`
		Provider           string `json:"provider"`
		// NoPrices maps without a price table.
		NoPrices bool `json:"no_prices"`
		// PriceOverrides replace the table's prices of some models.
		PriceOverrides []struct {
			Provider string  `json:"provider"`
			Model    string  `json:"model"`
			Input    float64 `json:"input_usd_per_mtok"`
			Output   float64 `json:"output_usd_per_mtok"`
		} `json:"price_overrides"`
	} `json:"config"`
}

// goldenConfig is the configuration a case maps with: content on, the
// receiver's default limits and the embedded price table, unless the case
// says otherwise.
func goldenConfig(t *testing.T, c *goldenCase) Config {
	cfg := Config{CaptureContent: true, MaxAttributeLength: 2048, MaxArrayLength: 128}
	var overrides []pricing.Override
	if c.Config != nil {
		cfg = Config{
			CaptureContent: c.Config.CaptureContent, MaxAttributeLength: c.Config.MaxAttributeLength,
			MaxArrayLength: c.Config.MaxArrayLength, Provider: c.Config.Provider,
		}
		for _, o := range c.Config.PriceOverrides {
			overrides = append(overrides, pricing.Override{Provider: o.Provider, Model: o.Model, InputUSDPerMTok: o.Input, OutputUSDPerMTok: o.Output})
		}
		if c.Config.NoPrices {
			return cfg
		}
	}
	var err error
	cfg.Prices, err = pricing.Load(overrides)
	require.NoError(t, err)
	return cfg
}

// buildRun maps a whole run the way the receiver does: every event in
// arrival order, pairs through pending halves, then the root.
func buildRun(t *testing.T, c *goldenCase) ptrace.Traces {
	cfg := goldenConfig(t, c)
	run := Run{
		Project: c.Run.Project, Workspace: c.Run.Workspace, ID: c.Run.ID, Agent: c.Run.Agent,
		UserGoal: c.Run.UserGoal, Environment: c.Run.Environment, Source: c.Run.Source,
		Tags: c.Run.Tags, Metadata: c.Run.Metadata, Implicit: c.Run.Implicit,
	}
	b := NewBuilder(&cfg, &run)
	sum := NewSummary()
	pending := NewPending()
	for i, raw := range c.Events {
		ev, err := wire.DecodeEvent(raw, run.ID)
		require.NoError(t, err, "event %d", i)
		sum.Count(&ev)
		b.Add(&ev, raw, &pending, false)
	}
	for i := range c.Artifacts {
		b.AddArtifact(&c.Artifacts[i])
	}
	b.FlushPending(&pending, run.ID)
	sum.Widen(b)
	b.AddRoot(&sum, c.CreatedAt, c.FinalizedBy)
	return b.Traces()
}

func TestGoldenRuns(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, inputs)
	for _, input := range inputs {
		name := strings.TrimSuffix(filepath.Base(input), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(input)
			require.NoError(t, err)
			var c goldenCase
			require.NoError(t, json.Unmarshal(body, &c))
			if c.EventsFile != "" {
				events, err := os.ReadFile(filepath.Join("..", "..", c.EventsFile))
				require.NoError(t, err)
				require.NoError(t, json.Unmarshal(events, &c.Events))
			}
			got := buildRun(t, &c)

			expectedFile := filepath.Join("testdata", name+".yaml")
			if *update {
				require.NoError(t, golden.WriteTraces(t, expectedFile, got))
			}
			expected, err := golden.ReadTraces(expectedFile)
			require.NoError(t, err)
			require.NoError(t, ptracetest.CompareTraces(expected, got, ptracetest.IgnoreSpansOrder()))

			// Deterministic: a replay yields byte-identical spans.
			again := buildRun(t, &c)
			m := ptrace.ProtoMarshaler{}
			first, err := m.MarshalTraces(got)
			require.NoError(t, err)
			second, err := m.MarshalTraces(again)
			require.NoError(t, err)
			require.Equal(t, first, second)
		})
	}
}
