// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package deploy holds no Go code: its test checks the deployment files in
// this folder (collector, Tempo, Prometheus and Grafana configuration, the
// dashboard) against each other and against the attributes the collector
// emits, as named in internal/conventions.
package deploy

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	promql "github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
)

const (
	conventionsFile = "../internal/conventions/conventions.go"
	collectorFile   = "collector.yaml"
	tempoFile       = "tempo.yaml"
	composeFile     = "compose.yaml"
	datasourcesFile = "grafana/provisioning/datasources/tempo.yaml"
	providersFile   = "grafana/provisioning/dashboards/dashboards.yaml"
	dashboardFile   = "grafana/dashboards/promptetheus-agents.json"
	prometheusFile  = "prometheus/prometheus.yml"
	rulesGlob       = "prometheus/rules/*.yml"
	ruleTestsGlob   = "prometheus/tests/*.yml"
)

// semconvDerived gives the values of the conventions constants defined as
// string(semconv.XKey): go/ast sees only the expression, not its value.
// TestEmittedAttributes fails when conventions.go gains such a constant that
// is missing here.
var semconvDerived = map[string]string{
	"AttrServiceName":           conventions.AttrServiceName,
	"AttrServiceNamespace":      conventions.AttrServiceNamespace,
	"AttrDeploymentEnvironment": conventions.AttrDeploymentEnvironment,
	"AttrErrorType":             conventions.AttrErrorType,
	"AttrExceptionType":         conventions.AttrExceptionType,
	"AttrExceptionMessage":      conventions.AttrExceptionMessage,
	"AttrExceptionStacktrace":   conventions.AttrExceptionStacktrace,
}

// resourceConstants are the attributes the mapping puts on the resource of
// a run (internal/mapping/builder.go); every other
// attribute is on spans or span events.
var resourceConstants = []string{
	"AttrServiceName", "AttrServiceNamespace", "AttrProjectID", "AttrWorkspaceID", "AttrDeploymentEnvironment",
}

// emitted is the set of attribute names the collector writes.
type emitted struct {
	attrs     map[string]bool // exact names
	prefixes  []string        // families such as promptetheus.metadata.<key>
	resource  map[string]bool // resource attributes
	nonString map[string]bool // written as int, double, bool or array
}

func (e *emitted) has(name string) bool {
	if e.attrs[name] {
		return true
	}
	for _, p := range e.prefixes {
		if strings.HasPrefix(name, p) && len(name) > len(p) {
			return true
		}
	}
	return false
}

// loadEmitted parses conventions.go: every exported Attr* constant is an
// attribute we emit, except those documented as read only.
func loadEmitted(t testing.TB) *emitted {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, conventionsFile, nil, parser.ParseComments)
	require.NoError(t, err)

	e := &emitted{attrs: map[string]bool{}, resource: map[string]bool{}, nonString: map[string]bool{}}
	byConst := map[string]string{}
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, ident := range vs.Names {
				name := ident.Name
				if !ident.IsExported() || !strings.HasPrefix(name, "Attr") {
					continue
				}
				require.Less(t, i, len(vs.Values), "constant %s has no value", name)
				value := constValue(t, name, vs.Values[i])
				byConst[name] = value
				if readOnly(vs) {
					continue
				}
				if strings.HasSuffix(value, ".") {
					e.prefixes = append(e.prefixes, value)
				} else {
					e.attrs[value] = true
				}
			}
		}
	}
	for name := range semconvDerived {
		_, ok := byConst[name]
		assert.True(t, ok, "semconvDerived names %s, which conventions.go no longer defines", name)
	}
	for _, name := range resourceConstants {
		v, ok := byConst[name]
		require.True(t, ok, "resource attribute constant %s is missing from conventions.go", name)
		e.resource[v] = true
	}
	e.nonString = nonStringAttributes(t, byConst)
	return e
}

func constValue(t testing.TB, name string, expr ast.Expr) string {
	t.Helper()
	switch x := expr.(type) {
	case *ast.BasicLit:
		require.Equal(t, token.STRING, x.Kind, "constant %s", name)
		v, err := strconv.Unquote(x.Value)
		require.NoError(t, err)
		return v
	case *ast.CallExpr:
		// string(semconv.XKey)
		if fn, ok := x.Fun.(*ast.Ident); ok && fn.Name == "string" && len(x.Args) == 1 {
			if sel, ok := x.Args[0].(*ast.SelectorExpr); ok {
				if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "semconv" {
					v, ok := semconvDerived[name]
					require.True(t, ok, "conventions.%s = string(semconv.%s): add it to semconvDerived in deploy_test.go", name, sel.Sel.Name)
					return v
				}
			}
		}
	}
	t.Fatalf("conventions.%s: unsupported constant expression %T", name, expr)
	return ""
}

// readOnly reports whether a constant is documented as only read (such as
// gen_ai.system, the older name of gen_ai.provider.name).
func readOnly(vs *ast.ValueSpec) bool {
	for _, g := range []*ast.CommentGroup{vs.Doc, vs.Comment} {
		if g != nil && strings.Contains(strings.ToLower(g.Text()), "read only") {
			return true
		}
	}
	return false
}

// nonStringAttributes finds the attributes the components write as int,
// double, bool or array (PutInt(conventions.X, ...), ...). Dedicated Parquet
// columns hold strings only.
func nonStringAttributes(t testing.TB, byConst map[string]string) map[string]bool {
	t.Helper()
	re := regexp.MustCompile(`\b(?:PutInt|PutDouble|PutBool|PutEmptySlice|PutEmptyMap|putStrSlice)\(\s*(?:[\w.]+,\s*)?conventions\.(\w+)`)
	out := map[string]bool{}
	for _, dir := range []string{"../internal", "../receiver", "../processor", "../exporter"} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return filepath.SkipDir
				}
				return err
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range re.FindAllStringSubmatch(string(src), -1) {
				if v, ok := byConst[m[1]]; ok {
					out[v] = true
				}
			}
			return nil
		})
		require.NoError(t, err)
	}
	return out
}

func TestEmittedAttributes(t *testing.T) {
	e := loadEmitted(t)
	for _, want := range []string{
		conventions.AttrGenAIOperationName, conventions.AttrGenAIRequestModel, conventions.AttrGenAIInputTokens,
		conventions.AttrFindingRuleID, conventions.AttrGoalPassed, conventions.AttrProjectID, conventions.AttrServiceName,
	} {
		assert.True(t, e.has(want), want)
	}
	assert.False(t, e.has(conventions.ForeignGenAISystem), "gen_ai.system is read, never emitted")
	assert.True(t, e.has(conventions.AttrMetadataPrefix+"customer"), "metadata keys are a family")
	assert.True(t, e.nonString[conventions.AttrGenAIInputTokens], "token counts are ints")
	assert.True(t, e.nonString[conventions.AttrGoalPassed], "the verdict is a bool")
	assert.False(t, e.nonString[conventions.AttrGenAIRequestModel])
}

// ---- attribute references in queries ----

var (
	traceqlQuoted   = regexp.MustCompile(`\b(span|resource|event|link|instrumentation)\."((?:[^"\\]|\\.)*)"`)
	traceqlString   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`")
	traceqlScoped   = regexp.MustCompile(`\b(span|resource|event|link|instrumentation)\.([A-Za-z_][A-Za-z0-9_.]*)`)
	traceqlUnscoped = regexp.MustCompile(`(^|[^A-Za-z0-9_.)\]])\.([A-Za-z_][A-Za-z0-9_.]*)`)

	promSelector    = regexp.MustCompile(`\{([^{}]*)\}`)
	promMatcher     = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
	promGrouping    = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	promLegend      = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)
	promLabelValues = regexp.MustCompile(`label_values\(\s*(?:[^,()]+,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)`)
	labelSanitizer  = regexp.MustCompile(`[^A-Za-z0-9_]`)

	promLabelValuesQuery = regexp.MustCompile(`^label_values\(\s*(?:([^,()]+?)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)$`)
	grafanaRange         = regexp.MustCompile(`\[\$\{?__\w+\}?\]`)
	grafanaVar           = regexp.MustCompile(`\$\{?(\w+)(?::\w+)?\}?`)
	promqlParser         = promql.NewParser(promql.Options{})
)

// spanMetricsMetrics are the series of Tempo's span-metrics processor.
var spanMetricsMetrics = []string{
	"traces_spanmetrics_calls_total", "traces_spanmetrics_size_total",
	"traces_spanmetrics_latency_bucket", "traces_spanmetrics_latency_sum", "traces_spanmetrics_latency_count",
}

// checker validates the attributes a query references.
type checker struct {
	emitted *emitted
	// labels maps each Prometheus label the span metrics carry to the
	// attribute it comes from ("" for labels that are no attribute: le,
	// tenant, span_name, ...).
	labels map[string]string
	// series are the Prometheus series the collector exposes, with their
	// label names.
	series map[string]map[string]bool
}

func newChecker(t testing.TB, e *emitted, tempo map[string]any) *checker {
	t.Helper()
	c := &checker{emitted: e, labels: map[string]string{"le": ""}, series: loadCollectorSeries(t)}
	gen := get(tempo, "metrics_generator")
	if l := str(get(gen, "registry", "inject_tenant_id_as")); l != "" {
		c.labels[l] = ""
	}
	for k := range asMap(get(gen, "registry", "external_labels")) {
		c.labels[k] = ""
	}
	sm := get(gen, "processor", "span_metrics")
	intrinsic := map[string]string{
		"service": conventions.AttrServiceName, "span_name": "", "span_kind": "", "status_code": "", "status_message": "",
	}
	for k, v := range asMap(get(sm, "intrinsic_dimensions")) {
		if on, _ := v.(bool); on {
			attr, ok := intrinsic[k]
			require.True(t, ok, "unknown span-metrics intrinsic dimension %q", k)
			c.labels[k] = attr
		}
	}
	// Defaults of Tempo when intrinsic_dimensions does not name them.
	for _, k := range []string{"service", "span_name", "span_kind", "status_code"} {
		if _, set := asMap(get(sm, "intrinsic_dimensions"))[k]; !set {
			c.labels[k] = intrinsic[k]
		}
	}
	for _, d := range list(get(sm, "dimensions")) {
		c.labels[labelSanitizer.ReplaceAllString(str(d), "_")] = str(d)
	}
	return c
}

// attribute checks one scoped attribute reference.
func (c *checker) attribute(scope, name string) error {
	switch scope {
	case "resource":
		if !c.emitted.resource[name] {
			return fmt.Errorf("resource.%s: not a resource attribute we emit", name)
		}
	case "span":
		if !c.emitted.has(name) || c.emitted.resource[name] {
			return fmt.Errorf("span.%s: not a span attribute we emit", name)
		}
	case "event", "":
		if !c.emitted.has(name) {
			return fmt.Errorf("%s.%s: not an attribute we emit", scope, name)
		}
	default:
		return fmt.Errorf("%s.%s: we emit no %s attributes", scope, name, scope)
	}
	return nil
}

// traceQLAttributes lists the attributes a TraceQL query references.
func traceQLAttributes(q string) [][2]string {
	var refs [][2]string
	for _, m := range traceqlQuoted.FindAllStringSubmatch(q, -1) {
		refs = append(refs, [2]string{m[1], m[2]})
	}
	q = traceqlQuoted.ReplaceAllString(q, " ")
	q = traceqlString.ReplaceAllString(q, `""`)
	for _, m := range traceqlScoped.FindAllStringSubmatch(q, -1) {
		refs = append(refs, [2]string{m[1], strings.TrimRight(m[2], ".")})
	}
	q = traceqlScoped.ReplaceAllString(q, " ")
	for _, m := range traceqlUnscoped.FindAllStringSubmatch(q, -1) {
		refs = append(refs, [2]string{"", strings.TrimRight(m[2], ".")})
	}
	return refs
}

func (c *checker) traceQL(q string) []error {
	var errs []error
	for _, r := range traceQLAttributes(q) {
		if err := c.attribute(r[0], r[1]); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// promLabels lists the label names a PromQL expression (or a legend or
// variable query) uses.
func promLabels(expr string) []string {
	var out []string
	for _, m := range promLegend.FindAllStringSubmatch(expr, -1) {
		out = append(out, m[1])
	}
	expr = promLegend.ReplaceAllString(expr, " ")
	for _, m := range promLabelValues.FindAllStringSubmatch(expr, -1) {
		out = append(out, m[1])
	}
	for _, sel := range promSelector.FindAllStringSubmatch(expr, -1) {
		for _, m := range promMatcher.FindAllStringSubmatch(sel[1], -1) {
			out = append(out, m[1])
		}
	}
	stripped := traceqlString.ReplaceAllString(expr, `""`)
	for _, m := range promGrouping.FindAllStringSubmatch(stripped, -1) {
		for l := range strings.SplitSeq(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
	}
	return out
}

// label checks that a series carries a label: a span-metrics dimension of
// tempo.yaml from an attribute we emit, or a label of a series the
// collector exposes.
func (c *checker) label(metric, l string) error {
	if slices.Contains(spanMetricsMetrics, metric) {
		attr, ok := c.labels[l]
		switch {
		case !ok:
			return fmt.Errorf("label %s: no span-metrics dimension of tempo.yaml yields it", l)
		case attr != "" && !c.emitted.has(attr):
			return fmt.Errorf("label %s: attribute %s is not one we emit", l, attr)
		}
		return nil
	}
	labels, ok := c.series[metric]
	if !ok {
		return fmt.Errorf("metric %s: neither a span-metrics series nor one the collector exposes", metric)
	}
	if !labels[l] {
		return fmt.Errorf("label %s: %s has no such label", l, metric)
	}
	return nil
}

// grafanaVars replaces Grafana's variables by values PromQL parses.
func grafanaVars(expr string) string {
	expr = grafanaRange.ReplaceAllString(expr, "[5m]")
	return grafanaVar.ReplaceAllString(expr, "$1")
}

// promMetrics lists the metrics a PromQL expression selects.
func promMetrics(expr string) ([]string, error) {
	var names []string
	ast, err := promqlParser.ParseExpr(grafanaVars(expr))
	if err != nil {
		return nil, err
	}
	promql.Inspect(ast, func(node promql.Node, _ []promql.Node) error {
		if vs, ok := node.(*promql.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names, nil
}

// promQL checks a PromQL expression (optionally followed by a legend with
// {{label}} references) or a label_values() variable query: every metric
// is one we expose, every label one of its labels.
func (c *checker) promQL(expr string) []error {
	var errs []error
	var used []string // labels the result must carry: grouping, legend
	for _, m := range promLegend.FindAllStringSubmatch(expr, -1) {
		used = append(used, m[1])
	}
	expr = strings.TrimSpace(promLegend.ReplaceAllString(expr, " "))
	if m := promLabelValuesQuery.FindStringSubmatch(expr); m != nil {
		expr, used = m[1], append(used, m[2])
		if expr == "" {
			return []error{fmt.Errorf("label_values(%s) without a metric", m[2])}
		}
	}
	ast, err := promqlParser.ParseExpr(grafanaVars(expr))
	if err != nil {
		return []error{fmt.Errorf("not PromQL: %w", err)}
	}
	var metrics []string
	promql.Inspect(ast, func(node promql.Node, _ []promql.Node) error {
		switch n := node.(type) {
		case *promql.VectorSelector:
			metrics = append(metrics, n.Name)
			if n.Name == "" {
				errs = append(errs, fmt.Errorf("selector %s names no metric", n))
			}
			for _, m := range n.LabelMatchers {
				if m.Name == "__name__" {
					continue
				}
				if err := c.label(n.Name, m.Name); err != nil {
					errs = append(errs, err)
				}
			}
		case *promql.AggregateExpr:
			used = append(used, n.Grouping...)
		case *promql.BinaryExpr:
			if n.VectorMatching != nil {
				used = append(used, n.VectorMatching.MatchingLabels...)
				used = append(used, n.VectorMatching.Include...)
			}
		}
		return nil
	})
	for _, m := range slices.Compact(slices.Sorted(slices.Values(metrics))) {
		if err := c.label(m, "le"); err != nil && strings.HasPrefix(err.Error(), "metric ") {
			errs = append(errs, err)
		}
	}
	for _, l := range used {
		carried := false
		for _, m := range metrics {
			carried = carried || c.label(m, l) == nil
		}
		if !carried {
			errs = append(errs, fmt.Errorf("label %s: none of %v carries it", l, metrics))
		}
	}
	return errs
}

// dashboard checks every query of a dashboard and returns the problems.
func (c *checker) dashboard(d map[string]any) []error {
	var errs []error
	vars := map[string]string{} // datasource variable -> plugin type
	for _, v := range list(get(d, "templating", "list")) {
		switch str(get(v, "type")) {
		case "datasource":
			vars["${"+str(get(v, "name"))+"}"] = str(get(v, "query"))
		case "query":
			q := get(v, "query")
			if s := str(get(q, "query")); s != "" {
				q = s
			}
			for _, err := range c.promQL(str(q)) {
				errs = append(errs, fmt.Errorf("variable %s: %w", str(get(v, "name")), err))
			}
		}
	}
	dsType := func(ds any) string {
		if tp := str(get(ds, "type")); tp != "" {
			return tp
		}
		return vars[str(get(ds, "uid"))]
	}
	for _, p := range allPanels(d) {
		if str(get(p, "type")) == "row" {
			continue
		}
		title := str(get(p, "title"))
		targets := list(get(p, "targets"))
		if len(targets) == 0 {
			errs = append(errs, fmt.Errorf("panel %q has no queries", title))
		}
		for _, tg := range targets {
			ds := get(tg, "datasource")
			if ds == nil {
				ds = get(p, "datasource")
			}
			var found []error
			switch dsType(ds) {
			case "tempo":
				q := str(get(tg, "query"))
				if q == "" {
					errs = append(errs, fmt.Errorf("panel %q: empty TraceQL query", title))
				}
				found = c.traceQL(q)
			case "prometheus":
				q := str(get(tg, "expr"))
				if q == "" {
					errs = append(errs, fmt.Errorf("panel %q: empty PromQL query", title))
				}
				// The legend's {{label}} references, without its text.
				found = c.promQL(q + " " + strings.Join(promLegend.FindAllString(str(get(tg, "legendFormat")), -1), " "))
			default:
				errs = append(errs, fmt.Errorf("panel %q: unknown data source %v", title, ds))
			}
			for _, err := range found {
				errs = append(errs, fmt.Errorf("panel %q: %w", title, err))
			}
		}
	}
	return errs
}

func allPanels(d any) []any {
	var out []any
	for _, p := range list(get(d, "panels")) {
		out = append(out, p)
		out = append(out, allPanels(p)...)
	}
	return out
}

// ---- series the collector exposes ----

// connectorSeriesFile lists the Prometheus series of the agent_metrics
// connector as contrib's prometheus exporter writes them, with their label
// names; the connector's TestPrometheusNames runs the exporter and pins it.
const connectorSeriesFile = "../connector/agentmetricsconnector/testdata/prometheus_series.txt"

// scrapeLabels are added by Prometheus to every series it scrapes.
var scrapeLabels = []string{"job", "instance"}

// loadCollectorSeries returns every Prometheus series the collector exposes
// with its label names: the agent_metrics connector's, and the telemetry of
// our components from their generated documentation.md.
func loadCollectorSeries(t testing.TB) map[string]map[string]bool {
	t.Helper()
	series := map[string]map[string]bool{}
	b, err := os.ReadFile(connectorSeriesFile)
	require.NoError(t, err)
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		name, labels, _ := strings.Cut(line, " ")
		series[name] = map[string]bool{}
		for l := range strings.SplitSeq(labels, ",") {
			series[name][l] = true
		}
	}
	docs, err := filepath.Glob("../*/*/documentation.md")
	require.NoError(t, err)
	require.NotEmpty(t, docs)
	for _, doc := range docs {
		telemetrySeries(t, doc, series)
	}
	for _, labels := range series {
		for _, l := range scrapeLabels {
			labels[l] = true
		}
	}
	return series
}

// telemetrySeries reads the metrics of an mdatagen documentation.md. The
// collector's Prometheus endpoint adds no unit or _total suffix: a counter
// is exposed under its own name.
func telemetrySeries(t testing.TB, doc string, series map[string]map[string]bool) {
	t.Helper()
	b, err := os.ReadFile(doc)
	require.NoError(t, err)
	var names []string
	var labels map[string]bool
	inAttributes := false
	for line := range strings.SplitSeq(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "### "):
			labels, names, inAttributes = map[string]bool{}, nil, false
			name := strings.TrimPrefix(line, "### ")
			names = []string{name}
			series[name] = labels
		case labels == nil:
		case strings.HasPrefix(line, "#### Attributes"):
			inAttributes = true
		case strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| Name") && !strings.HasPrefix(line, "| Unit"):
			cells := strings.Split(line, "|")
			if inAttributes {
				labels[strings.TrimSpace(cells[1])] = true
			} else if strings.TrimSpace(cells[2]) == "Histogram" {
				delete(series, names[0])
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					series[names[0]+suffix] = labels
				}
				labels["le"] = true
			}
		}
	}
}

// ---- tests of the files ----

func TestFilesParse(t *testing.T) {
	var yamlFiles []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(p); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			yamlFiles = append(yamlFiles, p)
		}
		return nil
	})
	require.NoError(t, err)
	for _, want := range []string{collectorFile, tempoFile, composeFile, prometheusFile, datasourcesFile, providersFile} {
		assert.Contains(t, yamlFiles, filepath.FromSlash(want))
	}
	for _, f := range yamlFiles {
		t.Run(f, func(t *testing.T) {
			v := loadYAML(t, f)
			assert.NotEmpty(t, v)
		})
	}
	t.Run(dashboardFile, func(t *testing.T) {
		assert.NotEmpty(t, loadDashboard(t))
	})
}

func TestGrafanaProvisioning(t *testing.T) {
	ds := loadYAML(t, datasourcesFile)
	assert.EqualValues(t, 1, get(ds, "apiVersion"))
	byUID := map[string]any{}
	for _, d := range list(get(ds, "datasources")) {
		byUID[str(get(d, "uid"))] = d
	}
	tempo := byUID["tempo"]
	require.NotNil(t, tempo, "a data source with uid tempo")
	assert.Equal(t, "tempo", get(tempo, "type"))
	assert.Equal(t, "http://tempo:3200", get(tempo, "url"))
	assert.Equal(t, "X-Scope-OrgID", get(tempo, "jsonData", "httpHeaderName1"))
	assert.Equal(t, "${PROMPTETHEUS_PROJECT}", get(tempo, "secureJsonData", "httpHeaderValue1"))
	prom := byUID["prometheus"]
	require.NotNil(t, prom, "a data source with uid prometheus")
	assert.Equal(t, "prometheus", get(prom, "type"))
	assert.Equal(t, "http://prometheus:9090", get(prom, "url"))

	pv := loadYAML(t, providersFile)
	assert.EqualValues(t, 1, get(pv, "apiVersion"))
	providers := list(get(pv, "providers"))
	require.Len(t, providers, 1)
	assert.Equal(t, "file", get(providers[0], "type"))
	dashPath := str(get(providers[0], "options", "path"))
	assert.Equal(t, "/var/lib/grafana/dashboards", dashPath)

	// compose mounts the provisioning and the dashboards where Grafana and
	// the provider look for them.
	compose := loadYAML(t, composeFile)
	mounts := map[string]string{}
	for _, v := range list(get(compose, "services", "grafana", "volumes")) {
		parts := strings.Split(str(v), ":")
		if len(parts) >= 2 {
			mounts[path.Clean(parts[1])] = parts[0]
		}
	}
	assert.Equal(t, "./grafana/dashboards", mounts[dashPath])
	assert.Equal(t, "./"+path.Dir(datasourcesFile), mounts["/etc/grafana/provisioning/datasources"])
	assert.Equal(t, "./"+path.Dir(providersFile), mounts["/etc/grafana/provisioning/dashboards"])
	assert.Contains(t, list(get(compose, "services", "prometheus", "command")), "--web.enable-remote-write-receiver")
	promMounts := map[string]string{}
	for _, v := range list(get(compose, "services", "prometheus", "volumes")) {
		parts := strings.Split(str(v), ":")
		if len(parts) >= 2 {
			promMounts[path.Clean(parts[1])] = parts[0]
		}
	}
	assert.Equal(t, "./"+prometheusFile, promMounts["/etc/prometheus/prometheus.yml"])
	assert.Equal(t, "./"+path.Dir(rulesGlob), promMounts["/etc/prometheus/rules"])
	assert.Equal(t, "..", get(compose, "services", "collector", "build", "context"))
	assert.FileExists(t, filepath.Join("..", str(get(compose, "services", "collector", "build", "dockerfile"))))
}

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	assert.NotEmpty(t, get(d, "uid"))
	schema, _ := get(d, "schemaVersion").(float64)
	assert.GreaterOrEqual(t, schema, 38.0)

	vars := map[string]string{}
	for _, v := range list(get(d, "templating", "list")) {
		if str(get(v, "type")) == "datasource" {
			vars[str(get(v, "name"))] = str(get(v, "query"))
		}
	}
	assert.Equal(t, "tempo", vars["tempo"], "a datasource variable $tempo")
	assert.Equal(t, "prometheus", vars["prometheus"], "a datasource variable $prometheus")

	ids := map[float64]bool{}
	titles := map[string]any{}
	for _, p := range allPanels(d) {
		id, _ := get(p, "id").(float64)
		assert.False(t, ids[id], "duplicate panel id %v", id)
		ids[id] = true
		titles[str(get(p, "title"))] = p
		for _, tg := range list(get(p, "targets")) {
			uid := str(get(tg, "datasource", "uid"))
			assert.True(t, uid == "${tempo}" || uid == "${prometheus}", "panel %q: data source %q is not a template variable", get(p, "title"), uid)
			q := str(get(tg, "query"))
			if str(get(tg, "datasource", "type")) == "tempo" && strings.Contains(q, "|") && !strings.Contains(q, "select(") {
				assert.Equal(t, "range", get(tg, "metricsQueryType"), "TraceQL metrics query %q", q)
			}
		}
	}
	for _, want := range []string{
		"Runs per agent", "Goal pass rate", "Goal verdicts (pass rate over time)", "Failing runs",
		"Input tokens by model", "Output tokens by model", "LLM latency p50 / p95 by model", "Findings by rule",
		"Run pass rate", "Runs by outcome", "Goal pass rate by agent", "LLM spend", "Spend per hour by agent",
		"Findings per hour by rule and severity", "Tokens per second by model", "LLM call duration p50 / p95 by model",
		"Run duration p50 / p95 by agent", "Runs finalised per hour, by what finalised them",
	} {
		assert.Contains(t, titles, want)
	}
	failing := titles["Failing runs"]
	require.NotNil(t, failing)
	assert.Equal(t, "table", get(failing, "type"))
	assert.Equal(t, "traces", get(list(get(failing, "targets"))[0], "tableType"))
}

// TestDashboardAttributes is the guard: every attribute a panel queries is
// one the collector emits, in the scope it emits it.
func TestDashboardAttributes(t *testing.T) {
	c := newChecker(t, loadEmitted(t), loadYAML(t, tempoFile))
	d := loadDashboard(t)
	for _, err := range c.dashboard(d) {
		t.Error(err)
	}

	// The queries do reference attributes: the check is not vacuous.
	var refs []string
	for _, p := range allPanels(d) {
		for _, tg := range list(get(p, "targets")) {
			for _, r := range traceQLAttributes(str(get(tg, "query"))) {
				refs = append(refs, r[0]+"."+r[1])
			}
			refs = append(refs, promLabels(str(get(tg, "expr")))...)
		}
	}
	for _, want := range []string{
		"span.gen_ai.operation.name", "resource.service.name", "span.promptetheus.goal.passed",
		"span.gen_ai.usage.input_tokens", "span.gen_ai.request.model", "span.promptetheus.finding.rule_id",
		"gen_ai_request_model", "promptetheus_finding_rule_id",
	} {
		assert.Contains(t, refs, want)
	}

	t.Run("rejects attributes we do not emit", func(t *testing.T) {
		for _, q := range []string{
			`{ span.gen_ai.request.temperature > 0.5 } | rate()`,
			`{ resource.promptetheus.tenant = "x" }`,
			`{ resource.gen_ai.request.model = "gpt" }`, // emitted, but on spans
			`{ span.promptetheus.project.id = "p" }`,    // emitted, but on the resource
			`{ .made_up.attribute = 1 }`,
			`{ span."promptetheus.not emitted" = 1 }`,
			`{ span.gen_ai.system = "openai" }`, // read, never emitted
			`{ link.gen_ai.operation.name = "chat" }`,
			`{ span.gen_ai.operation.name = "chat" } | sum_over_time(span.gen_ai.usage.total_tokens)`,
		} {
			assert.NotEmpty(t, c.traceQL(q), q)
		}
		for _, q := range []string{
			`sum by (gen_ai_request_temperature) (rate(traces_spanmetrics_calls_total[5m]))`,
			`sum(rate(traces_spanmetrics_calls_total{promptetheus_made_up="x"}[5m]))`,
			`sum by (promptetheus_workspace_id) (rate(traces_spanmetrics_calls_total[5m]))`, // emitted, not a dimension
			`sum(rate(traces_spanmetrics_calls_total[5m])) {{gen_ai_usage_input_tokens}}`,
			`sum(rate(traces_spanmetric_calls_total[5m]))`,
		} {
			assert.NotEmpty(t, c.promQL(q), q)
		}

		// A dashboard whose panel queries a made-up attribute fails.
		bad := loadDashboard(t)
		for _, p := range allPanels(bad) {
			for _, tg := range list(get(p, "targets")) {
				if str(get(tg, "datasource", "type")) == "tempo" {
					tg.(map[string]any)["query"] = `{ span.gen_ai.made_up = "x" } | rate()`
				}
			}
		}
		errs := c.dashboard(bad)
		require.NotEmpty(t, errs)
		assert.ErrorContains(t, errs[0], "gen_ai.made_up")
	})

	t.Run("accepts what we emit", func(t *testing.T) {
		q := `{ span.gen_ai.operation.name = "chat" && resource.service.name = "agent" && name = "span.fake.in_string" ` +
			`&& span.promptetheus.metadata.customer = "x" && .gen_ai.request.model =~ "gpt.*" && ` +
			`event.gen_ai.evaluation.name = "goal_check" && span."gen_ai.provider.name" != nil } | quantile_over_time(duration, .5, .95)`
		assert.Empty(t, c.traceQL(q))
		assert.Empty(t, c.promQL(`histogram_quantile(0.9, sum by (le, service, gen_ai_request_model) `+
			`(rate(traces_spanmetrics_latency_bucket{tenant="p", status_code="STATUS_CODE_ERROR"}[5m])))`))
	})
}

func TestTempoConfig(t *testing.T) {
	e := loadEmitted(t)
	tempo := loadYAML(t, tempoFile)
	assert.Equal(t, true, get(tempo, "multitenancy_enabled"))
	assert.NotNil(t, get(tempo, "distributor", "receivers", "otlp", "protocols", "http"))
	assert.NotNil(t, get(tempo, "distributor", "receivers", "otlp", "protocols", "grpc"))

	columns := list(get(tempo, "storage", "trace", "block", "parquet_dedicated_columns"))
	require.NotEmpty(t, columns)
	perScope := map[string]int{}
	seen := map[string]bool{}
	for _, col := range columns {
		name, scope := str(get(col, "name")), str(get(col, "scope"))
		key := scope + "." + name
		assert.False(t, seen[key], "duplicate dedicated column %s", key)
		seen[key] = true
		perScope[scope]++
		assert.Equal(t, "string", get(col, "type"), key)
		assert.False(t, e.nonString[name], "%s: dedicated columns hold strings, we write %s as another type", key, name)
		assert.True(t, strings.HasPrefix(name, "gen_ai.") || strings.HasPrefix(name, "promptetheus.") || e.resource[name], key)
		switch scope {
		case "resource":
			assert.True(t, e.resource[name], "%s: not a resource attribute we emit", key)
		case "span":
			assert.True(t, e.has(name) && !e.resource[name], "%s: not a span attribute we emit", key)
		default:
			t.Errorf("%s: scope must be span or resource", key)
		}
	}
	for scope, n := range perScope {
		assert.LessOrEqual(t, n, 10, "vParquet4 holds at most 10 dedicated string columns per scope (%s)", scope)
	}
	for _, want := range []string{"span.gen_ai.operation.name", "span.gen_ai.request.model", "span.promptetheus.finding.rule_id", "resource.promptetheus.project.id"} {
		assert.True(t, seen[want], "dedicated column %s", want)
	}
	if lb := get(tempo, "metrics_generator", "processor", "local_blocks", "block", "parquet_dedicated_columns"); lb != nil {
		assert.Equal(t, columns, lb, "local blocks use the same dedicated columns")
	}
}

// TestCollectorConfig checks the production choices of collector.yaml. That
// the file loads in the distribution at all is checked with the built binary
// (e2e: TestE2EDeployConfigValidates).
func TestCollectorConfig(t *testing.T) {
	cfg := loadYAML(t, collectorFile)
	assert.Nil(t, get(cfg, "processors", "batch"), "no batch processor: it holds acknowledged data in memory")
	pipelines := asMap(get(cfg, "service", "pipelines"))
	require.Contains(t, pipelines, "traces")
	for name, p := range pipelines {
		for _, id := range list(get(p, "processors")) {
			tp, _, _ := strings.Cut(str(id), "/")
			assert.NotEqual(t, "batch", tp, "pipeline %s has a batch processor", name)
		}
	}
	traces := pipelines["traces"]
	assert.Equal(t, []any{"promptetheus", "otlp"}, get(traces, "receivers"))
	assert.Equal(t, []any{"memory_limiter", "promptetheus"}, get(traces, "processors"), "memory_limiter first, then the promptetheus processor")
	assert.Equal(t, []any{"tempo", "agent_metrics"}, get(traces, "exporters"), "the connector measures the judged traces")
	require.Contains(t, pipelines, "metrics/agents")
	assert.Equal(t, []any{"agent_metrics"}, get(pipelines["metrics/agents"], "receivers"))
	assert.Equal(t, []any{"prometheus"}, get(pipelines["metrics/agents"], "exporters"))
	assert.NotNil(t, get(cfg, "connectors", "agent_metrics", "aggregation_cardinality_limit"), "a cardinality limit fitted to production")

	assert.Equal(t, true, get(cfg, "extensions", "file_storage", "fsync"))
	assert.Equal(t, true, get(cfg, "extensions", "file_storage", "create_directory"))

	rcv := get(cfg, "receivers", "promptetheus")
	assert.Equal(t, "0.0.0.0:4318", get(rcv, "endpoint"))
	assert.Equal(t, "file_storage", get(rcv, "storage"))
	assert.Equal(t, "agent_rules", get(rcv, "rules"), "the receiver judges its runs with the shared rules")
	assert.Equal(t, "agent_rules", get(cfg, "processors", "promptetheus", "rules"), "and the processor OTLP agent traces with the same")
	assert.Contains(t, list(get(cfg, "service", "extensions")), "agent_rules")
	keys := list(get(rcv, "api_keys"))
	require.NotEmpty(t, keys)
	for _, k := range keys {
		assert.Nil(t, get(k, "key"), "API keys are configured by their SHA-256 only")
		assert.True(t, strings.HasPrefix(str(get(k, "key_sha256")), "${env:"), "key_sha256 comes from the environment")
	}
	assert.Nil(t, get(rcv, "console", "tokens"), "no static console tokens in production")
	assert.Nil(t, get(rcv, "auth"), "the server's own auth would refuse API keys and /health")
	assert.Equal(t, "oidc", get(rcv, "console", "authenticator"), "console JWTs through the oidc extension")
	assert.Contains(t, list(get(cfg, "service", "extensions")), "oidc")
	providers := list(get(cfg, "extensions", "oidc", "providers"))
	require.Len(t, providers, 1)
	for _, f := range []string{"issuer_url", "audience", "public_keys_file"} {
		assert.True(t, strings.HasPrefix(str(get(providers[0], f)), "${env:"), "oidc %s comes from the environment", f)
	}

	exp := get(cfg, "exporters", "tempo")
	assert.Contains(t, str(get(exp, "endpoint")), "${env:TEMPO_OTLP_HTTP_ENDPOINT")
	assert.Equal(t, "file_storage", get(exp, "sending_queue", "storage"), "persistent sending queue")
	assert.NotNil(t, get(exp, "sending_queue", "batch"), "batching happens in the persistent queue")
	assert.Equal(t, conventions.AttrProjectID, get(exp, "tenant", "resource_attribute"))
}

// TestPrometheusConfig: Prometheus scrapes the collector's agent metrics
// and telemetry on the ports collector.yaml serves them, and loads the rules
// where compose mounts them.
func TestPrometheusConfig(t *testing.T) {
	prom := loadYAML(t, prometheusFile)
	cfg := loadYAML(t, collectorFile)
	targets := map[string]bool{}
	for _, job := range list(get(prom, "scrape_configs")) {
		for _, sc := range list(get(job, "static_configs")) {
			for _, tg := range list(get(sc, "targets")) {
				targets[str(tg)] = true
			}
		}
	}
	_, metricsPort, _ := strings.Cut(str(get(cfg, "exporters", "prometheus", "endpoint")), ":")
	assert.True(t, targets["collector:"+metricsPort], "Prometheus scrapes the agent metrics on :%s", metricsPort)
	telemetryPort := fmt.Sprint(get(list(get(cfg, "service", "telemetry", "metrics", "readers"))[0], "pull", "exporter", "prometheus", "port"))
	assert.True(t, targets["collector:"+telemetryPort], "Prometheus scrapes the collector's telemetry on :%s", telemetryPort)
	assert.Equal(t, []any{"/etc/prometheus/rules/*.yml"}, get(prom, "rule_files"))
}

// TestAlertRules checks every alert rule's query like the dashboard's: each
// metric is one the collector exposes, each label one it carries, and the
// labels the annotations print come out of the query.
func TestAlertRules(t *testing.T) {
	c := newChecker(t, loadEmitted(t), loadYAML(t, tempoFile))
	files, err := filepath.Glob(rulesGlob)
	require.NoError(t, err)
	require.NotEmpty(t, files)
	templateLabel := regexp.MustCompile(`\$labels\.([A-Za-z_][A-Za-z0-9_]*)`)
	alerts := map[string]bool{}
	for _, f := range files {
		for _, g := range list(get(loadYAML(t, f), "groups")) {
			for _, r := range list(get(g, "rules")) {
				name, expr := str(get(r, "alert")), str(get(r, "expr"))
				alerts[name] = true
				for _, err := range c.promQL(expr) {
					t.Errorf("%s: %v", name, err)
				}
				var printed []string
				for _, text := range asMap(get(r, "annotations")) {
					for _, m := range templateLabel.FindAllStringSubmatch(str(text), -1) {
						printed = append(printed, "{{"+m[1]+"}}")
					}
				}
				if len(printed) > 0 {
					for _, err := range c.promQL(expr + " " + strings.Join(printed, " ")) {
						t.Errorf("%s annotations: %v", name, err)
					}
				}
				assert.NotEmpty(t, get(r, "labels", "severity"), "%s has a severity", name)
			}
		}
	}
	for _, want := range []string{"AgentGoalPassRateLow", "AgentLooping", "AgentSpendHigh", "ProjectSpendHigh", "AgentRunsEndingByIdleTimeout", "AgentMetricsOverflow"} {
		assert.True(t, alerts[want], want)
	}
}

// TestPromtool runs Prometheus' own checks on the rules and their unit
// tests (prometheus/tests): promtool comes with Debian's prometheus
// package, which .ci/run installs.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool not found: install Debian's prometheus package (apt-get install prometheus), as .ci/run does")
	rules, err := filepath.Glob(rulesGlob)
	require.NoError(t, err)
	tests, err := filepath.Glob(ruleTestsGlob)
	require.NoError(t, err)
	require.NotEmpty(t, tests)
	// The config names the rules by their path in the container.
	b, err := os.ReadFile(prometheusFile)
	require.NoError(t, err)
	rulesDir, err := filepath.Abs(filepath.Dir(rulesGlob))
	require.NoError(t, err)
	config := filepath.Join(t.TempDir(), "prometheus.yml")
	require.NoError(t, os.WriteFile(config, []byte(strings.ReplaceAll(string(b), "/etc/prometheus/rules", rulesDir)), 0o600))

	for _, args := range [][]string{
		append([]string{"check", "rules"}, rules...),
		append([]string{"test", "rules"}, tests...),
		{"check", "config", config},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		assert.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
	}
}

// TestDashboardMetrics is the guard for metrics: every metric a panel
// queries is one the collector exposes (or Tempo's span metrics), with the
// labels it carries.
func TestDashboardMetrics(t *testing.T) {
	c := newChecker(t, loadEmitted(t), loadYAML(t, tempoFile))
	var queried []string
	for _, p := range allPanels(loadDashboard(t)) {
		for _, tg := range list(get(p, "targets")) {
			if expr := str(get(tg, "expr")); expr != "" {
				names, err := promMetrics(expr)
				require.NoError(t, err, expr)
				queried = append(queried, names...)
			}
		}
	}
	for _, want := range []string{
		"promptetheus_agent_runs_total", "promptetheus_agent_findings_total", "promptetheus_agent_cost_USD_total",
		"promptetheus_agent_run_duration_seconds_bucket", "gen_ai_client_token_usage_sum",
		"gen_ai_client_operation_duration_seconds_bucket", "otelcol_receiver_promptetheus_traces_finalized",
	} {
		assert.Contains(t, queried, want, "the dashboard shows the agent metrics")
	}

	for _, q := range []string{
		`sum(rate(promptetheus_agent_run_total[5m]))`,                                   // misspelt
		`sum(rate(promptetheus_agent_runs[5m]))`,                                        // without _total
		`sum(rate(promptetheus_agent_cost_usd_total[5m]))`,                              // the unit is USD
		`sum(promptetheus_agent_runs_total{gen_ai_request_model="gpt-5"})`,              // a label of another metric
		`sum by (gen_ai_agent_name) (rate(gen_ai_client_token_usage_sum[5m]))`,          // no agent on the GenAI metrics
		`sum(otelcol_receiver_promptetheus_traces_finalized_total)`,                     // the collector adds no _total
		`histogram_quantile(0.9, rate(gen_ai_client_operation_duration_bucket[5m]))`,    // unit suffix missing
		`sum(rate(promptetheus_agent_findings_total[5m])) {{promptetheus_run_outcome}}`, // legend label not in the result
	} {
		assert.NotEmpty(t, c.promQL(q), q)
	}
	for _, q := range []string{
		`sum by (promptetheus_run_outcome) (rate(promptetheus_agent_runs_total{promptetheus_project_id=~"$project", job="x"}[$__rate_interval]))`,
		`histogram_quantile(0.95, sum by (le, gen_ai_request_model, server_address) (rate(gen_ai_client_operation_duration_seconds_bucket[5m])))`,
		`sum by (finalized_by) (increase(otelcol_receiver_promptetheus_traces_finalized[1h])) {{finalized_by}}`,
		`label_values(promptetheus_agent_runs_total, gen_ai_agent_name)`,
	} {
		assert.Empty(t, c.promQL(q), q)
	}
}

// ---- helpers ----

func loadYAML(t testing.TB, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, yaml.Unmarshal(b, &v), file)
	return v
}

func loadDashboard(t testing.TB) map[string]any {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, json.Unmarshal(b, &v), dashboardFile)
	return v
}

func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
