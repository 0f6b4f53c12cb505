// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver"

import (
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
)

// Config defines the configuration of the Promptetheus receiver.
type Config struct {
	// ServerConfig is the HTTP server of the Session API (endpoint, TLS,
	// CORS, compression, max_request_body_size, auth extension, ...).
	ServerConfig confighttp.ServerConfig `mapstructure:",squash"`

	// WorkspaceID is reported as workspace_id in responses and on spans.
	WorkspaceID string `mapstructure:"workspace_id"`

	// APIKeys are the project API keys agents send as bearer tokens.
	APIKeys []APIKeyConfig `mapstructure:"api_keys"`

	// Console configures the credentials of the console routes (analyze).
	Console ConsoleConfig `mapstructure:"console"`

	// Sessions bounds the state kept per run.
	Sessions SessionsConfig `mapstructure:"sessions"`

	// Mapping controls the spans produced.
	Mapping MappingConfig `mapstructure:"mapping"`

	// MaxEventsPerBatch bounds the events of one request.
	MaxEventsPerBatch int `mapstructure:"max_events_per_batch"`

	// MaxEventsBodySize bounds a JSON request body after decompression, in
	// bytes. max_request_body_size bounds every body, artifacts included.
	MaxEventsBodySize int64 `mapstructure:"max_events_body_size"`

	// Storage is the ID of a storage extension (e.g. file_storage) that keeps
	// run state across restarts. Without it state is in memory only.
	Storage *component.ID `mapstructure:"storage"`

	// Rules is the ID of the agent_rules extension whose rules judge the
	// runs this receiver finalises. Without it the built-in rules judge with
	// their default parameters.
	Rules *component.ID `mapstructure:"rules"`

	// RetryAfter is sent in Retry-After when the pipeline refuses data.
	RetryAfter time.Duration `mapstructure:"retry_after"`

	// Artifacts configures where uploaded artifacts are stored.
	Artifacts ArtifactsConfig `mapstructure:"artifacts"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// APIKeyConfig binds one API key to a project. Give the key itself (dev) or
// its SHA-256 in hex, so the configuration never holds the secret.
type APIKeyConfig struct {
	Project   string              `mapstructure:"project"`
	Key       configopaque.String `mapstructure:"key"`
	KeySHA256 configopaque.String `mapstructure:"key_sha256"`
}

// ConsoleConfig configures console credentials: static tokens (development)
// and JWTs verified with an HS256 secret or RS256 keys from a JWKS.
type ConsoleConfig struct {
	Tokens []configopaque.String `mapstructure:"tokens"`
	JWT    *JWTConfig            `mapstructure:"jwt"`
	// Projects the console may read; empty means every configured project.
	Projects []string `mapstructure:"projects"`
}

// JWTConfig verifies console JWTs.
type JWTConfig struct {
	HS256Secret configopaque.String `mapstructure:"hs256_secret"`
	JWKSURL     string              `mapstructure:"jwks_url"`
	JWKSFile    string              `mapstructure:"jwks_file"`
	Issuer      string              `mapstructure:"issuer"`
	Audience    string              `mapstructure:"audience"`
	// Leeway tolerates clock skew on exp and nbf.
	Leeway time.Duration `mapstructure:"leeway"`
	// JWKSRefresh is how often keys are fetched again from JWKSURL.
	JWKSRefresh time.Duration `mapstructure:"jwks_refresh_interval"`
}

// SessionsConfig bounds run state.
type SessionsConfig struct {
	IdleTimeout     time.Duration `mapstructure:"idle_timeout"`
	Retention       time.Duration `mapstructure:"retention"`
	MaxRuns         int           `mapstructure:"max_traces"`
	MaxEventsPerRun int           `mapstructure:"max_events_per_trace"`
}

// MappingConfig controls the spans produced from events.
type MappingConfig struct {
	// CaptureContent writes message text, tool arguments and results and
	// visible page text on spans. The reference detectors read them.
	CaptureContent bool `mapstructure:"capture_content"`
	// MaxAttributeLength cuts string values, in bytes.
	MaxAttributeLength int `mapstructure:"max_attribute_length"`
	// MaxArrayLength caps arrays and flattened metadata keys.
	MaxArrayLength int `mapstructure:"max_array_length"`
	// Provider sets gen_ai.provider.name instead of inferring it from models.
	Provider string `mapstructure:"provider"`
}

// ArtifactsConfig configures the artifact store: a local directory,
// content-addressed by SHA-256.
type ArtifactsConfig struct {
	// Directory holds the store; each receiver needs its own.
	Directory string `mapstructure:"directory"`
	// MaxSize bounds one artifact, in bytes (413 above it).
	MaxSize int64 `mapstructure:"max_size"`
	// MaxSizePerTrace bounds the artifacts of one run, in bytes.
	MaxSizePerTrace int64 `mapstructure:"max_size_per_trace"`
	// MaxTotalSize bounds the whole store, in bytes across every project
	// (503 with Retry-After above it, until retention frees space).
	MaxTotalSize int64 `mapstructure:"max_total_size"`
	// Retention: artifacts uploaded longer ago are deleted.
	Retention time.Duration `mapstructure:"retention"`
	// ContentTypes are the media types accepted (415 for others).
	ContentTypes []string `mapstructure:"content_types"`
}

var _ component.Config = (*Config)(nil)

var projectIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// Validate checks the receiver configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if len(cfg.APIKeys) == 0 && len(cfg.Console.Tokens) == 0 && cfg.Console.JWT == nil {
		errs = append(errs, errors.New("at least one of api_keys, console.tokens or console.jwt must be set"))
	}
	known := map[string]bool{}
	for i, k := range cfg.APIKeys {
		if !projectIDPattern.MatchString(k.Project) {
			errs = append(errs, fmt.Errorf("api_keys[%d]: project must match %s", i, projectIDPattern))
		}
		known[k.Project] = true
		switch {
		case k.Key == "" && k.KeySHA256 == "":
			errs = append(errs, fmt.Errorf("api_keys[%d]: one of key or key_sha256 is required", i))
		case k.Key != "" && k.KeySHA256 != "":
			errs = append(errs, fmt.Errorf("api_keys[%d]: key and key_sha256 are mutually exclusive", i))
		case k.KeySHA256 != "":
			if b, err := hex.DecodeString(string(k.KeySHA256)); err != nil || len(b) != 32 {
				errs = append(errs, fmt.Errorf("api_keys[%d]: key_sha256 must be 64 hex characters", i))
			}
		}
	}
	for i, t := range cfg.Console.Tokens {
		if len(t) < 8 {
			errs = append(errs, fmt.Errorf("console.tokens[%d]: must be at least 8 characters", i))
		}
	}
	for _, p := range cfg.Console.Projects {
		if !projectIDPattern.MatchString(p) {
			errs = append(errs, fmt.Errorf("console.projects: %q must match %s", p, projectIDPattern))
		}
	}
	if (len(cfg.Console.Tokens) > 0 || cfg.Console.JWT != nil) && len(cfg.Console.Projects) == 0 && len(known) == 0 {
		errs = append(errs, errors.New("console.projects is required when no api_keys name a project"))
	}
	if j := cfg.Console.JWT; j != nil {
		errs = append(errs, j.validate())
	}
	s := cfg.Sessions
	if s.IdleTimeout <= 0 || s.Retention <= 0 {
		errs = append(errs, errors.New("sessions: idle_timeout and retention must be positive"))
	}
	if s.MaxRuns <= 0 || s.MaxEventsPerRun <= 0 {
		errs = append(errs, errors.New("sessions: max_traces and max_events_per_trace must be positive"))
	}
	if cfg.MaxEventsPerBatch <= 0 || cfg.MaxEventsBodySize <= 0 {
		errs = append(errs, errors.New("max_events_per_batch and max_events_body_size must be positive"))
	}
	if cfg.Mapping.MaxAttributeLength < 0 || cfg.Mapping.MaxArrayLength < 0 {
		errs = append(errs, errors.New("mapping: limits must not be negative"))
	}
	a := cfg.Artifacts
	if a.Directory == "" || a.MaxSize <= 0 || a.MaxSizePerTrace < a.MaxSize {
		errs = append(errs, errors.New("artifacts: directory is required, max_size must be positive and max_size_per_trace at least max_size"))
	}
	if a.MaxTotalSize < a.MaxSizePerTrace {
		errs = append(errs, errors.New("artifacts: max_total_size must be at least max_size_per_trace"))
	}
	if a.Retention <= 0 {
		errs = append(errs, errors.New("artifacts: retention must be positive"))
	}
	if a.MaxSize > cfg.ServerConfig.MaxRequestBodySize && cfg.ServerConfig.MaxRequestBodySize > 0 {
		errs = append(errs, errors.New("artifacts.max_size must not exceed max_request_body_size"))
	}
	if cfg.RetryAfter < time.Second {
		errs = append(errs, errors.New("retry_after must be at least 1s"))
	}
	return errors.Join(errs...)
}

func (j *JWTConfig) validate() error {
	sources := 0
	for _, set := range []bool{j.HS256Secret != "", j.JWKSURL != "", j.JWKSFile != ""} {
		if set {
			sources++
		}
	}
	switch {
	case sources != 1:
		return errors.New("console.jwt: exactly one of hs256_secret, jwks_url or jwks_file is required")
	case j.HS256Secret != "" && len(j.HS256Secret) < 32:
		return errors.New("console.jwt: hs256_secret must be at least 32 bytes")
	case j.Audience == "" && j.Issuer == "":
		return errors.New("console.jwt: set audience or issuer (or both) so tokens for other services are refused")
	case j.Leeway < 0 || j.Leeway > 5*time.Minute:
		return errors.New("console.jwt: leeway must be between 0 and 5m")
	}
	return nil
}
