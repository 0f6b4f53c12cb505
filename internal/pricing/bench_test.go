// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package pricing

import (
	"testing"
	"time"
)

var benchNames = []struct{ name, provider, model string }{
	{"known", "openai", "gpt-4o-mini"},
	{"by_model_name", "", "claude-sonnet-4-20250514"},
	{"unknown", "openai", "no-such-model-2025"},
}

// BenchmarkCost is the per-LLM-call cost: a resolved (provider, model) from
// the cache, then the prices in force and the arithmetic.
func BenchmarkCost(b *testing.B) {
	table, err := Load(nil)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	for _, c := range benchNames {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				table.Cost(c.provider, c.model, 1200, 340, at)
			}
		})
	}
}

// BenchmarkResolve is the same lookup without the cache: matching the names
// against the table as the source does, the baseline for the cache.
func BenchmarkResolve(b *testing.B) {
	table, err := Load(nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range benchNames {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				table.resolve(c.provider, c.model)
			}
		})
	}
}

// BenchmarkLoad parses the embedded table, once per component start.
func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		if _, err := Load(nil); err != nil {
			b.Fatal(err)
		}
	}
}
