// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptetheus/otelcol-promptetheus/client"
)

// nginxServerLine is a server of an upstream block: address, then parameters.
var nginxServerLine = regexp.MustCompile(`^(\s*)server\s+\S+?(\s.*)?;\s*$`)

func shippedNginxConfig(t testing.TB) string {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "nginx", "promptetheus.conf"))
	require.NoError(t, err)
	return string(b)
}

// renderNginxConfig is the shipped load balancer configuration with only its
// listen address and the servers of its upstream replaced.
func renderNginxConfig(t testing.TB, listen string, collectors []string) string {
	t.Helper()
	var out []string
	inUpstream, listens, servers := false, 0, 0
	for _, line := range strings.Split(shippedNginxConfig(t), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "upstream "):
			inUpstream, servers = true, 0
		case inUpstream && trimmed == "}":
			require.NotZero(t, servers, "an upstream without servers")
			inUpstream = false
		case inUpstream && nginxServerLine.MatchString(line):
			if servers == 0 {
				m := nginxServerLine.FindStringSubmatch(line)
				for _, c := range collectors {
					out = append(out, m[1]+"server "+c+m[2]+";")
				}
			}
			servers++
			continue
		case strings.HasPrefix(trimmed, "listen "):
			out = append(out, strings.Repeat(" ", len(line)-len(strings.TrimLeft(line, " ")))+"listen "+listen+";")
			listens++
			continue
		}
		out = append(out, line)
	}
	require.Equal(t, 1, listens, "one listen directive")
	return strings.Join(out, "\n")
}

func nginxBinary(t testing.TB) string {
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("nginx not found: apt-get install nginx (.ci/run installs it)")
	return ""
}

// nginxPrefix writes a main configuration like Debian's /etc/nginx/nginx.conf
// (conf.d included in the http block), with its own pid, temp and log paths,
// around conf. Under root, the directory belongs to nobody: nginx runs
// unprivileged (nginxCommand).
func nginxPrefix(t testing.TB, conf string) (prefix, mainConf string) {
	t.Helper()
	prefix, err := os.MkdirTemp("", "promptetheus-nginx-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(prefix) })
	require.NoError(t, os.Mkdir(filepath.Join(prefix, "conf.d"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(prefix, "conf.d", "promptetheus.conf"), []byte(conf), 0o644))
	mainConf = filepath.Join(prefix, "nginx.conf")
	require.NoError(t, os.WriteFile(mainConf, []byte(fmt.Sprintf(`pid %[1]s/nginx.pid;
worker_processes auto;
error_log stderr warn;
events {
    worker_connections 1024;
}
http {
    default_type application/octet-stream;
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/conf.d/*.conf;
}
`, prefix)), 0o644))
	if uid, gid, ok := nobody(t); ok {
		require.NoError(t, filepath.Walk(prefix, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Chown(p, uid, gid)
		}))
		require.NoError(t, os.Chmod(prefix, 0o755))
	}
	return prefix, mainConf
}

// nobody is the account nginx runs as when the test runs as root.
func nobody(t testing.TB) (uid, gid int, ok bool) {
	if os.Geteuid() != 0 {
		return 0, 0, false
	}
	u, err := user.Lookup("nobody")
	require.NoError(t, err)
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, true
}

func nginxCommand(t testing.TB, prefix, mainConf string, args ...string) *exec.Cmd {
	cmd := exec.Command(nginxBinary(t), append([]string{"-p", prefix, "-c", mainConf, "-e", "stderr"}, args...)...)
	if uid, gid, ok := nobody(t); ok {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	return cmd
}

// lb is Debian's nginx on the shipped configuration, in front of collectors.
type lb struct {
	*process
	addr   string
	prefix string
}

func startNginx(t testing.TB, collectors []string) *lb {
	t.Helper()
	for attempt := 0; ; attempt++ {
		l := &lb{addr: addr(freePort(t))}
		var mainConf string
		l.prefix, mainConf = nginxPrefix(t, renderNginxConfig(t, l.addr, collectors))
		l.process = startCmd(t, "nginx", nginxCommand(t, l.prefix, mainConf, "-g", "daemon off;"))
		err := waitReady(l.process, "http://"+l.addr+"/health")
		if err == nil {
			return l
		}
		if !strings.Contains(err.Error(), "Address already in use") || attempt == 2 {
			t.Fatal(err)
		}
	}
}

func apiAddrs(nodes []*collector) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.api
	}
	return out
}

// call makes one request and returns its status, Retry-After and body.
func call(t testing.TB, method, url, token string, headers map[string]string, body io.Reader) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Retry-After"), b
}

// holders asks every collector that is up directly for the run's events:
// the indexes of those that know the run, and how many events each holds.
func holders(t testing.TB, nodes []*collector, run string) map[int]int {
	t.Helper()
	out := map[int]int{}
	for i, n := range nodes {
		req, err := http.NewRequest(http.MethodGet, "http://"+n.api+"/api/traces/"+run+"/events", http.NoBody)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer pt_console_token")
		resp, err := http.DefaultClient.Do(req)
		if errors.Is(err, syscall.ECONNREFUSED) {
			continue // down
		}
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		status := resp.StatusCode
		if status == http.StatusNotFound {
			continue
		}
		require.Equal(t, http.StatusOK, status, "%s on node %d: %s", run, i, body)
		var list struct {
			Events []json.RawMessage `json:"events"`
		}
		require.NoError(t, json.Unmarshal(body, &list))
		out[i] = len(list.Events)
	}
	return out
}

// TestNginxConfig checks the shipped load balancer configuration with
// Debian's nginx as an operator installs it, and that the tests run it with
// nothing changed but addresses.
func TestNginxConfig(t *testing.T) {
	prefix, mainConf := nginxPrefix(t, shippedNginxConfig(t))
	out, err := nginxCommand(t, prefix, mainConf, "-t").CombinedOutput()
	require.NoError(t, err, "nginx -t:\n%s", out)
	assert.Contains(t, string(out), "syntax is ok")

	rendered := renderNginxConfig(t, "127.0.0.1:1", []string{"127.0.0.1:2", "127.0.0.1:3"})
	strip := func(conf string) []string {
		var kept []string
		for _, line := range strings.Split(conf, "\n") {
			if f := strings.Fields(line); len(f) > 0 && (f[0] == "listen" || f[0] == "server" && strings.Contains(line, ":")) {
				continue
			}
			kept = append(kept, line)
		}
		return kept
	}
	assert.Equal(t, strip(shippedNginxConfig(t)), strip(rendered), "rendering changes addresses only")
	assert.Contains(t, rendered, "    server 127.0.0.1:3 max_fails=0;\n")
	assert.Contains(t, rendered, "    listen 127.0.0.1:1;\n")
}

// TestE2ENginxRunAffinity runs three collectors behind the shipped nginx
// configuration: every request of a run, create and console reads included,
// reaches the collector that holds it, and a collector that is down makes
// its runs wait instead of moving them.
func TestE2ENginxRunAffinity(t *testing.T) {
	nodes := make([]*collector, 3)
	for i := range nodes {
		nodes[i] = startCollector(t, collectorOptions{exporters: map[string]string{"nop": ""}, processors: []string{"memory_limiter"}})
	}
	base := "http://" + startNginx(t, apiAddrs(nodes)).addr
	ctx := context.Background()
	agent := client.New(base, "pt_dev_key", client.WithRetries(10, 50*time.Millisecond, 500*time.Millisecond))
	console := client.New(base, "pt_console_token", client.WithRetries(10, 50*time.Millisecond, 500*time.Millisecond))

	// A create nginx cannot route is refused, not sent to a guess.
	status, _, body := call(t, http.MethodPost, base+"/api/traces", "pt_dev_key", nil, strings.NewReader(`{"id":"affinity_unrouted","agent":"a"}`))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, string(body), client.HeaderTraceID)
	assert.Empty(t, holders(t, nodes, "affinity_unrouted"))

	const runs = 45
	owned := make([]int, len(nodes))
	owner := map[string]int{}
	sessions := map[string]*client.Session{}
	for r := range runs {
		run := fmt.Sprintf("affinity_%02d", r)
		_, err := agent.CreateTrace(ctx, client.CreateTraceRequest{ID: run, Agent: "affinity-agent", UserGoal: "Book Tuesday"})
		require.NoError(t, err)
		s := client.NewSession(run)
		sessions[run] = s
		_, err = agent.AppendEvents(ctx, run, []client.Event{
			s.Event("llm_call", map[string]any{"model": "gpt-5", "input_tokens": 10, "output_tokens": 5}),
			s.Event("goal_check", map[string]any{"passed": r%2 == 0, "mismatches": []string{}}),
		})
		require.NoError(t, err)
		_, err = agent.UploadArtifact(ctx, run, client.Artifact{Body: []byte("png of " + run), ContentType: "image/png", Filename: "s.png", Type: "screenshot", ID: "shot"})
		require.NoError(t, err)

		h := holders(t, nodes, run)
		require.Len(t, h, 1, "%s is held by one collector: %v", run, h)
		for i, n := range h {
			assert.Equal(t, 2, n, "%s: its events are on its collector", run)
			owned[i]++
			owner[run] = i
		}
	}
	for i, n := range owned {
		assert.NotZero(t, n, "collector %d holds runs: %v", i, owned)
	}

	// A collector that is down: its runs get 503 + Retry-After, never another
	// collector; it comes back with its state.
	const waiting = "affinity_00"
	down := owner[waiting]
	alive := ""
	for run, i := range owner {
		if i != down {
			alive = run
			break
		}
	}
	nodes[down].stop(syscall.SIGKILL)
	batch, err := json.Marshal(map[string]any{"events": []client.Event{sessions[waiting].Event("agent_message", map[string]any{"content": "while down"})}})
	require.NoError(t, err)
	status, retryAfter, body := call(t, http.MethodPost, base+"/api/traces/"+waiting+"/events", "pt_dev_key", nil, strings.NewReader(string(batch)))
	assert.Equal(t, http.StatusServiceUnavailable, status, string(body))
	assert.Equal(t, "5", retryAfter)
	var detail struct {
		Detail string `json:"detail"`
	}
	require.NoError(t, json.Unmarshal(body, &detail), string(body))
	assert.Contains(t, detail.Detail, "unavailable")
	_, err = agent.AppendEvents(ctx, alive, []client.Event{sessions[alive].Event("agent_message", map[string]any{"content": "still served"})})
	require.NoError(t, err, "the other collectors serve their runs")
	assert.Empty(t, holders(t, nodes, waiting), "the run moved to no other collector")

	nodes[down].restart(t)
	res, err := agent.AppendEvents(ctx, waiting, []client.Event{sessions[waiting].Event("agent_message", map[string]any{"content": "back"})})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Accepted)
	assert.Equal(t, map[int]int{down: 3}, holders(t, nodes, waiting), "the run is back on its collector, with its state")

	// Console requests through nginx answer from the run's collector.
	for r := range runs {
		run := fmt.Sprintf("affinity_%02d", r)
		a, err := console.Analyze(ctx, run)
		require.NoError(t, err, run)
		require.NotNil(t, a.Goal.Passed, run)
		assert.Equal(t, r%2 == 0, *a.Goal.Passed, run)
		status, _, blob := call(t, http.MethodGet, base+"/api/traces/"+run+"/artifacts/shot", "pt_console_token", nil, nil)
		require.Equal(t, http.StatusOK, status, "%s: %s", run, blob)
		assert.Equal(t, "png of "+run, string(blob))
	}
	for i, n := range nodes {
		assert.Equal(t, float64(owned[i]), n.metric(t, "otelcol_receiver_promptetheus_traces_finalized", `finalized_by="analyze"`),
			"collector %d analysed exactly its own runs", i)
	}
	other := (owner[waiting] + 1) % len(nodes)
	status, _, _ = call(t, http.MethodPost, "http://"+nodes[other].api+"/api/traces/"+waiting+"/analyze", "pt_console_token", nil, nil)
	assert.Equal(t, http.StatusNotFound, status, "another collector does not know the run")
}
