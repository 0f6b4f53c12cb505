// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
)

const hsSecret = "0123456789abcdef0123456789abcdef-test-secret"

func signHS(t *testing.T, secret string, claims jwt.Claims) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, nil)
	require.NoError(t, err)
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	require.NoError(t, err)
	return tok
}

func signRS(t *testing.T, key *rsa.PrivateKey, kid string, claims jwt.Claims) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	require.NoError(t, err)
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	require.NoError(t, err)
	return tok
}

func validClaims() jwt.Claims {
	now := time.Now()
	return jwt.Claims{
		Subject: "user_1", Issuer: "https://auth.example", Audience: jwt.Audience{"authenticated"},
		Expiry: jwt.NewNumericDate(now.Add(time.Hour)), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)),
	}
}

// unsignedToken forges an "alg: none" token.
func unsignedToken(claims jwt.Claims) string {
	enc := base64.RawURLEncoding
	body, _ := json.Marshal(claims)
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(body) + "."
}

func TestConsoleJWTMatrixHS256(t *testing.T) {
	cfg := testReceiverConfig(t)
	cfg.Console.Tokens = nil
	cfg.Console.JWT = &JWTConfig{HS256Secret: configopaque.String(hsSecret), Audience: "authenticated", Issuer: "https://auth.example"}
	s := startReceiver(t, cfg, nil)
	require.Equal(t, 201, s.post(t, "/api/traces", testKey, `{"id":"t1","agent":"a","user_goal":"g"}`).status)

	mutate := func(f func(*jwt.Claims)) jwt.Claims {
		c := validClaims()
		f(&c)
		return c
	}
	cases := []struct {
		name   string
		token  string
		status int
		detail string
	}{
		{"valid", signHS(t, hsSecret, validClaims()), 200, ""},
		{"expired", signHS(t, hsSecret, mutate(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Hour)) })), 401, "missing or invalid credential: JWT has expired"},
		{"not yet valid", signHS(t, hsSecret, mutate(func(c *jwt.Claims) { c.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour)) })), 401, "missing or invalid credential: JWT is not valid yet"},
		{"wrong audience", signHS(t, hsSecret, mutate(func(c *jwt.Claims) { c.Audience = jwt.Audience{"anon"} })), 401, "missing or invalid credential: JWT audience is not accepted"},
		{"wrong issuer", signHS(t, hsSecret, mutate(func(c *jwt.Claims) { c.Issuer = "https://evil.example" })), 401, "missing or invalid credential: JWT issuer is not accepted"},
		{"no expiry", signHS(t, hsSecret, mutate(func(c *jwt.Claims) { c.Expiry = nil })), 401, "missing or invalid credential: JWT has no exp"},
		{"wrong signature", signHS(t, hsSecret+"x", validClaims()), 401, "missing or invalid credential: JWT signature is invalid"},
		{"alg none", unsignedToken(validClaims()), 401, "missing or invalid credential: JWT is malformed or uses an unsupported algorithm"},
		{"malformed", "a.b.c", 401, "missing or invalid credential: JWT is malformed or uses an unsupported algorithm"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.post(t, "/api/traces/t1/analyze", c.token, "")
			assert.Equal(t, c.status, r.status, string(r.body))
			if c.detail != "" {
				assert.Equal(t, c.detail, r.json(t)["detail"])
			}
			assert.NotContains(t, string(r.body), hsSecret)
		})
	}
}

func TestConsoleJWTWithJWKS(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}}
	body, err := json.Marshal(set)
	require.NoError(t, err)

	var fetches atomic.Int32
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		_, _ = w.Write(body)
	}))
	defer jwks.Close()
	file := filepath.Join(t.TempDir(), "jwks.json")
	require.NoError(t, os.WriteFile(file, body, 0o600))

	for name, jwtCfg := range map[string]*JWTConfig{
		"url":  {JWKSURL: jwks.URL, Audience: "authenticated"},
		"file": {JWKSFile: file, Audience: "authenticated"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testReceiverConfig(t)
			cfg.Console.Tokens = nil
			cfg.Console.JWT = jwtCfg
			s := startReceiver(t, cfg, nil)
			require.Equal(t, 201, s.post(t, "/api/traces", testKey, `{"id":"t1","agent":"a","user_goal":"g"}`).status)

			r := s.post(t, "/api/traces/t1/analyze", signRS(t, key, "k1", validClaims()), "")
			assert.Equal(t, 200, r.status, string(r.body))
			r = s.post(t, "/api/traces/t1/analyze", signRS(t, other, "k1", validClaims()), "")
			assert.Equal(t, 401, r.status)
			assert.Equal(t, "missing or invalid credential: JWT signature is invalid", r.json(t)["detail"])
			r = s.post(t, "/api/traces/t1/analyze", signRS(t, key, "unknown", validClaims()), "")
			assert.Equal(t, 401, r.status)
			assert.Equal(t, "missing or invalid credential: JWT signing key is unknown", r.json(t)["detail"])
			// HS256 signed with the public key must not pass (algorithm confusion).
			pub := strings.TrimSpace(string(body))
			r = s.post(t, "/api/traces/t1/analyze", signHS(t, pub, validClaims()), "")
			assert.Equal(t, 401, r.status)
		})
	}
	assert.LessOrEqual(t, fetches.Load(), int32(2), "unknown key ids do not make us refetch on every request")
}
