// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter // import "github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter"

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
)

// Config defines the configuration of the tempo exporter.
type Config struct {
	// OTLPHTTP is the configuration of the otlp_http exporter created for
	// each tenant: endpoint, traces_endpoint, the HTTP client (headers, tls,
	// auth, compression, timeout, ...), sending_queue and retry_on_failure.
	// squash keeps its fields at the top level, so a tempo exporter reads as
	// an otlp_http exporter with a tenant section.
	OTLPHTTP otlphttpexporter.Config `mapstructure:",squash"`

	// Tenant controls how spans are assigned to tenants.
	Tenant TenantConfig `mapstructure:"tenant"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// TenantConfig configures the per-tenant exporters.
type TenantConfig struct {
	// ResourceAttribute is the resource attribute holding the tenant.
	ResourceAttribute string `mapstructure:"resource_attribute"`
	// Header is the request header carrying the tenant.
	Header string `mapstructure:"header"`
	// Default is the tenant of resources without a valid tenant attribute.
	// When empty, their spans are refused.
	Default string `mapstructure:"default"`
	// IdleTimeout is how long a tenant's exporter lives without new data
	// once its queue is empty.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// MaxTenants bounds the tenants with a running exporter; spans of
	// further tenants are refused until an idle one is shut down.
	MaxTenants int `mapstructure:"max_tenants"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

// maxTenantLength is Tempo's limit on the length of a tenant ID.
const maxTenantLength = 150

// validTenant reports whether s is a tenant ID Tempo accepts: 1 to 150
// characters among letters, digits and !-_.*'(), and neither "." nor "..".
// The rules also keep the value safe in an HTTP header (no control
// characters, CR or LF) and in the file names derived from it.
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

// reservedHeaders are set by otlp_http or the HTTP transport and cannot
// carry the tenant.
var reservedHeaders = []string{"Content-Type", "Content-Encoding", "Content-Length", "Host", "User-Agent", "Authorization", "Transfer-Encoding"}

// Validate checks the exporter configuration. The otlp_http settings are
// validated by their own Validate methods.
func (cfg *Config) Validate() error {
	var errs []error
	o := &cfg.OTLPHTTP
	if o.ClientConfig.Endpoint == "" && o.TracesEndpoint == "" {
		errs = append(errs, errors.New("endpoint or traces_endpoint must be specified"))
	}
	for _, unused := range []struct{ key, value string }{
		{"metrics_endpoint", o.MetricsEndpoint},
		{"logs_endpoint", o.LogsEndpoint},
		{"profiles_endpoint", o.ProfilesEndpoint},
	} {
		if unused.value != "" {
			errs = append(errs, fmt.Errorf("%s is not used: the tempo exporter exports traces only", unused.key))
		}
	}

	t := cfg.Tenant
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
		errs = append(errs, fmt.Errorf("tenant.default must be 1 to %d characters among letters, digits and !-_.*'() (and not . or ..)", maxTenantLength))
	}
	if t.IdleTimeout <= 0 {
		errs = append(errs, errors.New("tenant.idle_timeout must be positive"))
	}
	if t.MaxTenants <= 0 {
		errs = append(errs, errors.New("tenant.max_tenants must be positive"))
	}
	// A static header of the same name would be sent besides, or instead
	// of, the tenant.
	for name := range o.ClientConfig.Headers.Iter {
		if strings.EqualFold(name, t.Header) {
			errs = append(errs, fmt.Errorf("headers must not set %s: the exporter sets it to each tenant", t.Header))
		}
	}
	return errors.Join(errs...)
}
