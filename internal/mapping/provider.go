// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package mapping // import "github.com/promptetheus/otelcol-promptetheus/internal/mapping"

import "strings"

// modelPrefixes maps model name prefixes to gen_ai.provider.name values of
// the semantic conventions. The first match wins.
var modelPrefixes = []struct{ prefix, provider string }{
	{"gpt-", "openai"},
	{"chatgpt", "openai"},
	{"o1", "openai"},
	{"o3", "openai"},
	{"o4", "openai"},
	{"text-embedding", "openai"},
	{"claude", "anthropic"},
	{"gemini", "gcp.gemini"},
	{"gemma", "gcp.gemini"},
	{"mistral", "mistral_ai"},
	{"mixtral", "mistral_ai"},
	{"codestral", "mistral_ai"},
	{"command", "cohere"},
	{"deepseek", "deepseek"},
	{"grok", "x_ai"},
	{"sonar", "perplexity"},
}

// providerAliases maps the provider part of "provider/model" names.
var providerAliases = map[string]string{
	"openai":      "openai",
	"anthropic":   "anthropic",
	"google":      "gcp.gemini",
	"gemini":      "gcp.gemini",
	"vertex_ai":   "gcp.vertex_ai",
	"bedrock":     "aws.bedrock",
	"azure":       "azure.ai.openai",
	"mistral":     "mistral_ai",
	"mistralai":   "mistral_ai",
	"cohere":      "cohere",
	"deepseek":    "deepseek",
	"groq":        "groq",
	"xai":         "x_ai",
	"perplexity":  "perplexity",
	"watsonx":     "ibm.watsonx.ai",
	"ibm":         "ibm.watsonx.ai",
	"x_ai":        "x_ai",
	"mistral_ai":  "mistral_ai",
	"aws.bedrock": "aws.bedrock",
}

// ProviderFromModel infers gen_ai.provider.name from a model name such as
// "gpt-5", "claude-sonnet-4" or "openai/gpt-4o"; "" when it cannot tell.
func ProviderFromModel(model string) string {
	provider, _ := splitProvider(model)
	return provider
}

// splitProvider infers the provider of a model name and returns the name
// without the provider prefix that named it ("openai/gpt-4o": "openai",
// "gpt-4o"), the name a price table knows.
func splitProvider(model string) (provider, name string) {
	name = strings.TrimSpace(model)
	rest := name
	if i := strings.IndexAny(name, "/:"); i > 0 {
		if p, ok := providerAliases[strings.ToLower(name[:i])]; ok {
			return p, name[i+1:]
		}
		rest = name[i+1:]
	}
	rest = strings.ToLower(rest)
	for _, mp := range modelPrefixes {
		if strings.HasPrefix(rest, mp.prefix) {
			return mp.provider, model
		}
	}
	return "", model
}
