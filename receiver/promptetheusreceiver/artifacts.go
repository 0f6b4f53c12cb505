// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver"

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/promptetheus/otelcol-promptetheus/internal/mapping"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/artifactstore"
)

// Headers of a raw artifact upload.
const (
	headerFilename     = "X-Promptetheus-Filename"
	headerArtifactType = "X-Promptetheus-Artifact-Type"
	headerArtifactID   = "X-Promptetheus-Artifact-Id"
)

const maxArtifactTypeLength = 64

// artifactView is the "artifact" object of the upload response.
type artifactView struct {
	ArtifactID   string    `json:"artifact_id"`
	TraceID      string    `json:"trace_id"`
	StoragePath  string    `json:"storage_path"`
	SizeBytes    int64     `json:"size_bytes"`
	ContentType  string    `json:"content_type"`
	Filename     string    `json:"filename"`
	ArtifactType string    `json:"artifact_type"`
	SHA256       string    `json:"sha256,omitempty"`
	URI          string    `json:"uri"`
	MetadataOnly bool      `json:"metadata_only"`
	CreatedAt    time.Time `json:"created_at"`
}

// artifactMetadata is the JSON body of a metadata-only upload.
type artifactMetadata struct {
	ContentType  string `json:"content_type"`
	SizeBytes    int64  `json:"size_bytes"`
	Filename     string `json:"filename"`
	ArtifactType string `json:"artifact_type"`
	ArtifactID   string `json:"artifact_id"`
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
	mediaType, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	meta := artifactstore.Meta{Project: project, TraceID: runID, CreatedAt: r.now().UTC()}
	if mediaType == "application/json" {
		body, ok := readBody(w, req, r.cfg.MaxEventsBodySize)
		if !ok {
			return
		}
		var md artifactMetadata
		if err := json.Unmarshal(body, &md); err != nil {
			writeDetail(w, http.StatusBadRequest, "invalid JSON body")
			return
		}
		mediaType = strings.ToLower(strings.TrimSpace(md.ContentType))
		meta.ID, meta.Filename, meta.Type, meta.SizeBytes, meta.MetadataOnly = md.ArtifactID, md.Filename, md.ArtifactType, md.SizeBytes, true
		if md.SizeBytes < 0 {
			writeDetail(w, http.StatusBadRequest, "size_bytes must be >= 0")
			return
		}
	} else {
		meta.ID = req.Header.Get(headerArtifactID)
		meta.Filename = req.Header.Get(headerFilename)
		meta.Type = req.Header.Get(headerArtifactType)
	}
	if !slices.Contains(r.cfg.Artifacts.ContentTypes, mediaType) {
		writeDetail(w, http.StatusUnsupportedMediaType, "unsupported artifact content type "+strconv.Quote(mediaType)+"; accepted: "+strings.Join(r.cfg.Artifacts.ContentTypes, ", "))
		return
	}
	meta.ContentType = mediaType
	if !r.validateArtifactMeta(w, &meta) {
		return
	}
	if meta.SizeBytes > r.cfg.Artifacts.MaxSize || req.ContentLength > r.cfg.Artifacts.MaxSize {
		writeDetail(w, http.StatusRequestEntityTooLarge, "artifact exceeds "+strconv.FormatInt(r.cfg.Artifacts.MaxSize, 10)+" bytes")
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

	if !meta.MetadataOnly {
		sha, size, err := r.artifacts.PutBlob(req.Context(), req.Body, r.cfg.Artifacts.MaxSize)
		var tooLarge *http.MaxBytesError
		switch {
		case errors.Is(err, artifactstore.ErrTooLarge), errors.As(err, &tooLarge):
			writeDetail(w, http.StatusRequestEntityTooLarge, "artifact exceeds "+strconv.FormatInt(r.cfg.Artifacts.MaxSize, 10)+" bytes")
			return
		case err != nil:
			r.writeError(w, err)
			return
		}
		meta.SHA256, meta.SizeBytes = sha, size
	}

	view := r.artifactView(&meta)
	info := mapping.Run{Project: project, Workspace: r.cfg.WorkspaceID, ID: runID}
	span := &mapping.Artifact{
		ID: meta.ID, Type: meta.Type, Filename: meta.Filename, ContentType: meta.ContentType,
		SHA256: meta.SHA256, SizeBytes: meta.SizeBytes, URI: view.URI, StoragePath: view.StoragePath,
		UploadedAt: meta.CreatedAt,
	}
	ctx := r.obsrecv.StartTracesOp(req.Context())
	err := r.sessions.AddArtifact(ctx, info, span, r.cfg.Artifacts.MaxSizePerTrace, r.now())
	r.obsrecv.EndTracesOp(ctx, dataFormat, 1, err)
	if err != nil {
		r.writeError(w, err)
		return
	}
	if err := r.artifacts.PutMeta(req.Context(), &meta); err != nil {
		r.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]artifactView{"artifact": view})
}

// validateArtifactMeta checks and completes the client's artifact fields.
func (r *promptetheusReceiver) validateArtifactMeta(w http.ResponseWriter, meta *artifactstore.Meta) bool {
	switch {
	case meta.ID == "":
		meta.ID = artifactstore.NewID()
	case !artifactstore.ValidID(meta.ID):
		writeDetail(w, http.StatusBadRequest, "artifact id must be 1-128 letters, digits, '_', '-' or '.'")
		return false
	}
	meta.Filename = artifactstore.SanitizeFilename(meta.Filename)
	meta.Type = strings.TrimSpace(meta.Type)
	if meta.Type == "" {
		meta.Type = "upload"
	}
	if len(meta.Type) > maxArtifactTypeLength || strings.ContainsFunc(meta.Type, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		writeDetail(w, http.StatusBadRequest, "artifact type must be a short printable string")
		return false
	}
	return true
}

func (r *promptetheusReceiver) artifactView(m *artifactstore.Meta) artifactView {
	return artifactView{
		ArtifactID: m.ID, TraceID: m.TraceID,
		StoragePath: path.Join("artifacts", r.cfg.WorkspaceID, m.TraceID, m.ID, m.Filename),
		SizeBytes:   m.SizeBytes, ContentType: m.ContentType, Filename: m.Filename, ArtifactType: m.Type,
		SHA256: m.SHA256, MetadataOnly: m.MetadataOnly, CreatedAt: m.CreatedAt,
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
