// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestImageCopiesEveryModule: deploy/Dockerfile downloads the root module's
// dependencies before it copies the sources; every module the root module
// replaces must be there by then (go.mod and go.sum), or go mod download
// fails on the missing directory. No Docker engine runs here to catch it.
func TestImageCopiesEveryModule(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "Dockerfile"))
	require.NoError(t, err)
	before, _, found := strings.Cut(string(b), "go mod download")
	require.True(t, found, "deploy/Dockerfile runs go mod download")
	copied := map[string]bool{}
	for _, line := range strings.Split(before, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 3 || fields[0] != "COPY" {
			continue
		}
		for _, src := range fields[1 : len(fields)-1] {
			copied[src] = true
		}
	}
	var root *module
	for _, m := range modules(t) {
		if m.dir == "." {
			root = &m
		}
	}
	require.NotNil(t, root)
	require.NotEmpty(t, root.file.Replace)
	for _, r := range root.file.Replace {
		dir := strings.TrimPrefix(r.New.Path, "./")
		for _, f := range []string{"go.mod", "go.sum"} {
			assert.True(t, copied[dir+"/"+f], "deploy/Dockerfile copies %s/%s before go mod download", dir, f)
		}
	}
	assert.True(t, copied["go.mod"] && copied["go.sum"], "the root module's go.mod and go.sum")
}
