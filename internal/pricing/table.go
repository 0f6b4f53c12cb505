// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package pricing // import "github.com/promptetheus/otelcol-promptetheus/internal/pricing"

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"time"
)

var (
	//go:embed data/prices.json
	pricesJSON []byte
	//go:embed data/VERSION
	versionFile string
)

// Override sets the price of one model, replacing the table's.
type Override struct {
	// Provider is a gen_ai.provider.name; empty matches every provider.
	Provider string
	// Model is the model name as calls report it (case and surrounding
	// spaces do not matter).
	Model string
	// InputUSDPerMTok and OutputUSDPerMTok are USD per million tokens.
	InputUSDPerMTok  float64
	OutputUSDPerMTok float64
}

type provider struct {
	ID            string   `json:"id"`
	ProviderMatch *matcher `json:"provider_match"`
	ModelMatch    *matcher `json:"model_match"`
	Models        []model  `json:"models"`
	// FallbackModelProviders are searched, by id, for a model this provider
	// does not list (one level deep).
	FallbackModelProviders []string `json:"fallback_model_providers"`
}

type model struct {
	ID     string   `json:"id"`
	Match  matcher  `json:"match"`
	Prices schedule `json:"prices"`
}

type lookupKey struct{ provider, model string }

// maxResolved bounds the cache of resolved (provider, model) names: clients
// choose model names, so the set is not bounded by the table.
const maxResolved = 4096

// Table prices LLM calls. It is safe for concurrent use.
type Table struct {
	version   string
	providers []provider
	overrides map[lookupKey]*schedule

	mu       sync.RWMutex
	resolved map[lookupKey]*schedule // nil value: the model has no price
}

// Load parses the embedded price table and applies overrides.
func Load(overrides []Override) (*Table, error) {
	t := &Table{
		version:   strings.TrimSpace(versionFile),
		overrides: make(map[lookupKey]*schedule, len(overrides)),
		resolved:  map[lookupKey]*schedule{},
	}
	if err := json.Unmarshal(pricesJSON, &t.providers); err != nil {
		return nil, fmt.Errorf("price table %s: %w", t.version, err)
	}
	if len(t.providers) == 0 {
		return nil, errNoData
	}
	for i, o := range overrides {
		key := lookupKey{normalize(o.Provider), normalize(o.Model)}
		switch {
		case key.model == "":
			return nil, fmt.Errorf("price override %d: model is empty", i)
		case !validPrice(o.InputUSDPerMTok) || !validPrice(o.OutputUSDPerMTok):
			return nil, fmt.Errorf("price override for %q: prices must be finite and not negative", o.Model)
		case t.overrides[key] != nil:
			return nil, fmt.Errorf("price override for %q of provider %q is given twice", o.Model, o.Provider)
		}
		t.overrides[key] = &schedule{fixed: &modelPrice{
			input:  &unitPrice{base: o.InputUSDPerMTok},
			output: &unitPrice{base: o.OutputUSDPerMTok},
		}}
	}
	return t, nil
}

func validPrice(p float64) bool { return p >= 0 && !math.IsInf(p, 0) && !math.IsNaN(p) }

// Version names the price data: the npm package and version it came from.
func (t *Table) Version() string { return t.version }

// Cost is the price in USD of one call of model through provider (a
// gen_ai.provider.name, or empty to find the provider from the model name)
// with the given token counts, at the prices in force at time at. ok is
// false when the model has no price: cost unknown, not zero.
func (t *Table) Cost(provider, model string, inputTokens, outputTokens int64, at time.Time) (usd float64, ok bool) {
	if inputTokens < 0 || outputTokens < 0 {
		return 0, false
	}
	s := t.lookup(provider, model)
	if s == nil {
		return 0, false
	}
	return s.at(at).cost(inputTokens, outputTokens), true
}

// lookup resolves a (provider, model) pair once and remembers the answer.
func (t *Table) lookup(provider, model string) *schedule {
	key := lookupKey{provider, model}
	t.mu.RLock()
	s, ok := t.resolved[key]
	t.mu.RUnlock()
	if ok {
		return s
	}
	s = t.resolve(provider, model)
	t.mu.Lock()
	if len(t.resolved) >= maxResolved {
		clear(t.resolved)
	}
	t.resolved[key] = s
	t.mu.Unlock()
	return s
}

// providerAliases maps gen_ai.provider.name values of the semantic
// conventions to the ids of the price data where they differ.
var providerAliases = map[string]string{
	"aws.bedrock":        "aws",
	"azure.ai.inference": "azure",
	"azure.ai.openai":    "azure",
	"gcp.gemini":         "google",
	"gcp.gen_ai":         "google",
	"gcp.vertex_ai":      "google",
	"mistral_ai":         "mistral",
	"moonshot_ai":        "moonshotai",
	"x_ai":               "x-ai",
}

func normalize(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// resolve finds the prices of a model as the source's calcPrice does: the
// named provider (by id, then by its provider match) or else the first
// provider whose model match takes the model name; then the provider's
// first model whose match takes the name, its fallback providers' models,
// and last the name with compact dates (-20250514) written -2025-05-14.
func (t *Table) resolve(providerName, modelName string) *schedule {
	if s := t.override(providerName, modelName); s != nil {
		return s
	}
	name := normalize(modelName)
	if alias, ok := providerAliases[normalize(providerName)]; ok {
		providerName = alias
	}
	// LiteLLM names models "provider/model".
	if strings.ToLower(providerName) == "litellm" {
		if prefix, rest, ok := strings.Cut(name, "/"); ok && prefix != "" && rest != "" && t.providerByName(prefix) != nil {
			providerName, name = prefix, rest
		}
	}
	var p *provider
	if providerName != "" {
		p = t.providerByName(providerName)
		if p == nil && strings.ToLower(providerName) != "litellm" {
			return nil
		}
	}
	if p == nil && name != "" {
		for i := range t.providers {
			if m := t.providers[i].ModelMatch; m != nil && m.match(name) {
				p = &t.providers[i]
				break
			}
		}
	}
	if p == nil {
		return nil
	}
	if m := t.model(p, name, true); m != nil {
		return &m.Prices
	}
	if dated := expandDates(name); dated != name {
		if m := t.model(p, dated, true); m != nil {
			return &m.Prices
		}
	}
	return nil
}

func (t *Table) override(providerName, modelName string) *schedule {
	if len(t.overrides) == 0 {
		return nil
	}
	name := normalize(modelName)
	if s := t.overrides[lookupKey{normalize(providerName), name}]; s != nil {
		return s
	}
	return t.overrides[lookupKey{"", name}]
}

func (t *Table) providerByName(name string) *provider {
	name = normalize(name)
	for i := range t.providers {
		if t.providers[i].ID == name {
			return &t.providers[i]
		}
	}
	for i := range t.providers {
		if m := t.providers[i].ProviderMatch; m != nil && m.match(name) {
			return &t.providers[i]
		}
	}
	return nil
}

func (t *Table) model(p *provider, name string, fallback bool) *model {
	for i := range p.Models {
		if p.Models[i].Match.match(name) {
			return &p.Models[i]
		}
	}
	if !fallback {
		return nil
	}
	for _, id := range p.FallbackModelProviders {
		for i := range t.providers {
			if t.providers[i].ID == id {
				if m := t.model(&t.providers[i], name, false); m != nil {
					return m
				}
				break
			}
		}
	}
	return nil
}

// compactDate is a -YYYYMMDD date in a model name; it stands as a date only
// when followed by '-', ':' or the end of the name.
var compactDate = regexp.MustCompile(`-(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])`)

// expandDates writes the real calendar dates among name's -YYYYMMDD as
// -YYYY-MM-DD, the form the price data names dated models by.
func expandDates(name string) string {
	var b strings.Builder
	last := 0
	for _, m := range compactDate.FindAllStringSubmatchIndex(name, -1) {
		end := m[1]
		if end < len(name) && name[end] != '-' && name[end] != ':' {
			continue
		}
		y, mo, d := name[m[2]:m[3]], name[m[4]:m[5]], name[m[6]:m[7]]
		if _, err := time.Parse(time.DateOnly, y+"-"+mo+"-"+d); err != nil {
			continue // not a day of the calendar, such as -20250231
		}
		b.WriteString(name[last:m[0]])
		b.WriteString("-" + y + "-" + mo + "-" + d)
		last = end
	}
	if last == 0 {
		return name
	}
	b.WriteString(name[last:])
	return b.String()
}

// errNoData guards against an embedded table that lost its data.
var errNoData = errors.New("the price table holds no providers")
