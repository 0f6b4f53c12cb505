// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package artifactstore // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/artifactstore"

import (
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

const maxFilenameLength = 200

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// ValidID reports whether a client-chosen artifact id is safe to use.
func ValidID(id string) bool { return idPattern.MatchString(id) && !strings.Contains(id, "..") }

// NewID returns a random artifact id.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "artifact_" + hex.EncodeToString(b[:])
}

// SanitizeFilename keeps the base name of a client filename, without path
// separators, control characters or leading dots, cut to a sane length.
func SanitizeFilename(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r == utf8.RuneError, unicode.IsControl(r), r == ':', r == '"', r == '<', r == '>', r == '|', r == '?', r == '*':
			b.WriteRune('_')
		default:
			b.WriteRune(r)
		}
	}
	name = strings.TrimLeft(strings.TrimSpace(b.String()), ".")
	for len(name) > maxFilenameLength {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" {
		return "artifact"
	}
	return name
}
