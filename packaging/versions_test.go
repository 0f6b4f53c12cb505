// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"bufio"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
	"gopkg.in/yaml.v3"
)

const (
	repoRoot   = ".."
	rootModule = "github.com/promptetheus/otelcol-promptetheus"
	collector  = "go.opentelemetry.io/collector/"
	contrib    = "github.com/open-telemetry/opentelemetry-collector-contrib/"
	ottl       = contrib + "pkg/ottl"
	// toolsDir holds tool modules (Collector Builder, mdatagen, Jaeger) that
	// are built on their own and never linked into a distribution.
	toolsDir = "internal/tools"
)

// versions is versions.yaml.
type versions struct {
	ModuleSets map[string]struct {
		Version string   `yaml:"version"`
		Modules []string `yaml:"modules"`
	} `yaml:"module-sets"`
	ExcludedModules []string `yaml:"excluded-modules"`
	Collector       struct {
		Core    string `yaml:"core"`
		Stable  string `yaml:"stable"`
		Contrib string `yaml:"contrib"`
		OTTL    string `yaml:"ottl"`
	} `yaml:"collector"`
}

func readVersions(t *testing.T) versions {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "versions.yaml"))
	require.NoError(t, err)
	var v versions
	require.NoError(t, yaml.Unmarshal(b, &v))
	require.NotEmpty(t, v.ModuleSets)
	for name, set := range v.ModuleSets {
		require.True(t, semver.IsValid(set.Version), "module set %s: version %q", name, set.Version)
	}
	for _, s := range []string{v.Collector.Core, v.Collector.Stable, v.Collector.Contrib, v.Collector.OTTL} {
		require.True(t, semver.IsValid(s), "collector version %q", s)
	}
	return v
}

// released is the version versions.yaml gives a module, if it is released.
func (v versions) released(modulePath string) (string, bool) {
	for _, set := range v.ModuleSets {
		if slices.Contains(set.Modules, modulePath) {
			return set.Version, true
		}
	}
	return "", false
}

// ours says whether a module path is one of this repository's.
func ours(modulePath string) bool {
	return modulePath == rootModule || strings.HasPrefix(modulePath, rootModule+"/")
}

// dirOf is the directory of one of our modules, relative to the repository root.
func dirOf(modulePath string) string {
	if modulePath == rootModule {
		return "."
	}
	return strings.TrimPrefix(modulePath, rootModule+"/")
}

// collectorVersion is the version versions.yaml allows for a collector or
// contrib module, "" for other modules.
func (v versions) collectorVersion(modulePath, version string) string {
	switch {
	case strings.HasPrefix(modulePath, collector) && semver.Major(version) == "v0":
		return v.Collector.Core
	case strings.HasPrefix(modulePath, collector):
		return v.Collector.Stable
	case modulePath == ottl:
		return v.Collector.OTTL
	case strings.HasPrefix(modulePath, contrib):
		return v.Collector.Contrib
	}
	return ""
}

type module struct {
	dir  string // relative to the repository root
	file *modfile.File
}

// modules reads every go.mod of the repository.
func modules(t *testing.T) []module {
	t.Helper()
	var mods []module
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != repoRoot && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != "go.mod" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := modfile.Parse(p, b, nil)
		if err != nil {
			return err
		}
		dir, err := filepath.Rel(repoRoot, filepath.Dir(p))
		if err != nil {
			return err
		}
		mods = append(mods, module{dir: filepath.ToSlash(dir), file: f})
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, len(mods), 1)
	return mods
}

// TestVersionsListEveryModule: every module is released in one module set or
// excluded, and its path is its directory's import path.
func TestVersionsListEveryModule(t *testing.T) {
	v := readVersions(t)
	listed := map[string]int{}
	for _, set := range v.ModuleSets {
		for _, m := range set.Modules {
			listed[m]++
		}
	}
	for _, m := range v.ExcludedModules {
		listed[m]++
	}
	for _, m := range modules(t) {
		p := m.file.Module.Mod.Path
		assert.Equal(t, dirOf(p), m.dir, "module %s is not in the directory its path names", p)
		assert.Equal(t, 1, listed[p], "module %s must be in exactly one module set or in excluded-modules of versions.yaml", p)
		delete(listed, p)
	}
	for m := range listed {
		t.Errorf("versions.yaml lists %s, which no go.mod declares", m)
	}
}

// TestModulesAgreeOnVersions: every module requires the collector release of
// versions.yaml and our modules at their set's version, each replaced by its
// directory in this checkout.
func TestModulesAgreeOnVersions(t *testing.T) {
	v := readVersions(t)
	var goVersion string
	for _, m := range modules(t) {
		if m.dir == toolsDir || strings.HasPrefix(m.dir, toolsDir+"/") {
			continue
		}
		f := m.file
		t.Run(m.dir, func(t *testing.T) {
			if goVersion == "" {
				goVersion = f.Go.Version
			}
			assert.Equal(t, goVersion, f.Go.Version, "go directive")
			replaced := map[string]string{}
			for _, r := range f.Replace {
				assert.True(t, ours(r.Old.Path) && r.New.Version == "",
					"replace %s => %s: only our own modules are replaced, by their directory", r.Old.Path, r.New.Path)
				replaced[r.Old.Path] = r.New.Path
			}
			for _, r := range f.Require {
				p, got := r.Mod.Path, r.Mod.Version
				if want := v.collectorVersion(p, got); want != "" {
					assert.Equal(t, want, got, "%s: the collector release is in versions.yaml", p)
					continue
				}
				if !ours(p) {
					continue
				}
				want, ok := v.released(p)
				if assert.True(t, ok, "%s requires %s, which versions.yaml does not release", f.Module.Mod.Path, p) {
					assert.Equal(t, want, got, "%s: our modules are required at their module set's version", p)
				}
				rel, err := filepath.Rel(m.dir, dirOf(p))
				require.NoError(t, err)
				want = filepath.ToSlash(rel)
				if !strings.HasPrefix(want, ".") {
					want = "./" + want
				}
				assert.Equal(t, want, replaced[p], "%s must be replaced by its directory", p)
				delete(replaced, p)
			}
			for p := range replaced {
				t.Errorf("replace of %s, which is not required", p)
			}
		})
	}
}

// gomodLine is a Collector Builder `gomod:` entry.
var gomodLine = regexp.MustCompile(`^\s*-?\s*gomod:\s*"?(\S+)\s+(v[^\s"]+)"?\s*$`)

// TestBuilderLines: the Collector Builder lines of the distribution's
// manifest, of the READMEs and of the consumer build test name our modules at
// their released version and the collector's at its release.
func TestBuilderLines(t *testing.T) {
	v := readVersions(t)
	files := []string{"builder-config.yaml", "e2e/testdata/consumer/builder-config.yaml.tmpl", "README.md"}
	components, err := filepath.Glob(filepath.Join(repoRoot, "*", "*", "metadata.yaml"))
	require.NoError(t, err)
	require.Len(t, components, 5)
	for _, c := range components {
		dir, err := filepath.Rel(repoRoot, filepath.Dir(c))
		require.NoError(t, err)
		dir = filepath.ToSlash(dir)
		files = append(files, path.Join(dir, "README.md"))
		lines := builderLines(t, path.Join(dir, "README.md"))
		own := rootModule + "/" + dir
		version, _ := v.released(own)
		assert.Contains(t, lines, own+" "+version, "%s/README.md: the Collector Builder line of the component's own module", dir)
	}
	for _, file := range files {
		lines := builderLines(t, file)
		require.NotEmpty(t, lines, "%s has no gomod: lines", file)
		for _, l := range lines {
			p, got, _ := strings.Cut(l, " ")
			if want := v.collectorVersion(p, got); want != "" {
				assert.Equal(t, want, got, "%s: %s", file, p)
			} else if ours(p) {
				want, ok := v.released(p)
				assert.True(t, ok, "%s: %s is not released (versions.yaml)", file, p)
				assert.Equal(t, want, got, "%s: %s", file, p)
			}
		}
	}

	b, err := os.ReadFile(filepath.Join(repoRoot, "builder-config.yaml"))
	require.NoError(t, err)
	var manifest struct {
		Dist struct {
			Version string `yaml:"version"`
		} `yaml:"dist"`
	}
	require.NoError(t, yaml.Unmarshal(b, &manifest))
	version, _ := v.released(rootModule)
	assert.Equal(t, version, "v"+manifest.Dist.Version, "builder-config.yaml: the distribution carries the root module's version")
}

// builderLines are the "module version" of every gomod: line of a file.
func builderLines(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, file))
	require.NoError(t, err)
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if m := gomodLine.FindStringSubmatch(s.Text()); m != nil {
			lines = append(lines, m[1]+" "+m[2])
		}
	}
	require.NoError(t, s.Err())
	return lines
}
