// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	maxJWTLength      = 16 << 10
	maxJWKSSize       = 1 << 20
	jwksFetchTimeout  = 10 * time.Second
	jwksMissCooldown  = 30 * time.Second
	defaultJWKSRefesh = time.Hour
)

// jwtVerifier checks console JWTs: signature (HS256 with a shared secret, or
// RS256 with keys from a JWKS), exp (required), nbf, iss and aud. go-jose
// refuses any algorithm not listed, "none" included.
type jwtVerifier struct {
	cfg      *JWTConfig
	expected jwt.Expected
	client   *http.Client
	now      func() time.Time

	mu        sync.Mutex
	keys      jose.JSONWebKeySet
	fetchedAt time.Time
}

func newJWTVerifier(cfg *JWTConfig) (*jwtVerifier, error) {
	v := &jwtVerifier{
		cfg:      cfg,
		expected: jwt.Expected{Issuer: cfg.Issuer},
		client:   &http.Client{Timeout: jwksFetchTimeout},
		now:      time.Now,
	}
	if cfg.Audience != "" {
		v.expected.AnyAudience = jwt.Audience{cfg.Audience}
	}
	if cfg.JWKSFile != "" {
		body, err := os.ReadFile(cfg.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("console.jwt: reading jwks_file: %w", err)
		}
		if err := json.Unmarshal(body, &v.keys); err != nil {
			return nil, fmt.Errorf("console.jwt: jwks_file is not a JWK set: %w", err)
		}
	}
	return v, nil
}

func (v *jwtVerifier) algorithms() []jose.SignatureAlgorithm {
	if v.cfg.HS256Secret != "" {
		return []jose.SignatureAlgorithm{jose.HS256}
	}
	return []jose.SignatureAlgorithm{jose.RS256}
}

// verify returns nil for a valid token; its errors are safe to show.
func (v *jwtVerifier) verify(ctx context.Context, token string) error {
	if len(token) > maxJWTLength {
		return errors.New("JWT is too long")
	}
	tok, err := jwt.ParseSigned(token, v.algorithms())
	if err != nil {
		return errors.New("JWT is malformed or uses an unsupported algorithm")
	}
	key, err := v.key(ctx, tok)
	if err != nil {
		return err
	}
	var claims jwt.Claims
	if err := tok.Claims(key, &claims); err != nil {
		return errors.New("JWT signature is invalid")
	}
	if claims.Expiry == nil {
		return errors.New("JWT has no exp")
	}
	if err := claims.ValidateWithLeeway(v.expected.WithTime(v.now()), v.cfg.Leeway); err != nil {
		switch {
		case errors.Is(err, jwt.ErrExpired):
			return errors.New("JWT has expired")
		case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
			return errors.New("JWT is not valid yet")
		case errors.Is(err, jwt.ErrInvalidAudience):
			return errors.New("JWT audience is not accepted")
		case errors.Is(err, jwt.ErrInvalidIssuer):
			return errors.New("JWT issuer is not accepted")
		}
		return errors.New("JWT was rejected")
	}
	return nil
}

// key returns the verification key for tok.
func (v *jwtVerifier) key(ctx context.Context, tok *jwt.JSONWebToken) (any, error) {
	if v.cfg.HS256Secret != "" {
		return []byte(v.cfg.HS256Secret), nil
	}
	kid := ""
	if len(tok.Headers) > 0 {
		kid = tok.Headers[0].KeyID
	}
	if k, ok := v.lookup(kid); ok {
		return k, nil
	}
	if v.cfg.JWKSURL != "" && v.refresh(ctx, true) == nil {
		if k, ok := v.lookup(kid); ok {
			return k, nil
		}
	}
	return nil, errors.New("JWT signing key is unknown")
}

func (v *jwtVerifier) lookup(kid string) (any, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cfg.JWKSURL != "" && v.now().Sub(v.fetchedAt) > v.refreshInterval() {
		return nil, false
	}
	var candidates []jose.JSONWebKey
	if kid != "" {
		candidates = v.keys.Key(kid)
	} else if len(v.keys.Keys) == 1 {
		candidates = v.keys.Keys
	}
	for _, k := range candidates {
		if k.Use == "" || k.Use == "sig" {
			return k.Public().Key, true
		}
	}
	return nil, false
}

func (v *jwtVerifier) refreshInterval() time.Duration {
	if v.cfg.JWKSRefresh > 0 {
		return v.cfg.JWKSRefresh
	}
	return defaultJWKSRefesh
}

// refresh fetches the JWKS again. onMiss limits fetches caused by unknown
// key ids, so forged tokens cannot make us hammer the identity provider.
func (v *jwtVerifier) refresh(ctx context.Context, onMiss bool) error {
	v.mu.Lock()
	if onMiss && v.now().Sub(v.fetchedAt) < jwksMissCooldown {
		v.mu.Unlock()
		return errors.New("jwks fetched recently")
	}
	v.fetchedAt = v.now()
	v.mu.Unlock()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, http.NoBody)
	if err != nil {
		return err
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("jwks_url answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize))
	if err != nil {
		return err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return err
	}
	v.mu.Lock()
	v.keys = set
	v.mu.Unlock()
	return nil
}
