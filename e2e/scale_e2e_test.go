// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

//go:build scale

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/promptetheus/otelcol-promptetheus/client"
)

var (
	nodesFlag      = flag.Int("nodes", 3, "collectors behind nginx")
	workersFlag    = flag.Int("workers", 16, "concurrent agents")
	steadyFlag     = flag.Duration("steady", 40*time.Second, "the phase at full speed that measures throughput")
	faultFlag      = flag.Duration("fault", time.Minute, "the phase in which a collector is killed and restarted")
	faultLoadFlag  = flag.Float64("fault-load", 0.5, "load of the fault phase, a fraction of the steady phase's rate")
	downFlag       = flag.Duration("down", 10*time.Second, "how long the killed collector stays down")
	fleetRunEvents = flag.Int("fleet-run-events", 100, "events per run before its goal_check and session_end")
	fleetBatch     = flag.Int("fleet-batch", 50, "events per request (the SDK batches 50)")
	openRunsFlag   = flag.Int("open-runs", 6000, "runs left open to measure memory per run")
)

const (
	metricAccepted  = "otelcol_receiver_promptetheus_events_accepted"
	metricDuplicate = "otelcol_receiver_promptetheus_events_duplicate"
	metricOpen      = "otelcol_receiver_promptetheus_traces_open"
	metricFinalized = "otelcol_receiver_promptetheus_traces_finalized"
)

// TestScale runs a fleet of collectors, each with its own file_storage,
// behind Debian's nginx on the shipped configuration, all exporting to one
// Jaeger. Agents send runs through nginx with the SDK's retries: at full
// speed (throughput per core), then at part load while one collector is
// killed with SIGKILL and restarted, then open runs (memory per run),
// analyze and artifacts. It checks that every run lives on exactly one
// collector and that every acknowledged event is in Jaeger exactly once,
// under one root span with its run's verdict, and prints the figures of
// docs/scaling.md. Run it with `make scale`.
func TestScale(t *testing.T) {
	j := startJaeger(t)
	nodes := make([]*collector, *nodesFlag)
	for i := range nodes {
		nodes[i] = startCollector(t, collectorOptions{
			exporters: map[string]string{"otlp_grpc/jaeger": jaegerExporter(j) +
				"retry_on_failure:\n  initial_interval: 100ms\n  max_interval: 2s\n  max_elapsed_time: 0\n"},
			processors: []string{"memory_limiter"},
			// Every run stays on its collector until the checks at the end.
			receiverExtra: "sessions:\n  idle_timeout: 30m\n  max_traces: 100000\n",
		})
	}
	balancer := startNginx(t, apiAddrs(nodes))
	load := newFleetLoad("http://" + balancer.addr)
	agent := load.client("pt_dev_key")
	rep := &scaleReport{nodes: make([]nodeReport, len(nodes))}

	// Open runs, on fresh collectors: memory per open run. They stay open
	// for the rest of the test, as runs in progress do.
	anon0, file0, open0 := nodesRSS(t, nodes, "RssAnon"), nodesRSS(t, nodes, "RssFile"), counters(t, nodes, metricOpen)
	var openIDs []string
	for i := range *openRunsFlag {
		openIDs = append(openIDs, fmt.Sprintf("open_%05d", i))
	}
	runAgents(0, *workersFlag, func(_ context.Context, w int) {
		for i := w; i < len(openIDs); i += *workersFlag {
			load.run(agent, nil, openIDs[i], *fleetRunEvents, *fleetBatch, false)
		}
	})
	time.Sleep(3 * time.Second)
	anon1, file1, open1 := nodesRSS(t, nodes, "RssAnon"), nodesRSS(t, nodes, "RssFile"), counters(t, nodes, metricOpen)
	for i := range nodes {
		rep.nodes[i].openRuns = open1[i] - open0[i]
		rep.nodes[i].anonGrowth, rep.nodes[i].fileGrowth = anon1[i]-anon0[i], file1[i]-file0[i]
	}
	t.Logf("%s: %s", time.Now().Format(time.TimeOnly), "open runs done")

	// Full speed: what the fleet ingests, and the CPU it takes.
	cpu0, lb0, events0, delivered0 := nodesCPU(t, nodes), groupCPU(t, balancer.cmd.Process.Pid), load.events.Load(), load.delivered()
	accepted0 := counters(t, nodes, metricAccepted)
	began := time.Now()
	runAgents(*steadyFlag, *workersFlag, func(ctx context.Context, w int) {
		load.agent(ctx, agent, nil, fmt.Sprintf("steady_%02d", w), *fleetRunEvents, *fleetBatch, true)
	})
	rep.steadyWall = time.Since(began)
	rep.steadyEvents = load.events.Load() - events0
	rep.lbCPU = groupCPU(t, balancer.cmd.Process.Pid) - lb0
	cpu1, accepted1 := nodesCPU(t, nodes), counters(t, nodes, metricAccepted)
	for i := range nodes {
		rep.nodes[i].steadyCPU, rep.nodes[i].steadyEvents = cpu1[i]-cpu0[i], accepted1[i]-accepted0[i]
	}
	rep.steadyP50, rep.steadyP99, _ = load.latencyFrom(delivered0)
	t.Logf("%s: %s", time.Now().Format(time.TimeOnly), "steady phase done")

	// Part load while one collector is killed and comes back.
	rep.faultRate = float64(rep.steadyEvents) / rep.steadyWall.Seconds() * *faultLoadFlag
	limiter := rate.NewLimiter(rate.Limit(rep.faultRate), *fleetBatch)
	rep.victim = 1 % len(nodes)
	victim := nodes[rep.victim]
	delivered1 := load.delivered()
	load.first503.Store(0)
	var wg sync.WaitGroup
	wg.Go(func() {
		runAgents(*faultFlag, *workersFlag, func(ctx context.Context, w int) {
			load.agent(ctx, agent, limiter, fmt.Sprintf("fault_%02d", w), *fleetRunEvents, *fleetBatch, true)
		})
	})
	time.Sleep(*faultFlag / 4)
	rep.victimAcceptedBefore = victim.metric(t, metricAccepted)
	rep.victimDuplicateBefore = victim.metric(t, metricDuplicate)
	victim.stop(syscall.SIGKILL)
	time.Sleep(*downFlag)
	restarting := time.Now()
	victim.restart(t)
	ready := time.Now()
	rep.restart = ready.Sub(restarting)
	wg.Wait()
	rep.faultP50, rep.faultP99, rep.faultWorst = load.latencyFrom(delivered1)
	if first, last := load.first503.Load(), load.last503.Load(); first != 0 {
		rep.unavailable = time.Duration(last - first)
	}
	if load.recovered.After(ready) {
		rep.catchUp = load.recovered.Sub(ready)
	}
	for i, rss := range nodesRSS(t, nodes, "VmRSS") {
		rep.nodes[i].rss = rss
	}

	t.Logf("%s: %s", time.Now().Format(time.TimeOnly), "fault phase done")
	owner := verifyPlacement(t, nodes, load, rep)
	t.Logf("%s: %s", time.Now().Format(time.TimeOnly), "placement checked")
	verifyConsole(t, nodes, load, rep, owner, openIDs)
	t.Logf("%s: %s", time.Now().Format(time.TimeOnly), "console checked")
	verifyJaeger(t, j, load, rep)
	t.Logf("%s: %s", time.Now().Format(time.TimeOnly), "jaeger checked")
	rep.print(load)

	assert.Empty(t, load.lost, "batches the fleet never acknowledged")
	assert.Zero(t, rep.split, "runs on more than one collector")
	assert.Zero(t, rep.lostEvents, "acknowledged events missing in Jaeger")
	assert.Zero(t, rep.dupEvents, "acknowledged events stored twice in Jaeger")
	assert.Zero(t, rep.badRoots, "runs without exactly one root span carrying their verdict")
	assert.NotZero(t, rep.unavailable, "the agents of the killed collector saw it down")
	for i, n := range rep.nodes {
		assert.NotZero(t, n.runs, "collector %d holds runs", i)
	}
}

// runAgents runs agent(ctx, w) for workers agents; ctx ends after d (0: never).
func runAgents(d time.Duration, workers int, agent func(ctx context.Context, w int)) {
	ctx, cancel := context.WithCancel(context.Background())
	if d > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), d)
	}
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { agent(ctx, w) })
	}
	wg.Wait()
}

// verifyPlacement asks every collector for every run: each run must be held
// by exactly one, with every event acknowledged for it. The event counters of
// the collectors that were never killed must account for exactly the events
// they hold.
func verifyPlacement(t *testing.T, nodes []*collector, load *fleetLoad, rep *scaleReport) map[string]int {
	owner := map[string]int{}
	for id, r := range load.snapshot() {
		h := holders(t, nodes, id)
		if len(h) != 1 {
			rep.split++
			t.Errorf("run %s is held by %v", id, h)
			continue
		}
		for i, n := range h {
			owner[id] = i
			rep.nodes[i].runs++
			rep.nodes[i].events += n
			assert.Equal(t, len(r.acked), n, "run %s: events on its collector", id)
		}
	}
	accepted, duplicates := counters(t, nodes, metricAccepted), counters(t, nodes, metricDuplicate)
	for i := range nodes {
		rep.nodes[i].accepted, rep.nodes[i].duplicates = accepted[i], duplicates[i]
		if i == rep.victim {
			// Its counters restarted with it; what it accepted before the kill
			// is known up to the last scrape.
			assert.LessOrEqual(t, accepted[i]-duplicates[i], float64(rep.nodes[i].events))
			continue
		}
		assert.Equal(t, float64(rep.nodes[i].events), accepted[i]-duplicates[i],
			"collector %d accepted exactly the events it holds", i)
	}
	return owner
}

// verifyConsole analyzes open runs and downloads artifacts through nginx:
// each answer must come from the run's collector.
func verifyConsole(t *testing.T, nodes []*collector, load *fleetLoad, rep *scaleReport, owner map[string]int, openIDs []string) {
	ctx := context.Background()
	console := load.client("pt_console_token")
	analyzed := openIDs[:min(90, len(openIDs))]
	before := counters(t, nodes, metricFinalized, `finalized_by="analyze"`)
	want := make([]float64, len(nodes))
	var lat []time.Duration
	for _, run := range analyzed {
		begin := time.Now()
		a, err := console.Analyze(ctx, run)
		lat = append(lat, time.Since(begin))
		require.NoError(t, err, run)
		assert.Equal(t, run, a.TraceID)
		assert.Equal(t, hexTraceID("proj_acmemeet", run), a.OTLPTraceID)
		want[owner[run]]++
		status, _, body := call(t, http.MethodGet, load.base+"/api/traces/"+run+"/analysis", "pt_console_token", nil, nil)
		assert.Equal(t, http.StatusOK, status, "%s: %s", run, body)
	}
	after := counters(t, nodes, metricFinalized, `finalized_by="analyze"`)
	for i := range nodes {
		assert.Equal(t, want[i], after[i]-before[i], "collector %d analyzed its own runs, and only those", i)
	}
	rep.analyzed, rep.analyzeP50, rep.analyzeP99 = len(analyzed), percentile(lat, 50), percentile(lat, 99)

	agent := load.client("pt_dev_key")
	for _, run := range openIDs[len(analyzed):min(len(analyzed)+30, len(openIDs))] {
		blob := make([]byte, 256<<10)
		_, _ = rand.Read(blob)
		_, err := agent.UploadArtifact(ctx, run, client.Artifact{Body: blob, ContentType: "image/png", Filename: "shot.png", Type: "screenshot", ID: "shot"})
		require.NoError(t, err, run)
		status, _, got := call(t, http.MethodGet, load.base+"/api/traces/"+run+"/artifacts/shot", "pt_console_token", nil, nil)
		require.Equal(t, http.StatusOK, status, run)
		assert.True(t, bytes.Equal(blob, got), "%s: the bytes uploaded", run)
		var on []int
		for i, n := range nodes {
			if holdsFile(t, filepath.Join(n.dataDir, "artifacts"), blob) {
				on = append(on, i)
			}
		}
		assert.Equal(t, []int{owner[run]}, on, "%s: the artifact is on its run's collector only", run)
		rep.artifacts++
	}
}

// holdsFile reports whether a file under dir has exactly content.
func holdsFile(t *testing.T, dir string, content []byte) bool {
	found := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found {
			return err
		}
		if info, err := d.Info(); err != nil || info.Size() != int64(len(content)) {
			return err
		}
		b, err := os.ReadFile(p)
		found = err == nil && bytes.Equal(b, content)
		return err
	})
	if !errors.Is(err, fs.ErrNotExist) { // no artifact stored yet
		require.NoError(t, err)
	}
	return found
}

// verifyJaeger checks every complete run in Jaeger: each acknowledged event
// once, and one root span with the run's goal verdict.
func verifyJaeger(t *testing.T, j *jaeger, load *fleetLoad, rep *scaleReport) {
	began := time.Now()
	deadline := began.Add(3 * time.Minute)
	for id, r := range load.snapshot() {
		if !r.complete {
			continue
		}
		rep.checkedRuns++
		spans, copies := distinct(t, j.traceWithin(t, hexTraceID("proj_acmemeet", id), len(r.acked)+1, time.Until(deadline)))
		rep.copies += copies
		seqs := map[int64]int{}
		roots := 0
		for _, sp := range spans {
			if seq, ok := sp.tag("promptetheus.event.seq").(float64); ok && sp.parent() != "" {
				seqs[int64(seq)]++
			}
			if sp.parent() == "" && strings.HasPrefix(sp.OperationName, "invoke_agent") && sp.tag("promptetheus.goal.passed") == r.passed {
				roots++
			}
		}
		for seq := range r.acked {
			switch n := seqs[seq]; {
			case n == 0:
				rep.lostEvents++
			case n > 1:
				rep.dupEvents += n - 1
			}
		}
		if roots != 1 {
			rep.badRoots++
			t.Errorf("run %s: %d root spans with goal.passed=%v", id, roots, r.passed)
		}
	}
	rep.jaegerCheck = time.Since(began)
}

// scaleReport is what make scale prints.
type scaleReport struct {
	nodes                                       []nodeReport
	steadyWall                                  time.Duration
	steadyEvents                                int64
	lbCPU                                       time.Duration
	steadyP50, steadyP99                        time.Duration
	faultRate                                   float64
	victim                                      int
	victimAcceptedBefore, victimDuplicateBefore float64
	restart, unavailable, catchUp               time.Duration
	faultP50, faultP99, faultWorst              time.Duration
	split, lostEvents, dupEvents, badRoots      int
	copies, checkedRuns                         int
	analyzed, artifacts                         int
	analyzeP50, analyzeP99                      time.Duration
	jaegerCheck                                 time.Duration
}

type nodeReport struct {
	steadyCPU              time.Duration
	steadyEvents           float64
	runs, events           int
	accepted, duplicates   float64
	openRuns, rss          float64
	anonGrowth, fileGrowth float64 // MiB
}

func (n nodeReport) perCore() float64 { return n.steadyEvents / n.steadyCPU.Seconds() }

// kibPerOpenRun is a memory growth per open run, in KiB.
func (n nodeReport) kibPerOpenRun(growth float64) float64 { return growth * 1024 / n.openRuns }

func (r *scaleReport) print(load *fleetLoad) {
	var cpu time.Duration
	var anon, file []float64
	for _, n := range r.nodes {
		cpu += n.steadyCPU
		anon = append(anon, n.kibPerOpenRun(n.anonGrowth))
		file = append(file, n.kibPerOpenRun(n.fileGrowth))
	}
	slices.Sort(anon)
	slices.Sort(file)
	fmt.Printf("\n%d collectors behind nginx, %d agents, runs of %d events + goal_check + session_end in batches of %d.\n\n",
		len(r.nodes), *workersFlag, *fleetRunEvents, *fleetBatch)
	fmt.Println("| collector | runs held | events held | events accepted (counter) | duplicates (counter) | steady: events/s per core | open runs | per open run: heap (RssAnon) + bbolt pages (RssFile) | RSS at the end |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for i, n := range r.nodes {
		note := ""
		if i == r.victim {
			note = fmt.Sprintf(" (killed; before: %.0f / %.0f)", r.victimAcceptedBefore, r.victimDuplicateBefore)
		}
		fmt.Printf("| %d%s | %d | %d | %.0f | %.0f | %.0f | %.0f | %.1f + %.1f KiB | %.0f MiB |\n", i, note, n.runs, n.events, n.accepted, n.duplicates,
			n.perCore(), n.openRuns, n.kibPerOpenRun(n.anonGrowth), n.kibPerOpenRun(n.fileGrowth), n.rss)
	}
	fmt.Printf(`
| measure | value |
|---|---|
| steady: events/s through nginx (wall, 2 shared cores) | %.0f |
| steady: events/s per collector core | %.0f |
| steady: nginx CPU s per 1M events | %.2f |
| steady: request latency p50 / p99 | %s / %s |
| fault: load | %.0f events/s |
| fault: collector %d down (SIGKILL, restarted after %s) | restart to healthy %s |
| fault: agents saw 503 for | %s |
| fault: catch-up after the restart | %s |
| fault: request latency p50 / p99 / max (retries and spool included) | %s / %s / %s |
| requests / retried attempts / spool replays | %d / %d / %d |
| runs split over collectors | %d |
| events acknowledged / lost / duplicated in Jaeger | %d / %d / %d |
| runs checked in Jaeger (one root span with the verdict) / without | %d / %d |
| identical span copies redelivered (collapsed) | %d |
| memory per open run of %d events, median over collectors: heap (RssAnon) + bbolt pages (RssFile) | %.1f + %.1f KiB |
| analyze through nginx, open runs of %d events: p50 / p99 | %s / %s (%d runs, each from its collector) |
| artifacts uploaded and downloaded through nginx, on their run's collector only | %d |
| Jaeger check | %s |
`, float64(r.steadyEvents)/r.steadyWall.Seconds(), float64(r.steadyEvents)/cpu.Seconds(), r.lbCPU.Seconds()/float64(r.steadyEvents)*1e6,
		r.steadyP50, r.steadyP99, r.faultRate, r.victim, *downFlag, r.restart.Round(time.Millisecond),
		r.unavailable.Round(time.Millisecond), r.catchUp.Round(time.Millisecond), r.faultP50, r.faultP99, r.faultWorst,
		load.requests.Load(), load.retried.Load(), load.spooled.Load(), r.split,
		load.events.Load(), r.lostEvents, r.dupEvents, r.checkedRuns, r.badRoots, r.copies,
		*fleetRunEvents, anon[len(anon)/2], file[len(file)/2], *fleetRunEvents, r.analyzeP50, r.analyzeP99, r.analyzed, r.artifacts, r.jaegerCheck.Round(time.Second))
}

func counters(t *testing.T, nodes []*collector, name string, filters ...string) []float64 {
	out := make([]float64, len(nodes))
	for i, n := range nodes {
		out[i] = n.metric(t, name, filters...)
	}
	return out
}

func nodesCPU(t *testing.T, nodes []*collector) []time.Duration {
	out := make([]time.Duration, len(nodes))
	for i, n := range nodes {
		out[i] = procCPU(t, n.cmd.Process.Pid)
	}
	return out
}

// nodesRSS reads a resident memory figure of every collector, in MiB:
// VmRSS, or its parts RssAnon (the Go heap and stacks) and RssFile (mapped
// files: file_storage's bbolt database).
func nodesRSS(t *testing.T, nodes []*collector, field string) []float64 {
	out := make([]float64, len(nodes))
	for i, n := range nodes {
		out[i] = mustMiB(t, n.cmd.Process.Pid, field)
	}
	return out
}

// groupCPU is the CPU time of every process of a process group (nginx's
// master and workers).
func groupCPU(t *testing.T, pgid int) time.Duration {
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var sum time.Duration
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pg, err := syscall.Getpgid(pid); err == nil && pg == pgid {
			sum += procCPU(t, pid)
		}
	}
	return sum
}
