// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package testutil // import "github.com/promptetheus/otelcol-promptetheus/internal/testutil"

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
)

// OIDCProvider is an OpenID Connect identity provider on loopback: it serves
// a discovery document and a JWKS, and signs RS256 tokens with its current
// key. Rotate adds a key; Stop takes the provider down.
type OIDCProvider struct {
	server *httptest.Server

	mu   sync.Mutex
	keys []jose.JSONWebKey // private keys, the current one last

	discoveries atomic.Int64
	jwksFetches atomic.Int64
}

// NewOIDCProvider starts a provider with one key; it stops at cleanup.
func NewOIDCProvider(t testing.TB) *OIDCProvider {
	t.Helper()
	p := &OIDCProvider{}
	p.Rotate(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		p.discoveries.Add(1)
		writeJSON(w, map[string]any{
			"issuer":                                p.Issuer(),
			"jwks_uri":                              p.Issuer() + "/jwks",
			"authorization_endpoint":                p.Issuer() + "/authorize",
			"token_endpoint":                        p.Issuer() + "/token",
			"response_types_supported":              []string{"code"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		p.jwksFetches.Add(1)
		p.mu.Lock()
		set := jose.JSONWebKeySet{}
		for _, k := range p.keys {
			set.Keys = append(set.Keys, k.Public())
		}
		p.mu.Unlock()
		writeJSON(w, set)
	})
	p.server = httptest.NewServer(mux)
	t.Cleanup(p.server.Close)
	return p
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Issuer is the provider's issuer URL, also the base of its discovery URL.
func (p *OIDCProvider) Issuer() string { return p.server.URL }

// Rotate adds a new signing key; tokens are signed with it from now on and
// the JWKS serves it next to the previous ones.
func (p *OIDCProvider) Rotate(t testing.TB) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	p.mu.Lock()
	defer p.mu.Unlock()
	kid := "k" + strconv.Itoa(len(p.keys)+1)
	p.keys = append(p.keys, jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"})
}

// Stop takes the provider down: its discovery and JWKS URLs refuse
// connections from now on.
func (p *OIDCProvider) Stop() { p.server.Close() }

// JWKSFetches counts the requests for the JWKS so far.
func (p *OIDCProvider) JWKSFetches() int64 { return p.jwksFetches.Load() }

// Discoveries counts the requests for the discovery document so far.
func (p *OIDCProvider) Discoveries() int64 { return p.discoveries.Load() }

// Claims are valid claims for audience from this provider, for an hour.
func (p *OIDCProvider) Claims(audience string) jwt.Claims {
	now := time.Now()
	return jwt.Claims{
		Issuer: p.Issuer(), Subject: "user_1", Audience: jwt.Audience{audience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		Expiry: jwt.NewNumericDate(now.Add(time.Hour)),
	}
}

// Sign signs claims with the provider's current key.
func (p *OIDCProvider) Sign(t testing.TB, claims any) string {
	t.Helper()
	p.mu.Lock()
	k := p.keys[len(p.keys)-1]
	p.mu.Unlock()
	return SignJWT(t, jose.RS256, k.Key, k.KeyID, claims)
}

// SignJWT signs claims with key, naming kid in the header when not empty.
func SignJWT(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts.WithType("JWT"))
	require.NoError(t, err)
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	require.NoError(t, err)
	return token
}
