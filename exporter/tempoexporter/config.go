// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter // import "github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter"

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// Config defines the configuration of the tempo exporter.
type Config struct {
	// ClientConfig is the HTTP client (endpoint, headers, tls, compression,
	// timeout, auth, ...). squash keeps its fields at the top level, as in
	// the otlp_http exporter.
	ClientConfig confighttp.ClientConfig                                  `mapstructure:",squash"`
	QueueConfig  configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	RetryConfig  configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`

	// TracesEndpoint is the URL traces are sent to. When empty,
	// endpoint + "/v1/traces" is used.
	TracesEndpoint string `mapstructure:"traces_endpoint"`

	// Tenant controls how each batch is split by tenant and which header
	// carries the tenant.
	Tenant TenantConfig `mapstructure:"tenant"`

	// MaxAttributeLength cuts string attribute values longer than this many
	// bytes, at a UTF-8 boundary. 0 disables the limit.
	MaxAttributeLength int `mapstructure:"max_attribute_length"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// TenantConfig configures the per-tenant split.
type TenantConfig struct {
	// Enabled splits batches by tenant and sends the tenant header. When
	// false the exporter is a plain OTLP/HTTP exporter: one request per
	// push, no tenant header.
	Enabled bool `mapstructure:"enabled"`
	// ResourceAttribute is the resource attribute holding the tenant.
	ResourceAttribute string `mapstructure:"resource_attribute"`
	// Header is the request header carrying the tenant.
	Header string `mapstructure:"header"`
	// Default is the tenant of resources without a valid tenant attribute.
	// When empty, their spans are dropped and counted.
	Default string `mapstructure:"default"`
}

var _ component.Config = (*Config)(nil)

// maxTenantLength is Tempo's (dskit's) limit on a tenant ID.
const maxTenantLength = 150

// validTenant reports whether s is a tenant ID Tempo accepts: 1 to 150
// characters among letters, digits and !-_.*'() and neither "." nor "..".
// The rules keep the value safe in an HTTP header (no control characters,
// CR or LF) and in the paths Tempo derives from it.
func validTenant(s string) bool {
	if s == "" || len(s) > maxTenantLength || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!-_.*'()", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderName reports whether s is an HTTP token (RFC 9110 5.6.2).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// reservedHeaders are set by the exporter or the HTTP transport and cannot
// carry the tenant.
var reservedHeaders = []string{"Content-Type", "Content-Encoding", "Content-Length", "Host", "User-Agent", "Authorization", "Retry-After", "Transfer-Encoding"}

// Validate checks the exporter configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.ClientConfig.Endpoint == "" && cfg.TracesEndpoint == "" {
		errs = append(errs, errors.New("endpoint or traces_endpoint must be specified"))
	} else if _, err := tracesURL(cfg); err != nil {
		errs = append(errs, err)
	}
	if cfg.MaxAttributeLength < 0 {
		errs = append(errs, errors.New("max_attribute_length must not be negative (0 disables the limit)"))
	}
	if t := cfg.Tenant; t.Enabled {
		if t.ResourceAttribute == "" {
			errs = append(errs, errors.New("tenant.resource_attribute must not be empty"))
		}
		if !validHeaderName(t.Header) {
			errs = append(errs, fmt.Errorf("tenant.header %q is not a valid HTTP header name", t.Header))
		}
		for _, h := range reservedHeaders {
			if strings.EqualFold(t.Header, h) {
				errs = append(errs, fmt.Errorf("tenant.header must not be %s", h))
			}
		}
		if t.Default != "" && !validTenant(t.Default) {
			errs = append(errs, fmt.Errorf("tenant.default must be at most %d characters among letters, digits and !-_.*'() (and not . or ..)", maxTenantLength))
		}
		// confighttp sets static headers on every request after the
		// exporter, so a static tenant header would overwrite every tenant.
		for name := range cfg.ClientConfig.Headers.Iter {
			if strings.EqualFold(name, t.Header) {
				errs = append(errs, fmt.Errorf("headers must not set %s while tenant.enabled is true: it would override the per-tenant value", t.Header))
			}
		}
	}
	return errors.Join(errs...)
}

// tracesURL is traces_endpoint, or endpoint + "/v1/traces".
func tracesURL(cfg *Config) (*url.URL, error) {
	raw, key := cfg.TracesEndpoint, "traces_endpoint"
	if raw == "" {
		raw, key = strings.TrimSuffix(cfg.ClientConfig.Endpoint, "/")+"/v1/traces", "endpoint"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s must be a valid URL", key)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s must be an http:// or https:// URL with a host", key)
	}
	return u, nil
}

// redactedURL drops userinfo, query and fragment: what may end up in logs.
func redactedURL(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return r.String()
}
