// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package e2e runs the built collector binary against a real Jaeger v2 on
// loopback and reads the spans back from Jaeger's query API.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// repoRoot is the repository root, two levels above this file.
func repoRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Dir(filepath.Dir(file))
}

var buildMu sync.Mutex

// binary returns the path of a program: from env when set (the Makefile sets
// it), else built into bin/ of the repository once.
func binary(t testing.TB, env, name string, build func(out string) *exec.Cmd) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	out := filepath.Join(repoRoot(t), "bin", name)
	if _, err := os.Stat(out); err == nil && name == "jaeger" {
		return out // slow to build, rebuilt by `make jaeger` when its module changes
	}
	cmd := build(out)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Run(), "building %s", name)
	return out
}

func collectorBinary(t testing.TB) string {
	return binary(t, "PROMPTETHEUS_COLLECTOR_BIN", "otelcol-promptetheus", func(out string) *exec.Cmd {
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/otelcol-promptetheus")
		cmd.Dir = repoRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build
		return cmd
	})
}

func jaegerBinary(t testing.TB) string {
	return binary(t, "PROMPTETHEUS_JAEGER_BIN", "jaeger", func(out string) *exec.Cmd {
		cmd := exec.Command("go", "build", "-o", out, "github.com/jaegertracing/jaeger/cmd/jaeger")
		cmd.Dir = filepath.Join(repoRoot(t), "internal", "tools", "jaeger")
		return cmd
	})
}

// freePorts returns n distinct free loopback ports, all held open until
// every one is chosen.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

func freePort(t testing.TB) int { return freePorts(t, 1)[0] }

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// process is a program started by a test, killed at cleanup.
type process struct {
	cmd  *exec.Cmd
	log  string
	done chan error
}

func start(t testing.TB, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	return startCmd(t, name, cmd)
}

// startCmd starts cmd in its own process group, its output in a log shown
// when the test fails.
func startCmd(t testing.TB, name string, cmd *exec.Cmd) *process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	require.NoError(t, cmd.Start())
	p := &process{cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("---- %s log ----\n%s", name, tail(string(b), 8000))
		}
	})
	return p
}

// stop signals the process and waits for it (SIGKILL after 15s).
func (p *process) stop(sig syscall.Signal) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitHTTP polls url until it answers 200.
func waitHTTP(t testing.TB, p *process, url string) {
	t.Helper()
	if err := waitReady(p, url); err != nil {
		t.Fatal(err)
	}
}

// errPortTaken: the process found one of its ports taken (by a process of
// another test package that picked the same free port meanwhile).
var errPortTaken = errors.New("address already in use")

func waitReady(p *process, url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err // keep it for stop
			b, _ := os.ReadFile(p.log)
			if strings.Contains(string(b), "address already in use") {
				return errPortTaken
			}
			return fmt.Errorf("process exited (%v) before %s answered:\n%s", err, url, tail(string(b), 4000))
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer in time", url)
}

// jaeger is a Jaeger v2 all-in-one on free loopback ports.
type jaeger struct {
	*process
	otlpGRPC string
	otlpHTTP string
	query    string
	health   string
	env      []string
	config   string
}

// startJaeger starts Jaeger with in-memory storage.
func startJaeger(t testing.TB) *jaeger { return startJaegerWith(t, "") }

// startJaegerWith keeps spans in Badger under badgerDir when it is set, so
// they survive a restart.
func startJaegerWith(t testing.TB, badgerDir string) *jaeger {
	t.Helper()
	for attempt := 0; ; attempt++ {
		ports := freePorts(t, 5)
		j := &jaeger{otlpGRPC: addr(ports[0]), query: addr(ports[1]), health: addr(ports[2]), otlpHTTP: addr(ports[3])}
		j.env = []string{
			"JAEGER_OTLP_GRPC=" + j.otlpGRPC,
			"JAEGER_OTLP_HTTP=" + j.otlpHTTP,
			"JAEGER_QUERY_HTTP=" + j.query,
			"JAEGER_QUERY_GRPC=" + addr(ports[4]),
			"JAEGER_HEALTH_HTTP=" + j.health,
		}
		j.config = filepath.Join(repoRoot(t), "internal", "tools", "jaeger", "config.yaml")
		if badgerDir != "" {
			j.env = append(j.env, "JAEGER_BADGER_DIR="+badgerDir)
			j.config = filepath.Join(repoRoot(t), "internal", "tools", "jaeger", "config-badger.yaml")
		}
		j.process = start(t, "jaeger", j.env, jaegerBinary(t), "--config", j.config)
		err := waitReady(j.process, "http://"+j.health+"/status")
		if err == nil {
			return j
		}
		if !errors.Is(err, errPortTaken) || attempt == 2 {
			t.Fatal(err)
		}
	}
}

// restart starts the process again on the same ports and storage.
func (j *jaeger) restart(t testing.TB) {
	t.Helper()
	j.process = start(t, "jaeger", j.env, jaegerBinary(t), "--config", j.config)
	waitHTTP(t, j.process, "http://"+j.health+"/status")
}

// jaegerSpan is a span as Jaeger's query API returns it.
type jaegerSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
	Logs []struct {
		Fields []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"fields"`
	} `json:"logs"`
	ProcessID string `json:"processID"`
}

func (s jaegerSpan) tag(key string) any {
	for _, tg := range s.Tags {
		if tg.Key == key {
			return tg.Value
		}
	}
	return nil
}

func (s jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// trace fetches a trace by hex id; nil when Jaeger does not have it (yet).
func (j *jaeger) trace(t testing.TB, traceID string) []jaegerSpan {
	t.Helper()
	resp, err := http.Get("http://" + j.query + "/api/traces/" + traceID)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var out struct {
		Data []struct {
			Spans []jaegerSpan `json:"spans"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &out))
	if len(out.Data) == 0 {
		return nil
	}
	return out.Data[0].Spans
}

// distinct collapses the copies of a span a backend received twice: the
// pipeline delivers at least once, and a crash between sending and
// recording lets a span go twice. Copies must be identical (our spans are
// deterministic) but for Jaeger's own sanitizer warnings; it returns one span
// per id and the number of copies collapsed.
func distinct(t testing.TB, spans []jaegerSpan) ([]jaegerSpan, int) {
	t.Helper()
	byID := map[string]jaegerSpan{}
	var out []jaegerSpan
	copies := 0
	for _, sp := range spans {
		first, seen := byID[sp.SpanID]
		if !seen {
			byID[sp.SpanID] = sp
			out = append(out, sp)
			continue
		}
		copies++
		assert.Equal(t, comparable(first), comparable(sp), "span %s delivered twice with other content", sp.SpanID)
	}
	return out, copies
}

// comparable is a span without the warnings Jaeger adds when it stores it.
func comparable(sp jaegerSpan) jaegerSpan {
	tags := sp.Tags[:0:0]
	for _, tg := range sp.Tags {
		if tg.Key != "@jaeger@warnings" {
			tags = append(tags, tg)
		}
	}
	sp.Tags = tags
	return sp
}

// procMiB reads a memory figure of a process from /proc/<pid>/status, in
// MiB: "VmRSS" (resident now) or "VmHWM" (its high-water mark).
func procMiB(pid int, field string) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err == nil
		}
	}
	return 0, false
}

// waitTrace polls Jaeger until the trace has at least n distinct spans.
func (j *jaeger) waitTrace(t testing.TB, traceID string, n int) []jaegerSpan {
	t.Helper()
	spans := j.traceWithin(t, traceID, n, 30*time.Second)
	if got := distinctIDs(spans); got < n {
		t.Fatalf("trace %s has %d distinct spans in Jaeger, want %d", traceID, got, n)
	}
	return spans
}

// traceWithin polls Jaeger until the trace has at least n distinct spans or
// the timeout passes, and returns what it has (the caller counts what is
// missing). Copies of one span delivered twice count once: counting them
// would end the wait before the last spans arrive.
func (j *jaeger) traceWithin(t testing.TB, traceID string, n int, timeout time.Duration) []jaegerSpan {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		spans := j.trace(t, traceID)
		if distinctIDs(spans) >= n || time.Now().After(deadline) {
			return spans
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func distinctIDs(spans []jaegerSpan) int {
	ids := make(map[string]struct{}, len(spans))
	for _, sp := range spans {
		ids[sp.SpanID] = struct{}{}
	}
	return len(ids)
}

// collector is our distribution running on a generated config.
type collector struct {
	*process
	api      string
	otlpHTTP string
	metrics  string
	dataDir  string
	config   string
}

// collectorOptions vary the generated configuration.
type collectorOptions struct {
	// exporters is the YAML of the exporters section; its exporters all go
	// in the traces pipeline.
	exporters map[string]string
	// receiverExtra is appended to the promptetheus receiver's settings.
	receiverExtra string
	processors    []string
	processorYAML string
	dataDir       string
	apiPort       int
	// memoryState keeps the receiver's run state in memory (no storage).
	memoryState bool
	// extraReceivers is YAML added to the receivers section; the pipeline
	// takes pipelineReceivers (default: promptetheus only).
	extraReceivers    string
	pipelineReceivers []string
	// pprof, when set, serves the pprof extension on this address.
	pprof string
	// agentMetrics, when set, adds the agent_metrics connector to the traces
	// pipeline (flushing every second) and serves its metrics with the
	// prometheus exporter on this address.
	agentMetrics string
	// extensionsYAML is added to the extensions section; the service also
	// starts extensions.
	extensionsYAML string
	extensions     []string
	// console is the YAML of the receiver's console section (default: the
	// dev console token for both projects).
	console string
}

func startCollector(t testing.TB, opts collectorOptions) *collector {
	t.Helper()
	c := newCollector(t, opts)
	c.restart(t)
	return c
}

// newCollector writes the configuration of opts without starting it.
func newCollector(t testing.TB, opts collectorOptions) *collector {
	t.Helper()
	if opts.dataDir == "" {
		opts.dataDir = t.TempDir()
	}
	ports := freePorts(t, 2)
	if opts.apiPort == 0 {
		opts.apiPort = ports[0]
	}
	c := &collector{api: addr(opts.apiPort), metrics: addr(ports[1]), dataDir: opts.dataDir}
	storage := "storage: file_storage"
	if opts.memoryState {
		storage = ""
	}
	if opts.processors == nil {
		opts.processors = []string{"memory_limiter"}
	}
	if opts.pipelineReceivers == nil {
		opts.pipelineReceivers = []string{"promptetheus"}
	}
	extensions := append([]string{"file_storage", "agent_rules"}, opts.extensions...)
	extensionsYAML := indent(opts.extensionsYAML, "  ")
	if opts.pprof != "" {
		extensions = append(extensions, "pprof")
		extensionsYAML += "\n  pprof:\n    endpoint: " + opts.pprof
	}
	if opts.console == "" {
		opts.console = "tokens: [pt_console_token]\nprojects: [proj_acmemeet, proj_other]"
	}
	var exporterYAML strings.Builder
	var names []string
	for name, body := range opts.exporters {
		fmt.Fprintf(&exporterYAML, "  %s:\n%s\n", name, indent(body, "    "))
		names = append(names, name)
	}
	var connectorYAML, promExporterYAML, metricsPipelineYAML string
	if opts.agentMetrics != "" {
		connectorYAML = "connectors:\n  agent_metrics:\n    metrics_flush_interval: 1s\n"
		promExporterYAML = "  prometheus:\n    endpoint: " + opts.agentMetrics + "\n"
		metricsPipelineYAML = "    metrics/agents:\n      receivers: [agent_metrics]\n      exporters: [prometheus]\n"
		names = append(names, "agent_metrics")
	}
	processors := "[" + strings.Join(opts.processors, ", ") + "]"
	cfg := fmt.Sprintf(`
extensions:
  file_storage:
    directory: %[1]s/state
    create_directory: true
  agent_rules:
%[12]s
receivers:
  promptetheus:
    endpoint: %[2]s
    workspace_id: ws_dev
    api_keys:
      - project: proj_acmemeet
        key: pt_dev_key
      - project: proj_other
        key: pt_other_key
    console:
%[14]s
    rules: agent_rules
    %[9]s
    artifacts:
      directory: %[1]s/artifacts
%[3]s
%[10]s
processors:
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
    spike_limit_percentage: 20
%[4]s
%[17]s
exporters:
%[5]s
%[15]s
service:
  extensions: %[13]s
  telemetry:
    logs:
      level: info
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %[6]d
  pipelines:
    traces:
      receivers: [%[11]s]
      processors: %[7]s
      exporters: [%[8]s]
%[16]s
`, opts.dataDir, c.api, indent(opts.receiverExtra, "    "), indent(opts.processorYAML, "  "), exporterYAML.String(),
		portOf(c.metrics), processors, strings.Join(names, ", "), storage, indent(opts.extraReceivers, "  "),
		strings.Join(opts.pipelineReceivers, ", "), extensionsYAML, "["+strings.Join(extensions, ", ")+"]",
		indent(opts.console, "      "), promExporterYAML, metricsPipelineYAML, connectorYAML)
	c.config = filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(c.config, []byte(cfg), 0o600))
	return c
}

// restart starts the collector again on the same config, ports and data.
func (c *collector) restart(t testing.TB) {
	t.Helper()
	c.process = start(t, "collector", nil, collectorBinary(t), "--config", c.config)
	waitHTTP(t, c.process, "http://"+c.api+"/health")
}

func portOf(a string) int {
	_, p, _ := net.SplitHostPort(a)
	n, _ := strconv.Atoi(p)
	return n
}

func indent(s, prefix string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

// metric reads one counter of the collector's own telemetry, summing the
// series whose labels contain every filter.
func (c *collector) metric(t testing.TB, name string, filters ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + c.metrics + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := strings.TrimPrefix(line, name)
		if rest != "" && rest[0] != '{' && rest[0] != ' ' {
			continue
		}
		matched := true
		for _, f := range filters {
			matched = matched && strings.Contains(line, f)
		}
		if !matched {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		require.NoError(t, err)
		sum += v
	}
	return sum
}

func jaegerExporter(j *jaeger) string {
	return fmt.Sprintf("endpoint: %s\ntls:\n  insecure: true\nsending_queue:\n  storage: file_storage\n", j.otlpGRPC)
}

// procCPU is the user+system CPU time a process used so far.
func procCPU(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

func percentile(lat []time.Duration, p int) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[min(len(lat)-1, len(lat)*p/100)].Round(10 * time.Microsecond)
}

func mustMiB(t *testing.T, pid int, field string) float64 {
	mib, ok := procMiB(pid, field)
	require.True(t, ok, "reading %s of pid %d", field, pid)
	return mib
}
