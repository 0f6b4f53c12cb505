// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver"

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"
)

// headerProjectID lets a console caller choose the project of a new run.
const headerProjectID = "X-Promptetheus-Project-Id"

// headerTraceID carries a create's run id for a load balancer that routes
// runs by id (it cannot read the body); it must name the body's run.
const headerTraceID = "X-Promptetheus-Trace-Id"

// authorize authenticates req and checks the credential kind; it answers
// 401/403 itself.
func (r *promptetheusReceiver) authorize(w http.ResponseWriter, req *http.Request, consoleOnly bool) (principal, bool) {
	p, err := r.auth.authenticate(req)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="promptetheus"`)
		writeDetail(w, http.StatusUnauthorized, err.Error())
		return principal{}, false
	}
	if consoleOnly && p.kind != principalConsole {
		writeDetail(w, http.StatusForbidden, "principal is not allowed for this endpoint")
		return principal{}, false
	}
	return p, true
}

// runProject resolves the project of a run for p: the owner of an existing
// run, or for a new one the caller's project. It answers 400/403 itself.
func (r *promptetheusReceiver) runProject(w http.ResponseWriter, req *http.Request, p principal, runID string) (project string, exists, ok bool) {
	if err := wire.ValidateRunID(runID); err != nil {
		writeDetail(w, http.StatusBadRequest, err.Error())
		return "", false, false
	}
	if owner, found := r.runs.Owner(runID); found {
		if !p.may(owner) {
			writeDetail(w, http.StatusForbidden, session.ErrOtherProject.Error())
			return "", false, false
		}
		return owner, true, true
	}
	if chosen := req.Header.Get(headerProjectID); chosen != "" && p.kind == principalConsole {
		if !p.may(chosen) {
			writeDetail(w, http.StatusForbidden, "project not allowed for this credential")
			return "", false, false
		}
		return chosen, false, true
	}
	if len(p.projects) == 0 {
		writeDetail(w, http.StatusForbidden, "credential has no project")
		return "", false, false
	}
	return p.projects[0], false, true
}

// traceView is the "trace" object of the create response: the reference's
// fields (null when not sent), plus whether the run was created implicitly
// and its OTLP trace id.
type traceView struct {
	UserGoal    *string         `json:"user_goal"`
	Agent       *string         `json:"agent"`
	Environment *string         `json:"environment"`
	Metadata    json.RawMessage `json:"metadata"`
	Tags        []string        `json:"tags"`
	WorkspaceID string          `json:"workspace_id"`
	ProjectID   string          `json:"project_id"`
	Source      *string         `json:"source,omitempty"`
	ID          string          `json:"id"`
	Status      string          `json:"status"`
	StartedAt   string          `json:"started_at"`
	Implicit    bool            `json:"implicit"`
	OTLPTraceID string          `json:"otlp_trace_id"`
}

func newTraceView(h *session.Header) traceView {
	status := "running"
	if !h.FinalizedAt.IsZero() {
		status = "finalized"
	}
	traceID := mapping.TraceID(h.Info.Project, h.Info.ID)
	return traceView{
		UserGoal: nullable(h.Info.UserGoal), Agent: nullable(h.Info.Agent), Environment: nullable(h.Info.Environment),
		Metadata: h.Info.Metadata, Tags: h.Info.Tags, WorkspaceID: h.Info.Workspace, ProjectID: h.Info.Project,
		Source: nullable(h.Info.Source), ID: h.Info.ID, Status: status,
		StartedAt: h.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"), Implicit: h.Info.Implicit,
		OTLPTraceID: hex.EncodeToString(traceID[:]),
	}
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (r *promptetheusReceiver) handleCreate(w http.ResponseWriter, req *http.Request) {
	p, ok := r.authorize(w, req, false)
	if !ok {
		return
	}
	body, ok := readBody(w, req, r.cfg.MaxEventsBodySize)
	if !ok {
		return
	}
	c, err := wire.DecodeCreateRun(body)
	if err != nil {
		writeDetail(w, http.StatusBadRequest, err.Error())
		return
	}
	routed := req.Header.Get(headerTraceID)
	switch {
	case routed != "" && c.ID != "" && routed != c.ID:
		writeDetail(w, http.StatusBadRequest, fmt.Sprintf("%s %s does not match the trace id %s of the body", headerTraceID, pythonQuote(routed), pythonQuote(c.ID)))
		return
	case c.ID == "":
		c.ID = cmp.Or(routed, newRunID())
	}
	project, _, ok := r.runProject(w, req, p, c.ID)
	if !ok {
		return
	}
	info := mapping.Run{
		Project: project, Workspace: r.cfg.WorkspaceID, ID: c.ID,
		Agent: c.Agent, UserGoal: c.UserGoal, Environment: c.Environment,
		Source: c.Source, Tags: c.Tags, Metadata: c.Metadata,
	}
	h, err := r.createRun(req.Context(), info, r.now())
	if err != nil {
		r.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]traceView{"trace": newTraceView(&h)})
}

func newRunID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "trace_" + hex.EncodeToString(b[:])
}

// appendResponse accounts for every event of a request.
type appendResponse struct {
	Accepted int         `json:"accepted"`
	Rejected []rejection `json:"rejected"`
}

// rejection is one entry of "rejected" in the events response.
type rejection struct {
	Index          int     `json:"index"`
	IdempotencyKey *string `json:"idempotency_key,omitempty"`
	Reason         string  `json:"reason"`
}

func (r *promptetheusReceiver) handleAppend(w http.ResponseWriter, req *http.Request) {
	p, ok := r.authorize(w, req, false)
	if !ok {
		return
	}
	runID := req.PathValue("id")
	project, _, ok := r.runProject(w, req, p, runID)
	if !ok {
		return
	}
	body, ok := readBody(w, req, r.cfg.MaxEventsBodySize)
	if !ok {
		return
	}
	decoded, err := wire.DecodeEventBody(body, runID, r.cfg.MaxEventsPerBatch)
	switch {
	case errors.Is(err, wire.ErrTooManyEvents):
		writeDetail(w, http.StatusRequestEntityTooLarge, err.Error()+": the limit is "+strconv.Itoa(r.cfg.MaxEventsPerBatch))
		return
	case err != nil:
		writeDetail(w, http.StatusBadRequest, err.Error())
		return
	case len(decoded.Events) == 0:
		writeJSON(w, http.StatusOK, appendResponse{Rejected: []rejection{}})
		return
	}
	incoming := make([]session.Incoming, len(decoded.Events))
	for i, raw := range decoded.Events {
		ev, err := decoded.Event(i)
		incoming[i] = session.Incoming{Raw: raw, Event: ev, Err: err}
	}
	if decoded.Bare && incoming[0].Err != nil {
		r.countRejected(req, string(session.RejectInvalid), 1)
		writeDetail(w, http.StatusUnprocessableEntity, incoming[0].Err.Error())
		return
	}

	res, err := r.appendEvents(req.Context(), session.Key{Project: project, ID: runID}, incoming, r.now())
	if err != nil {
		r.writeError(w, err)
		return
	}
	r.telemetry.ReceiverPromptetheusEventsAccepted.Add(req.Context(), int64(res.Accepted))
	r.telemetry.ReceiverPromptetheusEventsDuplicate.Add(req.Context(), int64(res.Duplicates))
	out := appendResponse{Accepted: res.Accepted, Rejected: make([]rejection, 0, len(res.Rejected))}
	for _, rej := range res.Rejected {
		var key *string
		if rej.IdempotencyKey != "" {
			key = &rej.IdempotencyKey
		}
		out.Rejected = append(out.Rejected, rejection{Index: rej.Index, IdempotencyKey: key, Reason: rej.Reason})
		r.countRejected(req, string(rej.Kind), 1)
	}
	writeJSON(w, http.StatusOK, out)
}

func (r *promptetheusReceiver) countRejected(req *http.Request, reason string, n int64) {
	r.telemetry.ReceiverPromptetheusEventsRejected.Add(req.Context(), n, metric.WithAttributes(attribute.String("reason", reason)))
}
