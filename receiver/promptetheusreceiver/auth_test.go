// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/oidcauthextension"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"

	"github.com/promptetheus/otelcol-promptetheus/internal/testutil"
	"github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/metadata"
)

const consoleAudience = "authenticated"

var oidcID = component.MustNewID("oidc")

// extensionHost is a host holding started extensions.
type extensionHost struct {
	component.Host
	extensions map[component.ID]component.Component
}

func (h extensionHost) GetExtensions() map[component.ID]component.Component { return h.extensions }

func hostWith(extensions map[component.ID]component.Component) component.Host {
	return extensionHost{Host: componenttest.NewNopHost(), extensions: extensions}
}

// startOIDC creates contrib's oidc extension through its factory for the
// issuer and audience, and starts it; it shuts down at cleanup.
func startOIDC(t testing.TB, issuer, audience string, logger *zap.Logger) extension.Extension {
	t.Helper()
	f := oidcauthextension.NewFactory()
	cfg := f.CreateDefaultConfig().(*oidcauthextension.Config)
	cfg.Providers = []oidcauthextension.ProviderCfg{{IssuerURL: issuer, Audience: audience}}
	require.NoError(t, cfg.Validate())
	set := extensiontest.NewNopSettings(f.Type())
	if logger != nil {
		set.Logger = logger
	}
	ext, err := f.Create(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return ext
}

// oidcConsoleConfig is the test configuration with console credentials from
// the oidc extension only.
func oidcConsoleConfig(t *testing.T) *Config {
	cfg := testReceiverConfig(t)
	cfg.Console.Tokens = nil
	cfg.Console.Authenticator = &oidcID
	return cfg
}

// unsignedJWT forges an "alg: none" token.
func unsignedJWT(claims jwt.Claims) string {
	enc := base64.RawURLEncoding
	body, _ := json.Marshal(claims)
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(body) + "."
}

func TestConsoleJWTThroughOIDCExtension(t *testing.T) {
	idp := testutil.NewOIDCProvider(t)
	host := hostWith(map[component.ID]component.Component{oidcID: startOIDC(t, idp.Issuer(), consoleAudience, nil)})
	s := startReceiverOn(t, host, oidcConsoleConfig(t), nil)
	require.Equal(t, 201, s.post(t, "/api/traces", testKey, `{"id":"t1","agent":"a","user_goal":"g"}`).status)
	require.Equal(t, 201, s.post(t, "/api/traces", otherKey, `{"id":"t2","agent":"a","user_goal":"g"}`).status)

	valid := idp.Sign(t, idp.Claims(consoleAudience))
	r := s.post(t, "/api/traces/t1/analyze", valid, "")
	assert.Equal(t, 200, r.status, string(r.body))
	r = s.do(t, http.MethodGet, "/api/traces/t1/events", valid, nil)
	assert.Equal(t, 200, r.status, string(r.body))
	r = s.post(t, "/api/traces", valid, `{"id":"t3","agent":"a","user_goal":"g"}`, headerProjectID, "proj_dev")
	assert.Equal(t, 201, r.status, "a console credential may create runs too: %s", r.body)

	// 403: the wrong kind of credential for the route, or another project's run.
	r = s.post(t, "/api/traces/t1/analyze", testKey, "")
	assert.Equal(t, 403, r.status)
	assert.Equal(t, "principal is not allowed for this endpoint", r.json(t)["detail"])
	r = s.post(t, "/api/traces/t2/analyze", valid, "")
	assert.Equal(t, 403, r.status)
	assert.Equal(t, "trace belongs to another project", r.json(t)["detail"])

	mutate := func(f func(*jwt.Claims)) jwt.Claims {
		c := idp.Claims(consoleAudience)
		f(&c)
		return c
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	public, err := json.Marshal(jose.JSONWebKey{Key: &other.PublicKey})
	require.NoError(t, err)
	cases := map[string]string{
		"wrong audience": idp.Sign(t, mutate(func(c *jwt.Claims) { c.Audience = jwt.Audience{"anon"} })),
		"wrong issuer":   idp.Sign(t, mutate(func(c *jwt.Claims) { c.Issuer = "https://evil.example" })),
		"expired":        idp.Sign(t, mutate(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Hour)) })),
		"no expiry":      idp.Sign(t, mutate(func(c *jwt.Claims) { c.Expiry = nil })),
		"not yet valid":  idp.Sign(t, mutate(func(c *jwt.Claims) { c.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour)) })),
		"unsigned":       unsignedJWT(idp.Claims(consoleAudience)),
		"other key":      testutil.SignJWT(t, jose.RS256, other, "k1", idp.Claims(consoleAudience)),
		"unknown kid":    testutil.SignJWT(t, jose.RS256, other, "forged", idp.Claims(consoleAudience)),
		// Algorithm confusion: HS256 keyed with a public key.
		"hs256":     testutil.SignJWT(t, jose.HS256, public, "k1", idp.Claims(consoleAudience)),
		"malformed": "a.b.c",
	}
	for name, token := range cases {
		t.Run(name, func(t *testing.T) {
			r := s.post(t, "/api/traces/t1/analyze", token, "")
			assert.Equal(t, 401, r.status, string(r.body))
			assert.Equal(t, "missing or invalid credential", r.json(t)["detail"])
			assert.Equal(t, `Bearer realm="promptetheus"`, r.header.Get("WWW-Authenticate"))
		})
	}

	r = s.do(t, http.MethodPost, "/api/traces/t1/analyze", "", nil)
	assert.Equal(t, 401, r.status, "no credential")
	r = s.post(t, "/api/traces/t1/analyze", valid, "", headerWorkspaceID, "ws_other")
	assert.Equal(t, 401, r.status, "a console JWT asked for another workspace")
	// The oidc extension reads "<scheme> <token>" only: unlike API keys, a
	// bare JWT is refused.
	r = s.do(t, http.MethodPost, "/api/traces/t1/analyze", "", nil, "Authorization", valid)
	assert.Equal(t, 401, r.status)
}

// TestConsoleJWTThroughIdPOutage: the oidc extension keeps the keys it
// fetched (go-oidc's remote key set has no expiry and keeps its keys when a
// fetch fails), so console users stay signed in while the identity provider
// is down; only tokens signed by keys it has not seen yet wait for it.
func TestConsoleJWTThroughIdPOutage(t *testing.T) {
	idp := testutil.NewOIDCProvider(t)
	host := hostWith(map[component.ID]component.Component{oidcID: startOIDC(t, idp.Issuer(), consoleAudience, nil)})
	assert.Equal(t, int64(1), idp.Discoveries(), "discovery happens at start-up")
	assert.Zero(t, idp.JWKSFetches(), "keys are fetched at the first token")
	s := startReceiverOn(t, host, oidcConsoleConfig(t), nil)
	require.Equal(t, 201, s.post(t, "/api/traces", testKey, `{"id":"t1","agent":"a","user_goal":"g"}`).status)

	first := idp.Sign(t, idp.Claims(consoleAudience))
	require.Equal(t, 200, s.post(t, "/api/traces/t1/analyze", first, "").status)
	require.Equal(t, int64(1), idp.JWKSFetches())
	idp.Rotate(t)
	rotated := idp.Sign(t, idp.Claims(consoleAudience))
	require.Equal(t, 200, s.post(t, "/api/traces/t1/analyze", rotated, "").status, "a new key id makes the extension fetch the keys again")
	require.Equal(t, int64(2), idp.JWKSFetches())

	idp.Stop()
	// go-oidc has no refresh interval: nothing expires while we wait.
	time.Sleep(1500 * time.Millisecond)
	assert.Equal(t, 200, s.post(t, "/api/traces/t1/analyze", idp.Sign(t, idp.Claims(consoleAudience)), "").status)
	assert.Equal(t, 200, s.post(t, "/api/traces/t1/analyze", first, "").status, "older keys are kept too")

	idp.Rotate(t)
	unseen := idp.Sign(t, idp.Claims(consoleAudience))
	assert.Equal(t, 401, s.post(t, "/api/traces/t1/analyze", unseen, "").status, "a key the extension has not seen needs the provider")
	assert.Equal(t, 200, s.post(t, "/api/traces/t1/analyze", rotated, "").status, "a failed fetch keeps the known keys")
	assert.Equal(t, int64(2), idp.JWKSFetches(), "the provider was down for the last fetch")
}

func TestConsoleAuthenticatorLookup(t *testing.T) {
	start := func(t *testing.T, host component.Host, cfg *Config) error {
		r, err := NewFactory().CreateTraces(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, nil)
		require.NoError(t, err)
		err = r.Start(context.Background(), host)
		require.NoError(t, r.Shutdown(context.Background()))
		return err
	}
	t.Run("missing", func(t *testing.T) {
		err := start(t, componenttest.NewNopHost(), oidcConsoleConfig(t))
		assert.EqualError(t, err, `console.authenticator: extension "oidc" not found; add it to service.extensions`)
	})
	t.Run("not an authenticator", func(t *testing.T) {
		f := extensiontest.NewNopFactory()
		nop, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), f.CreateDefaultConfig())
		require.NoError(t, err)
		err = start(t, hostWith(map[component.ID]component.Component{oidcID: nop}), oidcConsoleConfig(t))
		assert.EqualError(t, err, `console.authenticator: extension "oidc" is not a server authenticator`)
	})

	// Any server authenticator works, e.g. bearertokenauth's static tokens.
	t.Run("bearertokenauth", func(t *testing.T) {
		f := bearertokenauthextension.NewFactory()
		bcfg := f.CreateDefaultConfig().(*bearertokenauthextension.Config)
		bcfg.Tokens = []configopaque.String{"console-token-of-the-extension"}
		ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), bcfg)
		require.NoError(t, err)
		require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
		t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
		id := component.MustNewID("bearertokenauth")
		cfg := oidcConsoleConfig(t)
		cfg.Console.Authenticator = &id
		s := startReceiverOn(t, hostWith(map[component.ID]component.Component{id: ext}), cfg, nil)
		require.Equal(t, 201, s.post(t, "/api/traces", testKey, `{"id":"t1","agent":"a","user_goal":"g"}`).status)
		assert.Equal(t, 200, s.post(t, "/api/traces/t1/analyze", "console-token-of-the-extension", "").status)
		assert.Equal(t, 401, s.post(t, "/api/traces/t1/analyze", "console-token-of-the-extensio", "").status)
		assert.Equal(t, 403, s.post(t, "/api/traces/t1/analyze", testKey, "").status, "API keys never reach the extension")
	})
}

// BenchmarkAuthenticate: what each kind of credential costs a request; the
// API key is the baseline (every ingest request pays it).
func BenchmarkAuthenticate(b *testing.B) {
	idp := testutil.NewOIDCProvider(b)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.APIKeys = []APIKeyConfig{{Project: "proj_dev", Key: testKey}, {Project: "proj_other", Key: otherKey}}
	cfg.Console.Tokens = []configopaque.String{testConsole}
	cfg.Console.Authenticator = &oidcID
	a, err := newAuthenticator(cfg, hostWith(map[component.ID]component.Component{
		oidcID: startOIDC(b, idp.Issuer(), consoleAudience, nil),
	}))
	require.NoError(b, err)
	for name, token := range map[string]string{
		"api_key":       testKey,
		"console_token": testConsole,
		"oidc_jwt":      idp.Sign(b, idp.Claims(consoleAudience)),
	} {
		b.Run(name, func(b *testing.B) {
			req, err := http.NewRequest(http.MethodPost, "/api/traces/t1/analyze", http.NoBody)
			require.NoError(b, err)
			req.Header.Set("Authorization", "Bearer "+token)
			for b.Loop() {
				if _, err := a.authenticate(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
