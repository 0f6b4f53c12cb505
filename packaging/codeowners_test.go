// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

const (
	githubProject = "promptetheus/otelcol-promptetheus"
	maintainers   = "@promptetheus/collector-maintainers"
)

// componentMetadata is what this test reads of a metadata.yaml.
type componentMetadata struct {
	GithubProject string `yaml:"github_project"`
	Status        struct {
		DisableCodecovBadge bool `yaml:"disable_codecov_badge"`
		Codeowners          struct {
			Active []string `yaml:"active"`
		} `yaml:"codeowners"`
	} `yaml:"status"`
}

// codeowners reads CODEOWNERS: the owners of each pattern.
func codeowners(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "CODEOWNERS"))
	require.NoError(t, err)
	defer f.Close()
	owners := map[string][]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		require.NotContains(t, owners, fields[0], "CODEOWNERS names %s twice", fields[0])
		require.Greater(t, len(fields), 1, "CODEOWNERS: %s has no owner", fields[0])
		owners[fields[0]] = fields[1:]
	}
	require.NoError(t, s.Err())
	return owners
}

// TestCodeowners: CODEOWNERS gives each component the maintainers team and
// the owners of its metadata.yaml, and names only paths that exist.
func TestCodeowners(t *testing.T) {
	owners := codeowners(t)
	assert.Equal(t, []string{maintainers}, owners["*"], "the maintainers own every path")
	files, err := filepath.Glob(filepath.Join(repoRoot, "*", "*", "metadata.yaml"))
	require.NoError(t, err)
	require.Len(t, files, 5)
	for _, file := range files {
		dir, err := filepath.Rel(repoRoot, filepath.Dir(file))
		require.NoError(t, err)
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		var md componentMetadata
		require.NoError(t, yaml.Unmarshal(b, &md))
		assert.Equal(t, githubProject, md.GithubProject, "%s: github_project", file)
		assert.True(t, md.Status.DisableCodecovBadge, "%s: status.disable_codecov_badge (no codecov for this project)", file)
		require.NotEmpty(t, md.Status.Codeowners.Active, "%s: status.codeowners.active", file)
		want := []string{maintainers}
		for _, user := range md.Status.Codeowners.Active {
			assert.NotContains(t, user, "/", "%s: codeowners are GitHub user names (mdatagen links them as users)", file)
			want = append(want, "@"+user)
		}
		assert.Equal(t, want, owners[filepath.ToSlash(dir)+"/"], "CODEOWNERS line of %s", dir)
	}
	for pattern := range owners {
		if pattern == "*" {
			continue
		}
		_, err := os.Stat(filepath.Join(repoRoot, strings.Trim(pattern, "/")))
		assert.NoError(t, err, "CODEOWNERS names %s", pattern)
	}
}
