// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package client is a thin Go client for the Promptetheus Session API, as
// served by the promptetheus receiver. It sends events the way the
// Promptetheus SDK does: idempotency keys "{session}:{nonce}:{seq}", gzip for
// bodies of 1 KiB and more, retries with jittered backoff on network errors,
// 5xx and 429, and a replay of the whole batch when the answer does not
// account for every event (the server's dedup makes replays safe).
package client // import "github.com/promptetheus/otelcol-promptetheus/client"

import (
	"bytes"
	"compress/gzip"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Client talks to one Promptetheus API endpoint with one bearer token.
type Client struct {
	baseURL     string
	token       string
	http        *http.Client
	maxAttempts int
	backoffBase time.Duration
	backoffMax  time.Duration
	gzipMin     int
	onRetry     func(error)
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: 30s timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithRetries sets the attempts per request and the backoff bounds.
func WithRetries(attempts int, base, maxBackoff time.Duration) Option {
	return func(c *Client) { c.maxAttempts, c.backoffBase, c.backoffMax = max(attempts, 1), base, maxBackoff }
}

// WithOnRetry calls f with the error of every attempt that will be retried.
func WithOnRetry(f func(error)) Option { return func(c *Client) { c.onRetry = f } }

// WithGzipThreshold gzips bodies of at least n bytes (the SDK uses 1024).
func WithGzipThreshold(n int) Option { return func(c *Client) { c.gzipMin = n } }

// New returns a client for baseURL (e.g. "http://127.0.0.1:4318").
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{
		baseURL: baseURL, token: token,
		http:        &http.Client{Timeout: 30 * time.Second},
		maxAttempts: 6, backoffBase: 500 * time.Millisecond, backoffMax: 30 * time.Second,
		gzipMin: 1024,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// APIError is an answer other than 2xx.
type APIError struct {
	Status     int
	Detail     string
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("promptetheus: HTTP %d: %s", e.Status, e.Detail)
}

// Retryable reports whether the SDK would retry the request.
func (e *APIError) Retryable() bool { return e.Status == http.StatusTooManyRequests || e.Status >= 500 }

// ErrAmbiguous is returned when every attempt got an answer that did not
// account for every event sent.
var ErrAmbiguous = errors.New("promptetheus: the answer does not account for every event")

// Event is one Promptetheus event.
type Event struct {
	Type           string `json:"type"`
	SessionID      string `json:"session_id"`
	Timestamp      string `json:"timestamp"`
	Seq            int64  `json:"seq"`
	IdempotencyKey string `json:"idempotency_key"`
	Payload        any    `json:"payload"`
	Metadata       any    `json:"metadata,omitempty"`
	SpanID         string `json:"span_id,omitempty"`
	ParentID       string `json:"parent_id,omitempty"`
}

// Rejection is an event the server refused.
type Rejection struct {
	Index          int    `json:"index"`
	IdempotencyKey string `json:"idempotency_key"`
	Reason         string `json:"reason"`
}

// AppendResult is the server's account of a batch.
type AppendResult struct {
	Accepted int         `json:"accepted"`
	Rejected []Rejection `json:"rejected"`
}

// CreateTraceRequest is the body of POST /api/traces.
type CreateTraceRequest struct {
	ID          string         `json:"id,omitempty"`
	UserGoal    string         `json:"user_goal,omitempty"`
	Agent       string         `json:"agent,omitempty"`
	Environment string         `json:"environment,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	Tags        []string       `json:"tags,omitempty"`
	Source      string         `json:"source,omitempty"`
}

// Trace is the server's description of a run.
type Trace struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
	ProjectID   string `json:"project_id"`
	Status      string `json:"status"`
	OTLPTraceID string `json:"otlp_trace_id"`
}

// HeaderTraceID carries the run id of a create in a header as well as in
// the body, so that a load balancer that routes runs by id (it cannot read
// bodies) sends the create to the node that owns the run.
const HeaderTraceID = "X-Promptetheus-Trace-Id"

// CreateTrace creates (or fills in) a run. Without an ID it draws one, as the
// SDK does for its sessions: a run whose id the server picks could not be
// routed to its owner behind a run-affine load balancer.
func (c *Client) CreateTrace(ctx context.Context, req CreateTraceRequest) (*Trace, error) {
	if req.ID == "" {
		req.ID = "trace_" + randomHex(16)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var out struct {
		Trace Trace `json:"trace"`
	}
	headers := map[string]string{HeaderTraceID: req.ID}
	err = c.retry(ctx, func() error { return c.send(ctx, "/api/traces", "application/json", body, headers, &out) })
	if err != nil {
		return nil, err
	}
	return &out.Trace, nil
}

// AppendEvents sends a batch of events of one run, retrying until the server
// accounts for every event or the attempts are spent.
func (c *Client) AppendEvents(ctx context.Context, traceID string, events []Event) (*AppendResult, error) {
	body, err := json.Marshal(map[string][]Event{"events": events})
	if err != nil {
		return nil, err
	}
	var res AppendResult
	err = c.retry(ctx, func() error {
		res = AppendResult{}
		if err := c.send(ctx, "/api/traces/"+url.PathEscape(traceID)+"/events", "application/json", body, nil, &res); err != nil {
			return err
		}
		if res.Accepted+len(res.Rejected) != len(events) {
			return ErrAmbiguous
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// Artifact is an upload: raw bytes of an accepted media type.
type Artifact struct {
	Body        []byte
	ContentType string
	Filename    string
	Type        string
	// ID, when set, makes a retried upload idempotent.
	ID string
}

// ArtifactInfo is the server's record of an upload.
type ArtifactInfo struct {
	ArtifactID  string `json:"artifact_id"`
	StoragePath string `json:"storage_path"`
	SizeBytes   int64  `json:"size_bytes"`
	ContentType string `json:"content_type"`
	SHA256      string `json:"sha256"`
	URI         string `json:"uri"`
}

// UploadArtifact uploads bytes for a run.
func (c *Client) UploadArtifact(ctx context.Context, traceID string, a Artifact) (*ArtifactInfo, error) {
	headers := map[string]string{"X-Promptetheus-Filename": a.Filename, "X-Promptetheus-Artifact-Type": a.Type}
	if a.ID != "" {
		headers["X-Promptetheus-Artifact-Id"] = a.ID
	}
	var out struct {
		Artifact ArtifactInfo `json:"artifact"`
	}
	err := c.retry(ctx, func() error {
		return c.send(ctx, "/api/traces/"+url.PathEscape(traceID)+"/artifacts", a.ContentType, a.Body, headers, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out.Artifact, nil
}

// Detection is one reference detector that fired.
type Detection struct {
	Label           string  `json:"label"`
	Confidence      float64 `json:"confidence"`
	EvidenceRefs    []int64 `json:"evidence_refs"`
	CriticalStepSeq *int64  `json:"critical_step_seq"`
}

// Finding is one rule that fired, with the spans it is written on.
type Finding struct {
	RuleID        string  `json:"rule_id"`
	Severity      string  `json:"severity"`
	Confidence    float64 `json:"confidence"`
	Message       string  `json:"message"`
	SpanID        string  `json:"span_id"`
	FindingSpanID string  `json:"finding_span_id"`
	EvidenceSeqs  []int64 `json:"evidence_seqs"`
}

// Analysis is the verdict on a run.
type Analysis struct {
	TraceID         string      `json:"trace_id"`
	Labels          []string    `json:"labels"`
	CriticalStepSeq *int64      `json:"critical_step_seq"`
	Confidence      float64     `json:"confidence"`
	RootCause       *string     `json:"root_cause"`
	Detections      []Detection `json:"detections"`
	OTLPTraceID     string      `json:"otlp_trace_id"`
	Goal            struct {
		Passed     *bool    `json:"passed"`
		Mismatches []string `json:"mismatches"`
	} `json:"goal"`
	Findings []Finding `json:"findings"`
}

// Analyze finalises and judges a run; it needs a console credential.
func (c *Client) Analyze(ctx context.Context, traceID string) (*Analysis, error) {
	var out struct {
		Analysis Analysis `json:"analysis"`
	}
	err := c.retry(ctx, func() error {
		return c.send(ctx, "/api/traces/"+url.PathEscape(traceID)+"/analyze", "application/json", nil, nil, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out.Analysis, nil
}

// send makes one POST attempt.
func (c *Client) send(ctx context.Context, path, contentType string, body []byte, headers map[string]string, out any) error {
	var reader io.Reader = bytes.NewReader(body)
	compressed := contentType == "application/json" && c.gzipMin > 0 && len(body) >= c.gzipMin
	if compressed {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(body)
		_ = zw.Close()
		reader = &buf
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+path, reader)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	if compressed {
		req.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		apiErr := &APIError{Status: resp.StatusCode, Detail: string(respBody)}
		var detail struct {
			Detail string `json:"detail"`
		}
		if json.Unmarshal(respBody, &detail) == nil && detail.Detail != "" {
			apiErr.Detail = detail.Detail
		}
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			apiErr.RetryAfter = time.Duration(secs) * time.Second
		}
		return apiErr
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(respBody, out); err != nil {
		return ErrAmbiguous // a 2xx we cannot read is no proof of delivery
	}
	return nil
}

// retry runs attempt until it succeeds, fails for good, or the attempts are
// spent, sleeping a full-jitter backoff (or the server's Retry-After).
func (c *Client) retry(ctx context.Context, attempt func() error) error {
	var err error
	for n := 0; n < c.maxAttempts; n++ {
		if err = attempt(); err == nil {
			return nil
		}
		var apiErr *APIError
		wait := time.Duration(rand.Float64() * float64(min(c.backoffBase<<n, c.backoffMax)))
		switch {
		case errors.As(err, &apiErr) && !apiErr.Retryable():
			return err
		case errors.As(err, &apiErr) && apiErr.RetryAfter > 0:
			wait = min(apiErr.RetryAfter, c.backoffMax)
		case ctx.Err() != nil:
			return ctx.Err()
		}
		if n == c.maxAttempts-1 {
			break
		}
		if c.onRetry != nil {
			c.onRetry(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return err
}

// Session numbers the events of one run like the SDK: seq from 0, keys
// "{session}:{nonce}:{seq}". It is safe for concurrent use.
type Session struct {
	ID    string
	nonce string
	mu    sync.Mutex
	seq   int64
	now   func() time.Time
}

// NewSession starts numbering events for run id ("" draws a random id).
func NewSession(id string) *Session {
	if id == "" {
		id = "run_" + randomHex(13)
	}
	return &Session{ID: id, nonce: randomHex(4), now: time.Now}
}

// Event returns the next event of the session.
func (s *Session) Event(typ string, payload any) Event {
	s.mu.Lock()
	seq := s.seq
	s.seq++
	s.mu.Unlock()
	return Event{
		Type: typ, SessionID: s.ID, Seq: seq,
		Timestamp:      s.now().UTC().Format(time.RFC3339Nano),
		IdempotencyKey: fmt.Sprintf("%s:%s:%d", s.ID, s.nonce, seq),
		Payload:        payload,
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}
