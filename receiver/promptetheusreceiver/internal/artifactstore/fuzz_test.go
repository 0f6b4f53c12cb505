// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package artifactstore

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzArtifactNames: whatever a client puts in X-Promptetheus-Filename or
// X-Promptetheus-Artifact-Id, no path separator, parent reference or control
// character survives into a name or a path.
func FuzzArtifactNames(f *testing.F) {
	for _, s := range []string{"../../etc/passwd", `..\..\boot.ini`, "a\x00b", "step one.png", "..", ".", "", "écran.png", "%2e%2e%2f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		clean := SanitizeFilename(name)
		switch {
		case clean == "", clean == ".", clean == "..":
			t.Fatalf("%q gave %q", name, clean)
		case strings.ContainsAny(clean, "/\\\x00"), !utf8.ValidString(clean), len(clean) > maxFilenameLength:
			t.Fatalf("%q gave %q", name, clean)
		}
		for _, r := range clean {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("%q kept a control character: %q", name, clean)
			}
		}
		if ValidID(name) && (strings.ContainsAny(name, "/\\\x00") || strings.Contains(name, "..")) {
			t.Fatalf("ValidID accepted %q", name)
		}
	})
}
