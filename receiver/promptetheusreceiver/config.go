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

// ConsoleConfig configures the credentials of console callers: an auth
// extension (e.g. oidc, for JWTs signed by an identity provider) and static
// tokens for development.
type ConsoleConfig struct {
	// Authenticator is the ID of a server auth extension (e.g. oidc) that
	// authenticates console callers from the request headers. It is asked
	// only about credentials that are not a static token or API key.
	Authenticator *component.ID `mapstructure:"authenticator"`
	// Tokens are static console tokens, for development.
	Tokens []configopaque.String `mapstructure:"tokens"`
	// Projects the console may read; empty means every configured project.
	Projects []string `mapstructure:"projects"`
}

// SessionsConfig bounds run state.
type SessionsConfig struct {
	IdleTimeout     time.Duration `mapstructure:"idle_timeout"`
	Retention       time.Duration `mapstructure:"retention"`
	MaxRuns         int           `mapstructure:"max_traces"`
	MaxEventsPerRun int           `mapstructure:"max_events_per_trace"`
	// MaxBytesPerRun bounds the state one run holds in memory (dedup keys,
	// seqs, pending halves, steps); events past it are refused.
	MaxBytesPerRun int64 `mapstructure:"max_bytes_per_trace"`
	// MaxBytes bounds the state of all runs; past it new runs are refused
	// with 503 until finalised runs leave.
	MaxBytes int64 `mapstructure:"max_bytes"`
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
	console := len(cfg.Console.Tokens) > 0 || cfg.Console.Authenticator != nil
	if len(cfg.APIKeys) == 0 && !console {
		errs = append(errs, errors.New("at least one of api_keys, console.tokens or console.authenticator must be set"))
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
	if console && len(cfg.Console.Projects) == 0 && len(known) == 0 {
		errs = append(errs, errors.New("console.projects is required when no api_keys name a project"))
	}
	s := cfg.Sessions
	if s.IdleTimeout <= 0 || s.Retention <= 0 {
		errs = append(errs, errors.New("sessions: idle_timeout and retention must be positive"))
	}
	if s.MaxRuns <= 0 || s.MaxEventsPerRun <= 0 {
		errs = append(errs, errors.New("sessions: max_traces and max_events_per_trace must be positive"))
	}
	if s.MaxBytesPerRun <= 0 || s.MaxBytes < s.MaxBytesPerRun {
		errs = append(errs, errors.New("sessions: max_bytes_per_trace must be positive and max_bytes at least max_bytes_per_trace"))
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
