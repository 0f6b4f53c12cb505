// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver"

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"

	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/artifactstore"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/runstore"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"
)

// routes is the Session API.
func (r *promptetheusReceiver) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", handleHealth)
	mux.HandleFunc("POST /api/traces", r.handleCreate)
	mux.HandleFunc("POST /api/traces/{id}/events", r.handleAppend)
	mux.HandleFunc("GET /api/traces/{id}/events", r.handleListEvents)
	mux.HandleFunc("POST /api/traces/{id}/artifacts", r.handleUpload)
	mux.HandleFunc("GET /api/traces/{id}/artifacts/{artifact_id}", r.handleDownload)
	mux.HandleFunc("POST /api/traces/{id}/analyze", r.handleAnalyze)
	mux.HandleFunc("GET /api/traces/{id}/analysis", r.handleGetAnalysis)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeDetail(w, http.StatusNotFound, "Not Found")
	})
	return mux
}

func handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// writeJSON answers with a JSON body.
func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// writeDetail answers with the contract's error shape {"detail": "..."}.
func writeDetail(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, map[string]string{"detail": detail})
}

// readBody reads a request body of at most limit bytes (after
// decompression), answering 413 or 400 itself when it cannot.
func readBody(w http.ResponseWriter, req *http.Request, limit int64) ([]byte, bool) {
	// Sized once from Content-Length when the body is not compressed (the
	// SDK gzips bodies of 1 KiB and more): io.ReadAll would grow it step by
	// step, copying it each time.
	var buf bytes.Buffer
	if n := req.ContentLength; n > 0 && n < limit && req.Header.Get("Content-Encoding") == "" {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, req.Body, limit))
	if err == nil {
		return buf.Bytes(), true
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeDetail(w, http.StatusRequestEntityTooLarge, "request body exceeds "+strconv.FormatInt(tooLarge.Limit, 10)+" bytes")
		return nil, false
	}
	writeDetail(w, http.StatusBadRequest, "malformed gzip body")
	return nil, false
}

// writeError answers for an error of the session manager or the pipeline.
func (r *promptetheusReceiver) writeError(w http.ResponseWriter, err error) {
	var pipeErr *pipelineError
	var storeErr *runstore.Error
	switch {
	case errors.Is(err, session.ErrNotFound), errors.Is(err, artifactstore.ErrNotFound):
		writeDetail(w, http.StatusNotFound, err.Error())
	case errors.Is(err, session.ErrOtherProject):
		writeDetail(w, http.StatusForbidden, err.Error())
	case errors.Is(err, session.ErrTooManyRuns):
		r.retryAfter(w)
		writeDetail(w, http.StatusTooManyRequests, err.Error())
	case errors.Is(err, session.ErrStateFull), errors.Is(err, session.ErrBusy):
		r.retryAfter(w)
		writeDetail(w, http.StatusServiceUnavailable, err.Error()+"; retry later")
	case errors.Is(err, session.ErrArtifactQuota):
		writeDetail(w, http.StatusRequestEntityTooLarge, err.Error())
	case errors.As(err, &pipeErr) && consumererror.IsPermanent(pipeErr.err):
		r.settings.Logger.Warn("Pipeline permanently refused data", zap.Error(err))
		writeDetail(w, http.StatusBadRequest, "the collector pipeline refused the data permanently")
	case errors.As(err, &pipeErr):
		r.retryAfter(w)
		writeDetail(w, http.StatusServiceUnavailable, "the collector pipeline refused the data; retry later")
	case errors.As(err, &storeErr):
		r.settings.Logger.Error("Storing trace state failed", zap.Error(err))
		r.retryAfter(w)
		writeDetail(w, http.StatusServiceUnavailable, "could not store trace state; retry later")
	default:
		r.settings.Logger.Error("Request failed", zap.Error(err))
		writeDetail(w, http.StatusInternalServerError, "internal error")
	}
}

func (r *promptetheusReceiver) retryAfter(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(r.cfg.RetryAfter.Seconds())))
}
