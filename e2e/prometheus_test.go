// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// prometheusBinary is Debian's Prometheus server (package prometheus, which
// .ci/run installs).
const prometheusBinary = "/usr/bin/prometheus"

// prometheusServer is a Prometheus server on loopback scraping the given
// targets every second.
type prometheusServer struct {
	*process
	addr string
}

// startPrometheus starts Prometheus with one scrape job per target (job
// name -> host:port) and the given rule files.
func startPrometheus(t testing.TB, targets map[string]string, ruleFiles ...string) *prometheusServer {
	t.Helper()
	if _, err := exec.LookPath(prometheusBinary); err != nil {
		t.Fatalf("%s not found: install Debian's prometheus package (apt-get install prometheus), as .ci/run does", prometheusBinary)
	}
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n")
	if len(ruleFiles) > 0 {
		cfg.WriteString("rule_files:\n")
		for _, f := range ruleFiles {
			fmt.Fprintf(&cfg, "  - %q\n", f)
		}
	}
	cfg.WriteString("scrape_configs:\n")
	jobs := make([]string, 0, len(targets))
	for job := range targets {
		jobs = append(jobs, job)
	}
	slices.Sort(jobs)
	for _, job := range jobs {
		fmt.Fprintf(&cfg, "  - job_name: %s\n    static_configs:\n      - targets: [%q]\n", job, targets[job])
	}
	config := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(config, []byte(cfg.String()), 0o600))
	for attempt := 0; ; attempt++ {
		p := &prometheusServer{addr: addr(freePort(t))}
		p.process = start(t, "prometheus", nil, prometheusBinary,
			"--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, fmt.Sprint("data", attempt)),
			"--web.listen-address="+p.addr, "--log.level=warn")
		err := waitReady(p.process, "http://"+p.addr+"/-/ready")
		if err == nil {
			return p
		}
		if !errors.Is(err, errPortTaken) || attempt == 2 {
			t.Fatal(err)
		}
	}
}

// promSample is one series of an instant query's answer.
type promSample struct {
	Labels map[string]string
	Value  float64
}

// api reads one endpoint of Prometheus' HTTP API into out (the data field).
func (p *prometheusServer) api(t testing.TB, path string, params url.Values, out any) {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + path + "?" + params.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var envelope struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &envelope), string(body))
	require.Equal(t, "success", envelope.Status, "%s %v: %s", path, params, envelope.Error)
	require.NoError(t, json.Unmarshal(envelope.Data, out))
}

// query answers an instant PromQL query (a vector).
func (p *prometheusServer) query(t testing.TB, expr string) []promSample {
	t.Helper()
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	p.api(t, "/api/v1/query", url.Values{"query": {expr}}, &data)
	require.Equal(t, "vector", data.ResultType, expr)
	out := make([]promSample, 0, len(data.Result))
	for _, r := range data.Result {
		v, err := strconv.ParseFloat(r.Value[1].(string), 64)
		require.NoError(t, err)
		out = append(out, promSample{Labels: r.Metric, Value: v})
	}
	return out
}

// waitValue polls a query that answers one sample until its value is want.
// It reports the last answer when the value does not come.
func (p *prometheusServer) waitValue(t testing.TB, expr string, want float64) bool {
	t.Helper()
	var last []promSample
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		last = p.query(t, expr)
		if len(last) == 1 && last[0].Value == want {
			return true
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Errorf("%s: want one sample of value %v, Prometheus answers %v", expr, want, last)
	return false
}
