// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

//go:build bench

package e2e

import (
	"bytes"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
)

var (
	benchEvents  = flag.Int("events", 200000, "events per mode")
	benchClients = flag.Int("clients", 4, "concurrent HTTP clients")
	runLengths   = flag.String("run-lengths", "10,100,1000,10000,100000", "run lengths for the analyze measurement")
	benchRounds  = flag.Int("rounds", 3, "rounds of every mode, interleaved; medians are reported")
	baselineBin  = flag.String("baseline-bin", "", "another build of the collector, measured in both Promptetheus modes against this build")
)

const (
	eventsPerRun   = 500
	eventsPerBatch = 50 // the SDK's batch size
)

// benchEvent is event i of a run, a mix like an agent's: LLM calls, tool
// calls with their results, messages.
func benchEvent(run string, seq int) string {
	head := fmt.Sprintf(`"session_id":%q,"timestamp":"2026-06-12T12:%02d:%02d.%06dZ","seq":%d,"idempotency_key":"%s:n:%d"`,
		run, seq/3600%60, seq/60%60, seq%1000000, seq, run, seq)
	switch seq % 4 {
	case 0:
		return `{"type":"llm_call",` + head + `,"payload":{"model":"gpt-5","prompt_ref":"planner_v3","input_tokens":1200,"output_tokens":300,"latency_ms":1500}}`
	case 1:
		return `{"type":"tool_call",` + head + fmt.Sprintf(`,"payload":{"tool_name":"calendar.search","arguments":{"day":"tuesday","tz":"America/Los_Angeles"},"call_id":"c%d"}}`, seq)
	case 2:
		return `{"type":"tool_result",` + head + fmt.Sprintf(`,"payload":{"call_id":"c%d","result":{"slots":["14:00","15:00"]}}}`, seq-1)
	}
	return `{"type":"agent_message",` + head + `,"payload":{"content":"I found two free slots on Tuesday afternoon."}}`
}

// workload is the same agent runs as Promptetheus batches and as the spans
// our receiver maps them to, encoded as OTLP/HTTP JSON and protobuf.
type workload struct {
	promptetheus []request
	otlpJSON     []request
	otlpProto    []request
	events       int
	spans        int
}

type request struct {
	path string
	body []byte
}

func buildWorkload(t *testing.T, events int) *workload {
	w := &workload{}
	cfg := mapping.Config{CaptureContent: true, MaxAttributeLength: 2048, MaxArrayLength: 128}
	jsonM, protoM := ptrace.JSONMarshaler{}, ptrace.ProtoMarshaler{}
	for r := 0; w.events < events; r++ {
		runID := fmt.Sprintf("bench_run_%05d", r)
		run := mapping.Run{Project: "proj_acmemeet", Workspace: "ws_dev", ID: runID}
		pending := mapping.NewPending()
		for b := 0; b < eventsPerRun/eventsPerBatch; b++ {
			var raws []string
			builder := mapping.NewBuilder(&cfg, &run)
			for i := range eventsPerBatch {
				raw := benchEvent(runID, b*eventsPerBatch+i)
				raws = append(raws, raw)
				ev, err := wire.DecodeEvent(json.RawMessage(raw), runID)
				require.NoError(t, err)
				builder.Add(&ev, json.RawMessage(raw), &pending, false)
			}
			w.promptetheus = append(w.promptetheus, request{"/api/traces/" + runID + "/events", []byte(`{"events":[` + strings.Join(raws, ",") + `]}`)})
			td := builder.Traces()
			jb, err := jsonM.MarshalTraces(td)
			require.NoError(t, err)
			pb, err := protoM.MarshalTraces(td)
			require.NoError(t, err)
			w.otlpJSON = append(w.otlpJSON, request{"/v1/traces", jb})
			w.otlpProto = append(w.otlpProto, request{"/v1/traces", pb})
			w.events += eventsPerBatch
			w.spans += td.SpanCount()
		}
	}
	return w
}

// result is one mode's measurement.
type result struct {
	mode          string
	events        int
	wall, cpu     time.Duration
	peakRSS       float64
	p50, p99      time.Duration
	acceptedSpans float64
}

func (r result) eventsPerCoreSecond() float64 { return float64(r.events) / r.cpu.Seconds() }
func (r result) cpuPerMillion() float64       { return r.cpu.Seconds() / float64(r.events) * 1e6 }

// drive sends the requests with n concurrent clients and measures the
// collector process.
func drive(t *testing.T, c *collector, base, contentType, token string, reqs []request, clients int) (wall, cpu time.Duration, lat []time.Duration) {
	pid := c.cmd.Process.Pid
	cpuBefore := procCPU(t, pid)
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			// A transport each: one kept-alive connection a client.
			hc := &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}
			var mine []time.Duration
			for i := next.Add(1) - 1; i < int64(len(reqs)); i = next.Add(1) - 1 {
				req, _ := http.NewRequest(http.MethodPost, base+reqs[i].path, bytes.NewReader(reqs[i].body))
				req.Header.Set("Content-Type", contentType)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				begin := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				// Read to the end, so that the connection is kept alive,
				// as SDKs keep theirs.
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s: HTTP %d", reqs[i].path, resp.StatusCode)
					return
				}
				mine = append(mine, time.Since(begin))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return time.Since(start), procCPU(t, pid) - cpuBefore, lat
}

// benchCollector is the distribution with both receivers feeding a nop
// exporter, so only receiving is measured.
func benchCollector(t *testing.T, storage bool) *collector {
	otlp := freePort(t)
	c := startCollector(t, collectorOptions{
		pprof:             os.Getenv("PROMPTETHEUS_BENCH_PPROF"),
		exporters:         map[string]string{"nop": ""},
		memoryState:       !storage,
		receiverExtra:     "sessions:\n  max_traces: 100000\n",
		extraReceivers:    fmt.Sprintf("otlp:\n  protocols:\n    http:\n      endpoint: 127.0.0.1:%d\n", otlp),
		pipelineReceivers: []string{"promptetheus", "otlp"},
	})
	c.otlpHTTP = addr(otlp)
	return c
}

// TestSideBySide ingests the same agent runs (a) as Promptetheus batches
// through our receiver and (b) as the equivalent spans through the OTLP
// receiver, JSON and protobuf, each on a fresh collector, and prints the
// figures and the ratios ours/OTLP. Run it with `make bench`.
func TestSideBySide(t *testing.T) {
	w := buildWorkload(t, *benchEvents)
	modes := []struct {
		name        string
		reqs        []request
		contentType string
		token       string
		otlp        bool
		storage     bool
		bin         string
	}{
		{"OTLP/HTTP protobuf", w.otlpProto, "application/x-protobuf", "", true, false, ""},
		{"OTLP/HTTP JSON", w.otlpJSON, "application/json", "", true, false, ""},
		{"Promptetheus, state in memory", w.promptetheus, "application/json", "pt_dev_key", false, false, ""},
		{"Promptetheus, state in file_storage", w.promptetheus, "application/json", "pt_dev_key", false, true, ""},
	}
	// A baseline build, e.g. of another commit, measured in the same rounds
	// gives a before/after ratio that the machine's noise weighs on alike.
	thisBin := collectorBinary(t)
	ours := []int{2, 3}
	if *baselineBin != "" {
		for _, i := range ours {
			m := modes[i]
			m.name += ", baseline build"
			m.bin = *baselineBin
			modes = append(modes, m)
		}
	}
	// Modes take turns, round after round, so that a noisy neighbour on a
	// shared machine weighs on all of them alike; medians are reported.
	rounds := make([][]result, len(modes))
	for range *benchRounds {
		for i, m := range modes {
			t.Setenv("PROMPTETHEUS_COLLECTOR_BIN", cmp.Or(m.bin, thisBin))
			c := benchCollector(t, m.storage)
			base := "http://" + c.api
			if m.otlp {
				base = "http://" + c.otlpHTTP
			}
			wall, cpu, lat := drive(t, c, base, m.contentType, m.token, m.reqs, *benchClients)
			receiver := `receiver="promptetheus"`
			if m.otlp {
				receiver = `receiver="otlp"`
			}
			time.Sleep(time.Second) // let the metrics catch up
			rounds[i] = append(rounds[i], result{
				mode: m.name, events: w.events, wall: wall, cpu: cpu, peakRSS: mustMiB(t, c.cmd.Process.Pid, "VmHWM"),
				p50: percentile(lat, 50), p99: percentile(lat, 99),
				acceptedSpans: c.metric(t, "otelcol_receiver_accepted_spans", receiver),
			})
			c.stop(syscall.SIGTERM)
		}
	}
	results := make([]result, len(modes))
	for i, rs := range rounds {
		results[i] = median(rs)
	}
	fmt.Printf("\n%d events (%d spans) in batches of %d, %d clients, a fresh collector per mode and round, median of %d rounds.\n\n",
		w.events, w.spans, eventsPerBatch, *benchClients, *benchRounds)
	fmt.Println("| mode | events/s (wall) | events/s per core | CPU s per 1M events | peak RSS | p50 | p99 | spans accepted |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		fmt.Printf("| %s | %.0f | %.0f | %.2f | %.0f MiB | %s | %s | %.0f |\n", r.mode, float64(r.events)/r.wall.Seconds(),
			r.eventsPerCoreSecond(), r.cpuPerMillion(), r.peakRSS, r.p50, r.p99, r.acceptedSpans)
	}
	fmt.Println("\n| ratio ours / OTLP | vs JSON | vs protobuf |")
	fmt.Println("|---|---|---|")
	proto, js := results[0], results[1]
	for _, r := range results[2:] {
		fmt.Printf("| CPU per event, %s | %.2f | %.2f |\n", r.mode, r.cpuPerMillion()/js.cpuPerMillion(), r.cpuPerMillion()/proto.cpuPerMillion())
		fmt.Printf("| peak RSS, %s | %.2f | %.2f |\n", r.mode, r.peakRSS/js.peakRSS, r.peakRSS/proto.peakRSS)
	}
	if *baselineBin != "" {
		for j, i := range ours {
			b := len(modes) - len(ours) + j // the baseline of mode i
			this, base := results[i], results[b]
			fmt.Printf("\n| this build / baseline build, %s | CPU per event %.3f | peak RSS %.2f | p50 %.2f |\n",
				this.mode, this.cpuPerMillion()/base.cpuPerMillion(), this.peakRSS/base.peakRSS, float64(this.p50)/float64(base.p50))
			fmt.Println("\nper round, CPU s per 1M events: this build, baseline build, ratio")
			for k, rb := range rounds[b] {
				ra := rounds[i][k]
				fmt.Printf("  round %d: %.2f %.2f %.3f\n", k+1, ra.cpuPerMillion(), rb.cpuPerMillion(), ra.cpuPerMillion()/rb.cpuPerMillion())
			}
		}
	}
}

// median takes, field by field, the median of a mode's rounds.
func median(rs []result) result {
	pick := func(get func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	out := rs[0]
	out.wall = time.Duration(pick(func(r result) float64 { return float64(r.wall) }))
	out.cpu = time.Duration(pick(func(r result) float64 { return float64(r.cpu) }))
	out.peakRSS = pick(func(r result) float64 { return r.peakRSS })
	out.p50 = time.Duration(pick(func(r result) float64 { return float64(r.p50) }))
	out.p99 = time.Duration(pick(func(r result) float64 { return float64(r.p99) }))
	out.acceptedSpans = pick(func(r result) float64 { return r.acceptedSpans })
	return out
}

// TestAnalyzeCost measures analyze latency against run length and the
// memory an open run holds.
func TestAnalyzeCost(t *testing.T) {
	c := startCollector(t, collectorOptions{
		exporters:     map[string]string{"nop": ""},
		memoryState:   true,
		receiverExtra: "sessions:\n  max_traces: 100000\n",
	})
	base := "http://" + c.api
	fmt.Println("\n| run length (events) | analyze latency (median of 3) |")
	fmt.Println("|---|---|")
	for _, f := range strings.Split(*runLengths, ",") {
		n, err := strconv.Atoi(f)
		require.NoError(t, err)
		var lats []time.Duration
		for rep := range 3 {
			run := fmt.Sprintf("analyze_%d_%d", n, rep)
			sendRun(t, base, run, n)
			begin := time.Now()
			post(t, base+"/api/traces/"+run+"/analyze", "pt_console_token", nil)
			lats = append(lats, time.Since(begin))
		}
		fmt.Printf("| %d | %s |\n", n, percentile(lats, 50))
	}
}

// TestOpenRunMemory measures the memory an open run holds, with state in
// file_storage (steps stay on disk) and in memory (steps are kept), each on
// a fresh collector: the RSS grown while 2000 runs of 100 events stay open,
// per event, and the peak RSS reached.
func TestOpenRunMemory(t *testing.T) {
	fmt.Println("\n| state | RSS per open-run event | peak RSS |")
	fmt.Println("|---|---|---|")
	for _, memory := range []bool{false, true} {
		c := startCollector(t, collectorOptions{
			exporters:     map[string]string{"nop": ""},
			memoryState:   memory,
			receiverExtra: "sessions:\n  max_traces: 100000\n",
		})
		base := "http://" + c.api
		const runs, perRun = 2000, 100
		sendRun(t, base, "warm_up", perRun)
		time.Sleep(time.Second)
		before := mustMiB(t, c.cmd.Process.Pid, "VmRSS")
		for r := range runs {
			sendRun(t, base, fmt.Sprintf("open_%05d", r), perRun)
		}
		time.Sleep(2 * time.Second)
		after := mustMiB(t, c.cmd.Process.Pid, "VmRSS")
		mode := "file_storage"
		if memory {
			mode = "memory"
		}
		fmt.Printf("| %s | %.0f bytes (RSS %.0f -> %.0f MiB) | %.0f MiB |\n", mode, (after-before)*(1<<20)/(runs*perRun),
			before, after, mustMiB(t, c.cmd.Process.Pid, "VmHWM"))
		c.stop(syscall.SIGTERM)
	}
}

func sendRun(t *testing.T, base, run string, n int) {
	for start := 0; start < n; start += 1000 {
		var raws []string
		for seq := start; seq < min(n, start+1000); seq++ {
			raws = append(raws, benchEvent(run, seq))
		}
		post(t, base+"/api/traces/"+run+"/events", "pt_dev_key", []byte(`{"events":[`+strings.Join(raws, ",")+`]}`))
	}
}

func post(t *testing.T, url, token string, body []byte) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
}
