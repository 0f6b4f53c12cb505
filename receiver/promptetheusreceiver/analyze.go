// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver"

import (
	"encoding/hex"
	"net/http"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"
)

// detection is one entry of analysis.detections in the contract.
type detection struct {
	Label           string  `json:"label"`
	Confidence      float64 `json:"confidence"`
	EvidenceRefs    []int64 `json:"evidence_refs"`
	CriticalStepSeq *int64  `json:"critical_step_seq"`
}

// finding extends the contract: every rule that fired, with its spans.
type finding struct {
	RuleID          string  `json:"rule_id"`
	Severity        string  `json:"severity"`
	Confidence      float64 `json:"confidence"`
	Message         string  `json:"message"`
	EvidenceSeqs    []int64 `json:"evidence_seqs"`
	CriticalStepSeq *int64  `json:"critical_step_seq"`
	SpanID          string  `json:"span_id"`
	FindingSpanID   string  `json:"finding_span_id"`
}

type goalVerdict struct {
	Passed     *bool    `json:"passed"`
	Mismatches []string `json:"mismatches"`
}

type analysis struct {
	TraceID         string      `json:"trace_id"`
	SessionID       string      `json:"session_id"`
	Labels          []string    `json:"labels"`
	CriticalStepSeq *int64      `json:"critical_step_seq"`
	Confidence      float64     `json:"confidence"`
	RootCause       *string     `json:"root_cause"`
	Detections      []detection `json:"detections"`
	Fallback        bool        `json:"fallback"`
	// Extensions of the contract's shape.
	OTLPTraceID string      `json:"otlp_trace_id"`
	RootSpanID  string      `json:"root_span_id"`
	Goal        goalVerdict `json:"goal"`
	Findings    []finding   `json:"findings"`
	// CostUSD is the price of the run's LLM calls (null when none could
	// be priced); UnpricedLLMCalls had a model the price table lacks.
	CostUSD          *float64  `json:"cost_usd"`
	UnpricedLLMCalls int64     `json:"unpriced_llm_calls"`
	AnalyzedAt       time.Time `json:"analyzed_at"`
}

// incident is the reference's incident row for one detection label.
type incident struct {
	ID                      string   `json:"id"`
	WorkspaceID             string   `json:"workspace_id"`
	ProjectID               string   `json:"project_id"`
	Label                   string   `json:"label"`
	Severity                string   `json:"severity"`
	Status                  string   `json:"status"`
	RepresentativeSessionID string   `json:"representative_session_id"`
	OwnerID                 *string  `json:"owner_id"`
	SessionIDs              []string `json:"session_ids"`
	CriticalStepSeq         *int64   `json:"critical_step_seq"`
	Confidence              float64  `json:"confidence"`
}

type analyzeResponse struct {
	Analysis  analysis   `json:"analysis"`
	Incidents []incident `json:"incidents"`
	Fallback  bool       `json:"fallback"`
}

// incidentSeverityHigh is the contract's threshold for a high incident.
const incidentSeverityHigh = 0.9

func (r *promptetheusReceiver) handleAnalyze(w http.ResponseWriter, req *http.Request) {
	project, runID, ok := r.consoleProject(w, req)
	if !ok {
		return
	}
	h, err := r.finalize(req.Context(), session.Key{Project: project, ID: runID}, session.FinalizedByAnalyze, true, r.now())
	if err != nil {
		r.writeError(w, err)
		return
	}
	// The verdict made when the run was finalised: the one on its root span.
	writeJSON(w, http.StatusOK, buildAnalysis(&h))
}

// buildAnalysis renders a verdict in the contract's analyze response shape:
// detections (the four reference detectors) in the reference's order, the
// run's critical step the smallest and its confidence the largest of them;
// every finding, with its span ids, as an extension.
func buildAnalysis(h *session.Header) *analyzeResponse {
	info, res := &h.Info, h.Verdict
	if res == nil {
		res = &rules.Result{}
	}
	traceID := mapping.TraceID(info.Project, info.ID)
	rootID := mapping.RootSpanID(info.Project, info.ID)
	a := analysis{
		TraceID:          info.ID,
		SessionID:        info.ID,
		Labels:           []string{},
		Detections:       []detection{},
		Findings:         []finding{},
		OTLPTraceID:      hex.EncodeToString(traceID[:]),
		RootSpanID:       hex.EncodeToString(rootID[:]),
		Goal:             goalVerdict{Passed: res.GoalPassed, Mismatches: res.Mismatches},
		CostUSD:          h.CostUSD,
		UnpricedLLMCalls: h.UnpricedLLMCalls,
		AnalyzedAt:       h.AnalyzedAt.UTC(),
	}
	if a.Goal.Mismatches == nil {
		a.Goal.Mismatches = []string{}
	}
	for i := range res.Findings {
		f := &res.Findings[i]
		flagged := rootID
		if f.SpanID != (rules.SpanRef{}) {
			flagged = pcommon.SpanID(f.SpanID)
		}
		findingID := mapping.FindingSpanID(traceID, flagged, f.RuleID)
		a.Findings = append(a.Findings, finding{
			RuleID: f.RuleID, Severity: f.Severity.String(), Confidence: f.Confidence, Message: f.Message,
			EvidenceSeqs: nonNil(f.Evidence), CriticalStepSeq: seqPtr(f.CriticalSeq),
			SpanID: hex.EncodeToString(flagged[:]), FindingSpanID: hex.EncodeToString(findingID[:]),
		})
	}
	incidents := []incident{}
	for _, label := range rules.Detectors {
		for i := range res.Findings {
			f := &res.Findings[i]
			if !f.Detection || f.RuleID != label {
				continue
			}
			critical := seqPtr(f.CriticalSeq)
			a.Detections = append(a.Detections, detection{Label: label, Confidence: f.Confidence, EvidenceRefs: nonNil(f.Evidence), CriticalStepSeq: critical})
			a.Labels = append(a.Labels, label)
			a.Confidence = max(a.Confidence, f.Confidence)
			if critical != nil && (a.CriticalStepSeq == nil || *critical < *a.CriticalStepSeq) {
				a.CriticalStepSeq = critical
			}
			severity := "medium"
			if f.Confidence >= incidentSeverityHigh {
				severity = "high"
			}
			incidents = append(incidents, incident{
				ID: "incident_" + info.Workspace + "_" + label, WorkspaceID: info.Workspace, ProjectID: info.Project,
				Label: label, Severity: severity, Status: "new", RepresentativeSessionID: info.ID,
				SessionIDs: []string{info.ID}, CriticalStepSeq: critical, Confidence: f.Confidence,
			})
		}
	}
	if rc := rules.RootCause(res.Findings, info.UserGoal); rc != "" {
		a.RootCause = &rc
	}
	return &analyzeResponse{Analysis: a, Incidents: incidents}
}

func nonNil(seqs []int64) []int64 {
	if seqs == nil {
		return []int64{}
	}
	return seqs
}

func seqPtr(seq int64) *int64 {
	if seq < 0 {
		return nil
	}
	return &seq
}

func (r *promptetheusReceiver) handleGetAnalysis(w http.ResponseWriter, req *http.Request) {
	snap, ok := r.consoleRun(w, req, false)
	if !ok {
		return
	}
	h := snap.header
	if h.AnalyzedAt.IsZero() || h.Verdict == nil {
		writeDetail(w, http.StatusNotFound, "no analysis yet for this trace")
		return
	}
	writeJSON(w, http.StatusOK, buildAnalysis(&h))
}

// timelineEntry is one entry of GET /api/traces/{id}/events: the compact
// step the receiver keeps of each span, not the original event.
type timelineEntry struct {
	Seq    int64  `json:"seq"`
	Type   string `json:"type"`
	Name   string `json:"name,omitempty"`
	SpanID string `json:"span_id"`
	Time   string `json:"timestamp"`
	Error  bool   `json:"error,omitempty"`
}

func (r *promptetheusReceiver) handleListEvents(w http.ResponseWriter, req *http.Request) {
	snap, ok := r.consoleRun(w, req, true)
	if !ok {
		return
	}
	rules.SortSteps(snap.steps)
	out := make([]timelineEntry, 0, len(snap.steps))
	for _, s := range snap.steps {
		out = append(out, timelineEntry{
			Seq: s.Seq, Type: s.Kind, Name: s.Name, SpanID: s.SpanID.String(), Error: s.Error,
			Time: time.Unix(0, s.Start).UTC().Format(time.RFC3339Nano),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"trace_id": snap.header.Info.ID, "events": out})
}

// consoleRun authorises a console read of an existing run and reads it,
// its steps when withSteps.
func (r *promptetheusReceiver) consoleRun(w http.ResponseWriter, req *http.Request, withSteps bool) (snapshot, bool) {
	project, runID, ok := r.consoleProject(w, req)
	if !ok {
		return snapshot{}, false
	}
	snap, err := r.readRun(req.Context(), session.Key{Project: project, ID: runID}, withSteps)
	if err != nil {
		r.writeError(w, err)
		return snapshot{}, false
	}
	return snap, true
}

// consoleProject authorises a console request on an existing run and
// returns the run's project; it answers 401/403/404 itself.
func (r *promptetheusReceiver) consoleProject(w http.ResponseWriter, req *http.Request) (project, runID string, ok bool) {
	p, ok := r.authorize(w, req, true)
	if !ok {
		return "", "", false
	}
	runID = req.PathValue("id")
	project, exists, ok := r.runProject(w, req, p, runID)
	if !ok {
		return "", "", false
	}
	if !exists {
		writeDetail(w, http.StatusNotFound, session.ErrNotFound.Error())
		return "", "", false
	}
	return project, runID, true
}
