// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/promptetheus/otelcol-promptetheus/client"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver"
)

// startReceiver runs a real promptetheus receiver on loopback.
func startReceiver(t *testing.T) (string, *consumertest.TracesSink) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	f := promptetheusreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*promptetheusreceiver.Config)
	cfg.ServerConfig.NetAddr.Endpoint = addr
	cfg.APIKeys = []promptetheusreceiver.APIKeyConfig{{Project: "proj", Key: "pt_client_key"}}
	cfg.Console.Tokens = []configopaque.String{"pt_client_console"}
	cfg.Artifacts.Directory = t.TempDir()
	sink := new(consumertest.TracesSink)
	r, err := f.CreateTraces(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return "http://" + addr, sink
}

func fast() client.Option { return client.WithRetries(5, time.Millisecond, 10*time.Millisecond) }

func TestSessionAgainstTheReceiver(t *testing.T) {
	base, sink := startReceiver(t)
	ctx := context.Background()
	c := client.New(base, "pt_client_key", fast())
	_, err := c.CreateTrace(ctx, client.CreateTraceRequest{ID: "run_1", Agent: "agent", UserGoal: "Book Tuesday"})
	require.NoError(t, err)

	s := client.NewSession("run_1")
	var events []client.Event
	for range 60 { // over 1 KiB: sent gzipped
		events = append(events, s.Event("agent_message", map[string]any{"content": strings.Repeat("x", 40)}))
	}
	events = append(events, s.Event("goal_check", map[string]any{"passed": false, "mismatches": []string{"wrong day"}}))
	res, err := c.AppendEvents(ctx, "run_1", events)
	require.NoError(t, err)
	assert.Equal(t, 61, res.Accepted)
	assert.Equal(t, "run_1:"+strings.Split(events[0].IdempotencyKey, ":")[1]+":0", events[0].IdempotencyKey)

	res, err = c.AppendEvents(ctx, "run_1", events) // a replay
	require.NoError(t, err)
	assert.Equal(t, 61, res.Accepted)
	assert.Equal(t, 61, sink.SpanCount(), "the replay emitted nothing")

	info, err := c.UploadArtifact(ctx, "run_1", client.Artifact{Body: []byte("png"), ContentType: "image/png", Filename: "s.png", Type: "screenshot", ID: "shot_1"})
	require.NoError(t, err)
	assert.Equal(t, "shot_1", info.ArtifactID)

	_, err = c.Analyze(ctx, "run_1")
	var apiErr *client.APIError
	require.ErrorAs(t, err, &apiErr, "an API key may not analyze")
	assert.Equal(t, http.StatusForbidden, apiErr.Status)

	a, err := client.New(base, "pt_client_console", fast()).Analyze(ctx, "run_1")
	require.NoError(t, err)
	require.NotNil(t, a.Goal.Passed)
	assert.False(t, *a.Goal.Passed)
	assert.Equal(t, []string{"browser_goal_mismatch"}, a.Labels)
}

// flaky fronts the real receiver and fails the first requests.
func flaky(t *testing.T, target string, fail func(n int64, w http.ResponseWriter) bool) (string, *atomic.Int64) {
	u, err := url.Parse(target)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail(n.Add(1), w) {
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

func TestRetriesOnOutagesAndAmbiguousAnswers(t *testing.T) {
	base, sink := startReceiver(t)
	front, calls := flaky(t, base, func(n int64, w http.ResponseWriter) bool {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		case 2:
			w.WriteHeader(http.StatusOK) // a 2xx that accounts for nothing
			_, _ = w.Write([]byte(`{}`))
			return true
		}
		return false
	})
	s := client.NewSession("run_2")
	res, err := client.New(front, "pt_client_key", fast()).AppendEvents(context.Background(), "run_2",
		[]client.Event{s.Event("user_message", map[string]any{"content": "hi"})})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Accepted)
	assert.Equal(t, int64(3), calls.Load())
	assert.Equal(t, 1, sink.SpanCount())
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	base, _ := startReceiver(t)
	front, calls := flaky(t, base, func(int64, http.ResponseWriter) bool { return false })
	_, err := client.New(front, "pt_wrong", fast()).AppendEvents(context.Background(), "run_3",
		[]client.Event{client.NewSession("run_3").Event("user_message", map[string]any{})})
	var apiErr *client.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusUnauthorized, apiErr.Status)
	assert.Equal(t, "missing or invalid credential", apiErr.Detail)
	assert.Equal(t, int64(1), calls.Load())
}

func TestGivesUpAfterTheAttempts(t *testing.T) {
	front, calls := flaky(t, "http://127.0.0.1:1", func(_ int64, w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusBadGateway)
		return true
	})
	_, err := client.New(front, "k", fast()).AppendEvents(context.Background(), "r", nil)
	var apiErr *client.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusBadGateway, apiErr.Status)
	assert.Equal(t, int64(5), calls.Load())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = client.New(front, "k", fast()).AppendEvents(ctx, "r", nil)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
}

// The create carries the run id in a header too, for a load balancer that
// routes runs by id; a run without an id gets one from the client.
func TestCreateNamesTheRunInAHeader(t *testing.T) {
	base, _ := startReceiver(t)
	u, err := url.Parse(base)
	require.NoError(t, err)
	var headers []string
	recorder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers = append(headers, r.Header.Get(client.HeaderTraceID))
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
	}))
	t.Cleanup(recorder.Close)
	c := client.New(recorder.URL, "pt_client_key", fast())

	tr, err := c.CreateTrace(context.Background(), client.CreateTraceRequest{ID: "run_named", Agent: "agent"})
	require.NoError(t, err)
	assert.Equal(t, "run_named", tr.ID)

	drawn, err := c.CreateTrace(context.Background(), client.CreateTraceRequest{Agent: "agent"})
	require.NoError(t, err)
	assert.Regexp(t, `^trace_[0-9a-f]{32}$`, drawn.ID)
	assert.Equal(t, []string{"run_named", drawn.ID}, headers, "the header names the run the server created")
}
