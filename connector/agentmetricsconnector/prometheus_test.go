// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentmetricsconnector

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// prometheusSeriesFile lists the Prometheus series the connector's metrics
// become in contrib's prometheus exporter with its default translation
// (metric name, then the label names), one family per line. deploy/ checks
// its alert rules and dashboard queries against it.
var prometheusSeriesFile = filepath.Join("testdata", "prometheus_series.txt")

// TestPrometheusNames runs every metric through the real prometheus
// exporter and pins the names a Prometheus server scrapes.
func TestPrometheusNames(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	for _, name := range []string{"promptetheus_runs", "otlp_dialects"} {
		require.NoError(t, h.c.ConsumeTraces(ctx, readTraces(t, name)))
	}
	md := h.c.build()
	require.Equal(t, int(numMetrics), md.MetricCount(), "every metric is in the input")

	exposition := scrapeExporter(t, md)
	got := seriesFamilies(exposition)
	if *update {
		require.NoError(t, os.WriteFile(prometheusSeriesFile, []byte(strings.Join(got, "\n")+"\n"), 0o600))
	}
	want, err := os.ReadFile(prometheusSeriesFile)
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSpace(string(want)), strings.Join(got, "\n"))
}

// scrapeExporter serves md from a prometheus exporter on loopback and
// returns what a scrape reads.
func scrapeExporter(t *testing.T, md pmetric.Metrics) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	endpoint := l.Addr().String()
	require.NoError(t, l.Close())

	f := prometheusexporter.NewFactory()
	cfg := f.CreateDefaultConfig().(*prometheusexporter.Config)
	cfg.ServerConfig.NetAddr.Endpoint = endpoint
	exp, err := f.CreateMetrics(context.Background(), exportertest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	require.NoError(t, exp.ConsumeMetrics(context.Background(), md))

	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + endpoint + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err == nil && resp.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond)
	return body
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s`)
var labelName = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"`)

// seriesFamilies lists each sample name with the union of its label names.
func seriesFamilies(exposition string) []string {
	labels := map[string]map[string]bool{}
	for line := range strings.SplitSeq(exposition, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if labels[m[1]] == nil {
			labels[m[1]] = map[string]bool{}
		}
		for _, l := range labelName.FindAllStringSubmatch(m[2], -1) {
			labels[m[1]][l[1]] = true
		}
	}
	var out []string
	for name, set := range labels {
		names := make([]string, 0, len(set))
		for l := range set {
			names = append(names, l)
		}
		slices.Sort(names)
		out = append(out, name+" "+strings.Join(names, ","))
	}
	slices.Sort(out)
	return out
}
