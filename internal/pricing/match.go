// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package pricing // import "github.com/promptetheus/otelcol-promptetheus/internal/pricing"

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// matcher is one match clause of the price data: equals, starts_with,
// ends_with and contains compare case-insensitively, regex is a
// case-sensitive JavaScript regular expression, or and and combine clauses.
// An object holding several keys is read in the source's order (or, and,
// equals, starts_with, ends_with, contains, regex); an empty one matches
// nothing.
type matcher struct {
	op  string
	arg string // lower case for the string operators
	re  *regexp.Regexp
	// notRe, when set, must not match either: the zero-width negative
	// lookahead `^(?!X)` that Go's RE2 syntax lacks.
	notRe *regexp.Regexp
	sub   []matcher
}

func (m *matcher) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, op := range []string{"or", "and", "equals", "starts_with", "ends_with", "contains", "regex"} {
		v, ok := raw[op]
		if !ok {
			continue
		}
		m.op = op
		switch op {
		case "or", "and":
			return json.Unmarshal(v, &m.sub)
		case "regex":
			if err := json.Unmarshal(v, &m.arg); err != nil {
				return err
			}
			var err error
			m.re, m.notRe, err = compileJSRegexp(m.arg)
			return err
		default:
			if err := json.Unmarshal(v, &m.arg); err != nil {
				return err
			}
			m.arg = strings.ToLower(m.arg)
			return nil
		}
	}
	return nil
}

// match reports whether s, already lower case, satisfies the clause.
func (m *matcher) match(s string) bool {
	switch m.op {
	case "or":
		for i := range m.sub {
			if m.sub[i].match(s) {
				return true
			}
		}
		return false
	case "and":
		for i := range m.sub {
			if !m.sub[i].match(s) {
				return false
			}
		}
		return true
	case "equals":
		return s == m.arg
	case "starts_with":
		return strings.HasPrefix(s, m.arg)
	case "ends_with":
		return strings.HasSuffix(s, m.arg)
	case "contains":
		return strings.Contains(s, m.arg)
	case "regex":
		return m.re.MatchString(s) && (m.notRe == nil || !m.notRe.MatchString(s))
	}
	return false
}

// compileJSRegexp compiles a JavaScript pattern with RE2. The one construct
// the price data uses that RE2 lacks, a negative lookahead right after the
// start anchor, `^(?!X)Y`, is split into `^(?:X)`, which must not match, and
// `^(?:Y)`, which must: at position 0 the two are the same test.
func compileJSRegexp(pattern string) (re, notRe *regexp.Regexp, err error) {
	const lookahead = "^(?!"
	if strings.HasPrefix(pattern, lookahead) {
		end := closingParen(pattern, 1) // the lookahead's own parenthesis
		if end < 0 {
			return nil, nil, fmt.Errorf("regex %q: unbalanced lookahead", pattern)
		}
		if notRe, err = regexp.Compile("^(?:" + pattern[len(lookahead):end] + ")"); err != nil {
			return nil, nil, err
		}
		pattern = "^(?:" + pattern[end+1:] + ")"
	}
	if re, err = regexp.Compile(pattern); err != nil {
		return nil, nil, err
	}
	return re, notRe, nil
}

// closingParen finds the parenthesis that closes the one at open, skipping
// escapes and character classes; -1 when there is none.
func closingParen(p string, open int) int {
	depth, inClass := 0, false
	for i := open; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\':
			i++
		case inClass:
			inClass = c != ']'
		case c == '[':
			inClass = true
		case c == '(':
			depth++
		case c == ')':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}
