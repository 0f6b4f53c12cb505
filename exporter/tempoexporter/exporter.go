// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter // import "github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter/internal/metadata"
)

const (
	protobufContentType = "application/x-protobuf"
	headerRetryAfter    = "Retry-After"
	// maxResponseRead bounds what is read of a response body.
	maxResponseRead = 64 * 1024
	// maxErrorSnippet bounds the part of an error body quoted in errors.
	maxErrorSnippet = 256
)

var (
	outcomeSuccess   = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "success")))
	outcomeRetryable = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "retryable")))
	outcomePermanent = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "permanent")))
)

type tempoExporter struct {
	cfg       *Config
	url       string // the traces URL
	safeURL   string // the traces URL without userinfo or query, for errors
	userAgent string
	settings  component.TelemetrySettings
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	client    *http.Client

	warnNoTenant sync.Once
}

func newExporter(cfg *Config, set exporter.Settings) (*tempoExporter, error) {
	u, err := tracesURL(cfg)
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &tempoExporter{
		cfg:       cfg,
		url:       u.String(),
		safeURL:   redactedURL(u),
		userAgent: fmt.Sprintf("%s/%s (%s/%s)", set.BuildInfo.Description, set.BuildInfo.Version, runtime.GOOS, runtime.GOARCH),
		settings:  set.TelemetrySettings,
		logger:    set.Logger,
		telemetry: tb,
	}, nil
}

// start creates the HTTP client: only here are the extensions (auth) known.
func (e *tempoExporter) start(ctx context.Context, host component.Host) error {
	client, err := e.cfg.ClientConfig.ToClient(ctx, host.GetExtensions(), e.settings)
	if err != nil {
		return err
	}
	e.client = client
	return nil
}

func (e *tempoExporter) shutdown(context.Context) error {
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	e.telemetry.Shutdown()
	return nil
}

// tenantBatch is the part of a push that goes to one tenant.
type tenantBatch struct {
	tenant string
	td     ptrace.Traces
	// owned is true when td is a copy made by the exporter, which may then
	// be modified; false when it is the pushed data itself.
	owned bool
}

// split groups the resource spans of td by tenant, in order of first
// appearance, and returns the number of spans dropped for want of a tenant.
//
// The pushed data is never modified: other exporters of a fanout and the
// retry of the queued request may read it. When all of td goes to one
// tenant it is passed on as is (and copied later only if attributes must be
// cut); otherwise each tenant gets a copy of its resource spans. Copying the
// split parts costs no more than splitting in place would with
// MutatesData=true, where the fanout clones the whole batch.
func (e *tempoExporter) split(td ptrace.Traces) ([]*tenantBatch, int) {
	rss := td.ResourceSpans()
	if !e.cfg.Tenant.Enabled {
		if rss.Len() == 0 {
			return nil, 0
		}
		return []*tenantBatch{{td: td}}, 0
	}
	tenants := make([]string, rss.Len())
	distinct := map[string]int{}
	dropped := 0
	for i := 0; i < rss.Len(); i++ {
		tenants[i] = e.tenantOf(rss.At(i).Resource())
		if tenants[i] == "" {
			for j := 0; j < rss.At(i).ScopeSpans().Len(); j++ {
				dropped += rss.At(i).ScopeSpans().At(j).Spans().Len()
			}
			continue
		}
		distinct[tenants[i]]++
	}
	if len(distinct) == 1 && distinct[tenants[0]] == rss.Len() {
		return []*tenantBatch{{tenant: tenants[0], td: td}}, 0
	}
	var batches []*tenantBatch
	index := map[string]*tenantBatch{}
	for i := 0; i < rss.Len(); i++ {
		if tenants[i] == "" {
			continue
		}
		b, ok := index[tenants[i]]
		if !ok {
			b = &tenantBatch{tenant: tenants[i], td: ptrace.NewTraces(), owned: true}
			index[tenants[i]] = b
			batches = append(batches, b)
		}
		rss.At(i).CopyTo(b.td.ResourceSpans().AppendEmpty())
	}
	return batches, dropped
}

// tenantOf returns the tenant of a resource: its tenant attribute when it is
// a valid tenant ID, else the default tenant (possibly empty: drop).
func (e *tempoExporter) tenantOf(res pcommon.Resource) string {
	if v, ok := res.Attributes().Get(e.cfg.Tenant.ResourceAttribute); ok {
		var s string
		switch v.Type() {
		case pcommon.ValueTypeStr:
			s = v.Str()
		case pcommon.ValueTypeInt:
			s = strconv.FormatInt(v.Int(), 10)
		}
		if validTenant(s) {
			return s
		}
	}
	return e.cfg.Tenant.Default
}

// pushTraces sends td, one request per tenant. When some tenants fail with a
// retryable error, it returns a consumererror.Traces holding only their
// spans, so exporterhelper's retry does not send the others again.
func (e *tempoExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	batches, dropped := e.split(td)
	if dropped > 0 {
		e.telemetry.ExporterTempoSpansDroppedNoTenant.Add(ctx, int64(dropped))
		e.warnNoTenant.Do(func() {
			e.logger.Warn("Dropping spans whose resource has no valid tenant attribute; set tenant.default to keep them (further drops are only counted)",
				zap.String("resource_attribute", e.cfg.Tenant.ResourceAttribute), zap.Int("dropped_spans", dropped))
		})
	}

	var (
		retryable []error
		permanent []error
		failed    []*tenantBatch
	)
	for _, b := range batches {
		if n := truncateTraces(b.td, e.cfg.MaxAttributeLength, b.owned); n > 0 {
			if !b.owned {
				// The pushed data itself: cut a copy.
				own := ptrace.NewTraces()
				b.td.CopyTo(own)
				b.td, b.owned = own, true
				truncateTraces(b.td, e.cfg.MaxAttributeLength, true)
			}
			e.telemetry.ExporterTempoAttributesTruncated.Add(ctx, int64(n))
		}

		err := e.send(ctx, b.tenant, b.td)
		switch {
		case err == nil:
			e.telemetry.ExporterTempoRequests.Add(ctx, 1, outcomeSuccess)
		case consumererror.IsPermanent(err):
			e.telemetry.ExporterTempoRequests.Add(ctx, 1, outcomePermanent)
			permanent = append(permanent, err)
		default:
			e.telemetry.ExporterTempoRequests.Add(ctx, 1, outcomeRetryable)
			retryable = append(retryable, err)
			failed = append(failed, b)
		}
	}

	switch {
	case len(retryable) == 0 && len(permanent) == 0:
		return nil
	case len(retryable) == 0:
		// Every error is permanent, and so is the joined error.
		return errors.Join(permanent...)
	default:
		if len(permanent) > 0 {
			// A permanent error in the returned error would make the retry
			// drop the retryable tenants too: report it here instead.
			e.logger.Error("Dropping spans refused permanently; retrying other tenants",
				zap.Error(errors.Join(permanent...)))
		}
		return consumererror.NewTraces(errors.Join(retryable...), remaining(failed))
	}
}

// remaining gathers the spans of the failed tenants for the retry.
func remaining(failed []*tenantBatch) ptrace.Traces {
	if len(failed) == 1 {
		return failed[0].td
	}
	// Several tenants: every batch is a copy owned by the exporter (split
	// only passes the pushed data on when it all goes to one tenant), so
	// moving does not touch the pushed data.
	td := ptrace.NewTraces()
	for _, b := range failed {
		b.td.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	return td
}

// send POSTs td as one OTLP/HTTP protobuf request with the tenant header
// (when tenant is not empty) and maps the response to an error.
func (e *tempoExporter) send(ctx context.Context, tenant string, td ptrace.Traces) error {
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	req.Header.Set("Content-Type", protobufContentType)
	req.Header.Set("User-Agent", e.userAgent)
	if tenant != "" {
		req.Header.Set(e.cfg.Tenant.Header, tenant)
	}

	who := e.safeURL
	if tenant != "" {
		who = fmt.Sprintf("%s (tenant %s)", e.safeURL, tenant)
	}

	resp, err := e.client.Do(req)
	if err != nil {
		// *url.Error quotes the full URL, userinfo and query included:
		// report only the cause.
		cause := err
		if uerr, ok := errors.AsType[*url.Error](err); ok {
			cause = uerr.Err
		}
		return fmt.Errorf("failed to send traces to %s: %w", who, cause)
	}
	defer func() {
		_, _ = io.CopyN(io.Discard, resp.Body, maxResponseRead)
		_ = resp.Body.Close()
	}()

	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		e.logPartialSuccess(resp, tenant)
		return nil
	}

	respErr := fmt.Errorf("traces to %s refused with HTTP %d%s", who, resp.StatusCode, describeBody(resp))
	if !isRetryableStatus(resp.StatusCode) {
		return consumererror.NewPermanent(respErr)
	}
	// 429 and 503 may say when to come back.
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if delay, ok := retryAfter(resp.Header.Get(headerRetryAfter)); ok {
			return exporterhelper.NewThrottleRetry(respErr, delay)
		}
	}
	return respErr
}

// isRetryableStatus follows the OTLP/HTTP specification: other 4xx and 5xx
// are permanent.
func isRetryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryAfter parses Retry-After: delay-seconds or an HTTP-date.
func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

func readBody(resp *http.Response) []byte {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseRead))
	return b
}

// describeBody returns ": <message>" from an error response: the message of
// a google.rpc.Status (the OTLP error body) or a sanitised snippet of a text
// body (Tempo answers in plain text), or "" for an empty body.
func describeBody(resp *http.Response) string {
	b := readBody(resp)
	if len(b) == 0 {
		return ""
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), protobufContentType) {
		var st status.Status
		if err := proto.Unmarshal(b, &st); err == nil && st.GetMessage() != "" {
			return ": " + snippet(st.GetMessage())
		}
	}
	return ": " + snippet(string(b))
}

// snippet keeps the first maxErrorSnippet bytes of s, valid UTF-8, with
// control characters (CR, LF, escapes) replaced so a body cannot forge log
// lines.
func snippet(s string) string {
	cut := truncateString(s, maxErrorSnippet)
	out := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(cut, "\uFFFD"))
	out = strings.TrimSpace(out)
	if len(cut) < len(s) {
		out += "..."
	}
	return out
}

// logPartialSuccess logs an OTLP partial success in a 2xx response.
func (e *tempoExporter) logPartialSuccess(resp *http.Response, tenant string) {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), protobufContentType) {
		return
	}
	b := readBody(resp)
	if len(b) == 0 {
		return
	}
	r := ptraceotlp.NewExportResponse()
	if err := r.UnmarshalProto(b); err != nil {
		return
	}
	if ps := r.PartialSuccess(); ps.RejectedSpans() != 0 || ps.ErrorMessage() != "" {
		e.logger.Warn("Partial success response",
			zap.String("tenant", tenant),
			zap.String("message", snippet(ps.ErrorMessage())),
			zap.Int64("dropped_spans", ps.RejectedSpans()))
	}
}
