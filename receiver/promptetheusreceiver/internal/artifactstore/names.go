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

// SanitizeFilename keeps the base name of a client filename, as the
// reference does: path separators and anything but letters, digits, '.',
// '_' and '-' cannot survive, "", "." and ".." become "artifact.bin".
func SanitizeFilename(name string) string {
	name = strings.TrimSpace(strings.ReplaceAll(name, `\`, "/"))
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	if name == "" || name == "." || name == ".." {
		return defaultFilename
	}
	name = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '_' || r == '-') {
			return '_'
		}
		return r
	}, name)
	for len(name) > maxFilenameLength {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

const defaultFilename = "artifact.bin"
