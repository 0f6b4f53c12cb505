// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package rules // import "github.com/promptetheus/otelcol-promptetheus/internal/rules"

import (
	"strings"
	"unicode"
)

// goalStopWords are dropped from a goal's tokens, as the reference does.
var goalStopWords = wordSet("the and for with without stop dont not book please make set select choose from that this you your into onto but do at to a an")

// tokenize lowercases text, splits it on spaces, hyphens and slashes, keeps
// the letters and digits of each word and the words of three or more.
func tokenize(text string) []string {
	text = strings.NewReplacer("-", " ", "/", " ").Replace(strings.ToLower(text))
	var out []string
	for _, w := range strings.Fields(text) {
		if tok := alnum(w); len([]rune(tok)) >= 3 {
			out = append(out, tok)
		}
	}
	return out
}

// goalTokens are the distinct tokens of a goal, stop words removed.
func goalTokens(goal string) []string {
	var out []string
	seen := map[string]bool{}
	for _, tok := range tokenize(goal) {
		if !goalStopWords[tok] && !seen[tok] {
			seen[tok] = true
			out = append(out, tok)
		}
	}
	return out
}

func alnum(w string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, w)
}

func wordSet(words string) map[string]bool {
	set := map[string]bool{}
	for _, w := range strings.Fields(words) {
		set[w] = true
	}
	return set
}

func anyContained(text string, tokens []string) bool {
	for _, t := range tokens {
		if strings.Contains(text, t) {
			return true
		}
	}
	return false
}

func allContained(text string, tokens []string) bool {
	for _, t := range tokens {
		if !strings.Contains(text, t) {
			return false
		}
	}
	return true
}
