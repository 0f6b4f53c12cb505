// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/internal/wire"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/artifactstore"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/session"
)

// Headers of a raw artifact upload.
const (
	headerFilename     = "X-Promptetheus-Filename"
	headerArtifactType = "X-Promptetheus-Artifact-Type"
	headerArtifactID   = "X-Promptetheus-Artifact-Id"
)

const maxArtifactTypeLength = 64

// artifactView is the "artifact" object of the upload response: the
// reference's fields, plus the SHA-256 and the URI the bytes are served at.
type artifactView struct {
	SessionID    string    `json:"session_id"`
	WorkspaceID  string    `json:"workspace_id"`
	ProjectID    string    `json:"project_id"`
	ContentType  string    `json:"content_type"`
	SizeBytes    int64     `json:"size_bytes"`
	Filename     string    `json:"filename"`
	ArtifactType *string   `json:"artifact_type"`
	ArtifactID   string    `json:"artifact_id"`
	StoragePath  string    `json:"storage_path"`
	SHA256       string    `json:"sha256,omitempty"`
	URI          string    `json:"uri"`
	MetadataOnly bool      `json:"metadata_only"`
	CreatedAt    time.Time `json:"created_at"`
}

// artifactMetadata is the JSON body of a metadata-only upload.
type artifactMetadata struct {
	ContentType  string          `json:"content_type"`
	SizeBytes    json.RawMessage `json:"size_bytes"`
	Filename     string          `json:"filename"`
	ArtifactType string          `json:"artifact_type"`
	ArtifactID   string          `json:"artifact_id"`
}

func (r *promptetheusReceiver) handleUpload(w http.ResponseWriter, req *http.Request) {
	p, ok := r.authorize(w, req, false)
	if !ok {
		return
	}
	runID := req.PathValue("id")
	project, _, ok := r.runProject(w, req, p, runID)
	if !ok {
		return
	}
	mediaType, _, _ := strings.Cut(req.Header.Get("Content-Type"), ";")
	mediaType = strings.ToLower(strings.TrimSpace(mediaType))
	meta := artifactstore.Meta{Project: project, TraceID: runID, CreatedAt: r.now().UTC()}
	if mediaType == "" || mediaType == "application/json" {
		if !r.readArtifactMetadata(w, req, &meta) {
			return
		}
		mediaType = strings.ToLower(meta.ContentType)
	} else {
		meta.ID = req.Header.Get(headerArtifactID)
		meta.Filename = req.Header.Get(headerFilename)
		meta.Type = req.Header.Get(headerArtifactType)
	}
	if !slices.Contains(r.cfg.Artifacts.ContentTypes, mediaType) {
		writeDetail(w, http.StatusUnsupportedMediaType, "unsupported artifact content-type: "+pythonQuote(mediaType))
		return
	}
	meta.ContentType = mediaType
	if !validateArtifactMeta(w, &meta) {
		return
	}
	if meta.SizeBytes > r.cfg.Artifacts.MaxSize || req.ContentLength > r.cfg.Artifacts.MaxSize {
		r.refuseArtifact(w, req, limitMaxSize)
		return
	}

	if prev, err := r.artifacts.GetMeta(req.Context(), project, runID, meta.ID); err == nil {
		// A retried upload with the same client id: answer what is stored.
		writeJSON(w, http.StatusCreated, map[string]artifactView{"artifact": r.artifactView(prev)})
		return
	} else if !errors.Is(err, artifactstore.ErrNotFound) {
		r.writeError(w, err)
		return
	}

	var body io.Reader
	if !meta.MetadataOnly {
		body = req.Body
	}
	upload, err := r.artifacts.Begin(req.Context(), body, req.ContentLength, r.cfg.Artifacts.MaxSize)
	if err != nil {
		r.writeArtifactError(w, req, err)
		return
	}
	defer upload.Abort() // a no-op once committed
	if !meta.MetadataOnly {
		meta.SHA256, meta.SizeBytes = upload.SHA256(), upload.Size()
	}

	view := r.artifactView(&meta)
	span := &mapping.Artifact{
		ID: meta.ID, Type: meta.Type, Filename: meta.Filename, ContentType: meta.ContentType,
		SHA256: meta.SHA256, SizeBytes: meta.SizeBytes, URI: view.URI, StoragePath: view.StoragePath,
		UploadedAt: meta.CreatedAt,
	}
	if err := r.addArtifact(req.Context(), session.Key{Project: project, ID: runID}, span, r.now()); err != nil {
		r.writeArtifactError(w, req, err)
		return
	}
	if err := upload.Commit(req.Context(), &meta); err != nil {
		r.writeArtifactError(w, req, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]artifactView{"artifact": view})
}

// Values of the limit attribute of receiver_promptetheus_artifacts_refused.
const (
	limitMaxSize         = "max_size"
	limitMaxSizePerTrace = "max_size_per_trace"
	limitMaxTotalSize    = "max_total_size"
)

// writeArtifactError answers an upload that failed, counting refusals.
func (r *promptetheusReceiver) writeArtifactError(w http.ResponseWriter, req *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, artifactstore.ErrTooLarge), errors.As(err, &tooLarge):
		r.refuseArtifact(w, req, limitMaxSize)
	case errors.Is(err, artifactstore.ErrFull):
		r.refuseArtifact(w, req, limitMaxTotalSize)
	case errors.Is(err, session.ErrArtifactQuota):
		r.countRefusedArtifact(req, limitMaxSizePerTrace)
		r.writeError(w, err)
	default:
		r.writeError(w, err)
	}
}

// refuseArtifact answers an upload over a size limit. One artifact over
// max_size will never fit: 413, which the SDK does not retry. A full store
// is temporary, as retention frees space: 503 and Retry-After, which the
// SDK retries with backoff, keeping the artifact meanwhile.
func (r *promptetheusReceiver) refuseArtifact(w http.ResponseWriter, req *http.Request, limit string) {
	r.countRefusedArtifact(req, limit)
	if limit == limitMaxTotalSize {
		r.retryAfter(w)
		writeDetail(w, http.StatusServiceUnavailable, errArtifactStoreFull)
		return
	}
	writeDetail(w, http.StatusRequestEntityTooLarge, errArtifactTooLarge)
}

func (r *promptetheusReceiver) countRefusedArtifact(req *http.Request, limit string) {
	r.telemetry.ReceiverPromptetheusArtifactsRefused.Add(req.Context(), 1,
		metric.WithAttributes(attribute.String("limit", limit)))
}

const (
	errArtifactTooLarge  = "artifact exceeds maximum size"
	errArtifactStoreFull = "artifact storage is full; retry later"
)

// startArtifacts opens the artifact store, which deletes the temporary files
// of a crash and counts what is stored, and starts its retention sweeps.
func (r *promptetheusReceiver) startArtifacts() error {
	store, err := artifactstore.Open(artifactstore.Config{
		Directory:    r.cfg.Artifacts.Directory,
		MaxTotalSize: r.cfg.Artifacts.MaxTotalSize,
		Retention:    r.cfg.Artifacts.Retention,
		Now:          r.now,
		OnExpired: func(n int) {
			r.telemetry.ReceiverPromptetheusArtifactsExpired.Add(context.Background(), int64(n))
		},
		Logger: r.settings.Logger,
	})
	if err != nil {
		return err
	}
	r.artifacts = store
	store.Start()
	return r.telemetry.RegisterReceiverPromptetheusArtifactsSizeCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(store.Usage())
		return nil
	})
}

// closeArtifacts stops the retention sweeps and releases the directory.
func (r *promptetheusReceiver) closeArtifacts() error {
	if r.artifacts == nil {
		return nil
	}
	return r.artifacts.Close()
}

// readArtifactMetadata reads a metadata-only upload, answering errors itself.
func (r *promptetheusReceiver) readArtifactMetadata(w http.ResponseWriter, req *http.Request, meta *artifactstore.Meta) bool {
	body, ok := readBody(w, req, r.cfg.MaxEventsBodySize)
	if !ok {
		return false
	}
	var md artifactMetadata
	if len(bytes.TrimSpace(body)) > 0 {
		if !json.Valid(body) {
			writeDetail(w, http.StatusBadRequest, wire.ErrBadJSON.Error())
			return false
		}
		if json.Unmarshal(body, &md) != nil {
			writeDetail(w, http.StatusBadRequest, wire.ErrNotObject.Error())
			return false
		}
	}
	var size int64
	if raw := bytes.TrimSpace(md.SizeBytes); len(raw) == 0 || bytes.ContainsAny(raw, ".eE\"") || json.Unmarshal(raw, &size) != nil || size < 0 {
		// Only checked once the content type is known to be accepted.
		size = -1
	}
	meta.ContentType, meta.SizeBytes, meta.MetadataOnly = strings.TrimSpace(md.ContentType), size, true
	meta.ID, meta.Filename, meta.Type = md.ArtifactID, md.Filename, md.ArtifactType
	return true
}

// validateArtifactMeta checks and completes the client's artifact fields.
func validateArtifactMeta(w http.ResponseWriter, meta *artifactstore.Meta) bool {
	switch {
	case meta.MetadataOnly && meta.SizeBytes < 0:
		writeDetail(w, http.StatusRequestEntityTooLarge, "artifact size_bytes must be a non-negative integer")
		return false
	case meta.ID == "":
		meta.ID = artifactstore.NewID()
	case !artifactstore.ValidID(meta.ID):
		writeDetail(w, http.StatusBadRequest, "artifact id must be 1-128 letters, digits, '_', '-' or '.'")
		return false
	}
	meta.Filename = artifactstore.SanitizeFilename(meta.Filename)
	meta.Type = strings.TrimSpace(meta.Type)
	if len(meta.Type) > maxArtifactTypeLength || strings.ContainsFunc(meta.Type, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		writeDetail(w, http.StatusBadRequest, "artifact type must be a short printable string")
		return false
	}
	return true
}

// pythonQuote quotes like Python's repr of a str, as the reference's
// messages do.
func pythonQuote(s string) string {
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

func (r *promptetheusReceiver) artifactView(m *artifactstore.Meta) artifactView {
	return artifactView{
		SessionID: m.TraceID, WorkspaceID: r.cfg.WorkspaceID, ProjectID: m.Project,
		ContentType: m.ContentType, SizeBytes: m.SizeBytes, Filename: m.Filename, ArtifactType: nullable(m.Type),
		ArtifactID:  m.ID,
		StoragePath: path.Join("artifacts", r.cfg.WorkspaceID, m.TraceID, m.ID, m.Filename),
		SHA256:      m.SHA256, MetadataOnly: m.MetadataOnly, CreatedAt: m.CreatedAt,
		URI: "/api/traces/" + url.PathEscape(m.TraceID) + "/artifacts/" + url.PathEscape(m.ID),
	}
}

func (r *promptetheusReceiver) handleDownload(w http.ResponseWriter, req *http.Request) {
	p, ok := r.authorize(w, req, false)
	if !ok {
		return
	}
	runID, artifactID := req.PathValue("id"), req.PathValue("artifact_id")
	if !artifactstore.ValidID(artifactID) {
		writeDetail(w, http.StatusNotFound, artifactstore.ErrNotFound.Error())
		return
	}
	project, _, ok := r.runProject(w, req, p, runID)
	if !ok {
		return
	}
	meta, err := r.artifacts.GetMeta(req.Context(), project, runID, artifactID)
	if err != nil {
		r.writeError(w, err)
		return
	}
	if meta.MetadataOnly {
		writeDetail(w, http.StatusNotFound, "artifact was declared without content")
		return
	}
	blob, err := r.artifacts.OpenBlob(req.Context(), meta.SHA256)
	if err != nil {
		r.writeError(w, err)
		return
	}
	defer blob.Close()
	w.Header().Set("Content-Type", meta.ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": meta.Filename}))
	w.Header().Set("ETag", `"`+meta.SHA256+`"`)
	http.ServeContent(w, req, "", meta.CreatedAt, blob)
}
