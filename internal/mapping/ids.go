// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package mapping // import "github.com/promptetheus/otelcol-promptetheus/internal/mapping"

import (
	"crypto/sha256"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Ids are derived from content, never drawn at random, so a retried request
// or a replay after a restart yields byte-identical spans that backends
// collapse into one.

const (
	traceDomain = "promptetheus/v1/trace"
	spanDomain  = "promptetheus/v1/span"
)

// Kinds of span id, so that an idempotency key can never collide with the
// root, a state span or an artifact.
const (
	kindEvent    = "event"
	kindState    = "span"
	kindArtifact = "artifact"
	kindFinding  = "finding"
)

func digest(parts ...string) [sha256.Size]byte {
	h := sha256.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// TraceID is sha256("promptetheus/v1/trace" NUL project NUL run)[0:16].
func TraceID(project, runID string) pcommon.TraceID {
	sum := digest(traceDomain, project, runID)
	var id pcommon.TraceID
	copy(id[:], sum[:16])
	if id.IsEmpty() {
		id[15] = 1
	}
	return id
}

func spanID(parts ...string) pcommon.SpanID {
	sum := digest(append([]string{spanDomain}, parts...)...)
	var id pcommon.SpanID
	copy(id[:], sum[:8])
	if id.IsEmpty() {
		id[7] = 1
	}
	return id
}

// RootSpanID is sha256("promptetheus/v1/span" NUL project NUL run NUL "root")[0:8].
func RootSpanID(project, runID string) pcommon.SpanID {
	return spanID(project, runID, "root")
}

// EventSpanID identifies the span of one event by its idempotency key.
func EventSpanID(project, runID, idempotencyKey string) pcommon.SpanID {
	return spanID(project, runID, kindEvent, idempotencyKey)
}

// StateSpanID identifies the span a state_change span_start/span_end pair
// (or any event's parent_id) names.
func StateSpanID(project, runID, envelopeSpanID string) pcommon.SpanID {
	return spanID(project, runID, kindState, envelopeSpanID)
}

// ArtifactSpanID identifies the span of an uploaded artifact.
func ArtifactSpanID(project, runID, artifactID string) pcommon.SpanID {
	return spanID(project, runID, kindArtifact, artifactID)
}

// FindingSpanID identifies a rule finding on a span, so that whoever
// evaluates the same trace names the finding alike.
func FindingSpanID(traceID pcommon.TraceID, flagged pcommon.SpanID, ruleID string) pcommon.SpanID {
	return spanID(string(traceID[:]), kindFinding, string(flagged[:]), ruleID)
}
