// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusprocessor

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	"github.com/promptetheus/otelcol-promptetheus/extension/agentrulesextension"
	"github.com/promptetheus/otelcol-promptetheus/internal/conventions"
	"github.com/promptetheus/otelcol-promptetheus/internal/rules"
)

// otlpSink is a loopback OTLP/HTTP backend that keeps what it receives.
type otlpSink struct {
	*httptest.Server
	mu    sync.Mutex
	spans []ptrace.Span
}

func newOTLPSink(t *testing.T) *otlpSink {
	s := &otlpSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		req := ptraceotlp.NewExportRequest()
		if err == nil {
			err = req.UnmarshalProto(body)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		td := req.Traces()
		s.mu.Lock()
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			for j := 0; j < td.ResourceSpans().At(i).ScopeSpans().Len(); j++ {
				spans := td.ResourceSpans().At(i).ScopeSpans().At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					kept := ptrace.NewSpan()
					spans.At(k).CopyTo(kept)
					s.spans = append(s.spans, kept)
				}
			}
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := ptraceotlp.NewExportResponse().MarshalProto()
		_, _ = w.Write(out)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *otlpSink) received() []ptrace.Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ptrace.Span(nil), s.spans...)
}

func freeLoopback(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// TestCollectorPipelines runs the processor in a real collector: in two
// pipelines fed by one receiver, one of them behind a batch processor,
// with the rules of one agent_rules extension. Each pipeline's output holds
// one verdict per agent trace and the web trace as it was sent.
func TestCollectorPipelines(t *testing.T) {
	direct, batched := newOTLPSink(t), newOTLPSink(t)
	otlpAddr := freeLoopback(t)
	cfg := fmt.Sprintf(`
extensions:
  agent_rules:
    error_severity: medium
receivers:
  otlp:
    protocols:
      http:
        endpoint: %s
processors:
  batch:
    timeout: 200ms
  promptetheus:
    rules: agent_rules
    decision_wait: 300ms
exporters:
  otlp_http/direct:
    endpoint: %s
    compression: none
    sending_queue:
      enabled: false
  otlp_http/batched:
    endpoint: %s
    compression: none
    sending_queue:
      enabled: false
service:
  extensions: [agent_rules]
  telemetry:
    metrics:
      level: none
  pipelines:
    traces/direct:
      receivers: [otlp]
      processors: [promptetheus]
      exporters: [otlp_http/direct]
    traces/batched:
      receivers: [otlp]
      processors: [batch, promptetheus]
      exporters: [otlp_http/batched]
`, otlpAddr, direct.URL, batched.URL)
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))

	col, err := otelcol.NewCollector(otelcol.CollectorSettings{
		BuildInfo: component.NewDefaultBuildInfo(),
		Factories: func() (otelcol.Factories, error) {
			var f otelcol.Factories
			var err error
			f.Telemetry = otelconftelemetry.NewFactory()
			if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory()); err != nil {
				return f, err
			}
			if f.Processors, err = otelcol.MakeFactoryMap[processor.Factory](NewFactory(), batchprocessor.NewFactory()); err != nil {
				return f, err
			}
			if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](otlphttpexporter.NewFactory()); err != nil {
				return f, err
			}
			f.Extensions, err = otelcol.MakeFactoryMap[extension.Factory](agentrulesextension.NewFactory())
			return f, err
		},
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			URIs:              []string{"file:" + path},
			ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
		}},
	})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- col.Run(context.Background()) }()
	require.Eventually(t, func() bool { return col.GetState() == otelcol.StateRunning }, 10*time.Second, 20*time.Millisecond)

	children, roots := agentTrace()
	web := webTrace()
	for _, td := range []ptrace.Traces{children, web, roots} {
		body, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		resp, err := http.Post("http://"+otlpAddr+"/v1/traces", "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}

	sent := children.SpanCount() + web.SpanCount() + roots.SpanCount()
	for name, sink := range map[string]*otlpSink{"direct": direct, "batched": batched} {
		t.Run(name, func(t *testing.T) {
			var spans []ptrace.Span
			require.Eventually(t, func() bool {
				spans = sink.received()
				for _, s := range spans {
					if _, ok := s.Attributes().Get(conventions.AttrFindingCount); ok {
						return true
					}
				}
				return false
			}, 10*time.Second, 50*time.Millisecond, "the verdict arrives after decision_wait")
			time.Sleep(500 * time.Millisecond) // nothing else may follow
			spans = sink.received()

			type key struct {
				trace pcommon.TraceID
				span  pcommon.SpanID
			}
			byID := map[key]ptrace.Span{}
			verdicts, loops, others := 0, 0, 0
			for _, s := range spans {
				k := key{s.TraceID(), s.SpanID()}
				_, dup := byID[k]
				assert.False(t, dup, "span %s received twice", s.SpanID())
				byID[k] = s
				if _, ok := s.Attributes().Get(conventions.AttrFindingCount); ok {
					verdicts++
				}
				rule, isFinding := s.Attributes().Get(conventions.AttrFindingRuleID)
				switch {
				case isFinding && rule.Str() == rules.RuleLoop:
					loops++
				case !isFinding:
					others++
				}
			}
			assert.Equal(t, 1, verdicts, "one verdict per agent trace")
			assert.Equal(t, 1, loops)
			assert.Equal(t, sent, others, "every span sent arrives once")
			agent := byID[key{pcommon.TraceID{0xbb, 1}, pcommon.SpanID{2}}]
			errType, _ := agent.Attributes().Get(conventions.AttrErrorType)
			assert.Equal(t, rules.RuleLoop, errType.Str(), "the extension's error_severity: medium applies")

			webSpans := web.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
			for i := 0; i < webSpans.Len(); i++ {
				got, ok := byID[key{webSpans.At(i).TraceID(), webSpans.At(i).SpanID()}]
				require.True(t, ok)
				assert.NoError(t, ptracetest.CompareSpan(webSpans.At(i), got), "the web trace is untouched")
			}
		})
	}
	col.Shutdown()
	require.NoError(t, <-done)
}
