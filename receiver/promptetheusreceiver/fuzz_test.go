// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http/httptest"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"go.opentelemetry.io/collector/component"

	"github.com/promptetheus/otelcol-promptetheus/internal/testutil"
)

// FuzzAuthenticate: no Authorization header authenticates unless it carries
// a configured secret or a token the identity provider signed, which the
// fuzzer cannot forge; and no input panics the authenticator or the oidc
// extension behind it.
func FuzzAuthenticate(f *testing.F) {
	idp := testutil.NewOIDCProvider(f)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	claims := idp.Claims(consoleAudience)
	for _, s := range []string{
		"Bearer " + testutil.SignJWT(f, jose.RS256, other, "k1", claims),
		"Bearer " + testutil.SignJWT(f, jose.HS256, []byte("a-secret-that-is-32-bytes-long!!"), "k1", claims),
		"Bearer " + unsignedJWT(claims),
		"Bearer a.b.c", "Bearer ....", "Basic dXNlcjpwdw==", "bearer  " + testKey + " ", "",
	} {
		f.Add(s)
	}
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.APIKeys = []APIKeyConfig{{Project: "proj_dev", Key: testKey}}
	cfg.Console.Authenticator = &oidcID
	a, err := newAuthenticator(cfg, hostWith(map[component.ID]component.Component{
		oidcID: startOIDC(f, idp.Issuer(), consoleAudience, nil),
	}))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("POST", "/api/traces/t1/analyze", nil)
		req.Header.Set("Authorization", header)
		p, err := a.authenticate(req)
		if err == nil && (p.kind != principalAPIKey || bearerToken(req) != testKey) {
			t.Fatalf("authenticated %q as %+v", header, p)
		}
	})
}
