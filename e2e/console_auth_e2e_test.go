// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptetheus/otelcol-promptetheus/internal/testutil"
)

// oidcCollector is the distribution with console credentials from contrib's
// oidc extension for issuer only.
func oidcCollectorOptions(issuer string) collectorOptions {
	return collectorOptions{
		exporters:      map[string]string{"nop": ""},
		extensionsYAML: fmt.Sprintf("oidc:\n  providers:\n    - issuer_url: %s\n      audience: authenticated\n", issuer),
		extensions:     []string{"oidc"},
		console:        "authenticator: oidc\nprojects: [proj_acmemeet]",
	}
}

// postConsole posts body with a bearer token and returns the status and body.
func postConsole(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	status, _, b := call(t, http.MethodPost, url, token, nil, strings.NewReader(body))
	return status, string(b)
}

// TestE2EConsoleJWTThroughOIDC: the distribution's oidc extension, named by
// console.authenticator, admits console JWTs of a loopback identity
// provider, keeps admitting them while the provider is down, and the 401/403
// matrix of the contract holds around it.
func TestE2EConsoleJWTThroughOIDC(t *testing.T) {
	idp := testutil.NewOIDCProvider(t)
	c := startCollector(t, oidcCollectorOptions(idp.Issuer()))
	base := "http://" + c.api
	create := `{"id":"%s","agent":"booking-agent","user_goal":"Book a room"}`
	status, body := postConsole(t, base+"/api/traces", "pt_dev_key", fmt.Sprintf(create, "run_mine"))
	require.Equal(t, 201, status, body)
	status, body = postConsole(t, base+"/api/traces", "pt_other_key", fmt.Sprintf(create, "run_theirs"))
	require.Equal(t, 201, status, body)

	token := func(f func(*jwt.Claims)) string {
		claims := idp.Claims("authenticated")
		f(&claims)
		return idp.Sign(t, claims)
	}
	valid := token(func(*jwt.Claims) {})
	status, body = postConsole(t, base+"/api/traces/run_mine/analyze", valid, "")
	require.Equal(t, 200, status, body)
	assert.Contains(t, body, `"analysis"`)

	status, body = postConsole(t, base+"/api/traces/run_mine/analyze", "pt_dev_key", "")
	assert.Equal(t, 403, status, "an API key on a console route: %s", body)
	status, body = postConsole(t, base+"/api/traces/run_theirs/analyze", valid, "")
	assert.Equal(t, 403, status, "a console JWT on another project's run: %s", body)
	for name, bad := range map[string]string{
		"wrong audience": token(func(c *jwt.Claims) { c.Audience = jwt.Audience{"anon"} }),
		"wrong issuer":   token(func(c *jwt.Claims) { c.Issuer = "https://evil.example" }),
		"expired":        token(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Minute)) }),
		"unsigned":       strings.Join(strings.Split(valid, ".")[:2], ".") + ".",
	} {
		status, body = postConsole(t, base+"/api/traces/run_mine/analyze", bad, "")
		assert.Equal(t, 401, status, "%s: %s", name, body)
		assert.JSONEq(t, `{"detail":"missing or invalid credential"}`, body, name)
	}

	// The identity provider goes down: the keys the extension holds stay in
	// use; a key it has not seen yet cannot be fetched.
	idp.Stop()
	time.Sleep(2 * time.Second)
	status, body = postConsole(t, base+"/api/traces/run_mine/analyze", token(func(*jwt.Claims) {}), "")
	assert.Equal(t, 200, status, "a fresh console JWT while the provider is down: %s", body)
	idp.Rotate(t)
	status, _ = postConsole(t, base+"/api/traces/run_mine/analyze", token(func(*jwt.Claims) {}), "")
	assert.Equal(t, 401, status, "a key not seen before, with the provider down")
	status, body = postConsole(t, base+"/api/traces/run_mine/analyze", valid, "")
	assert.Equal(t, 200, status, "known keys survive the failed fetch: %s", body)

	log, err := os.ReadFile(c.log)
	require.NoError(t, err)
	assert.Contains(t, string(log), "Authentication failed", "the extension logs refusals")
	assert.NotContains(t, string(log), valid, "no token in the log")
}

// TestE2EConsoleOIDCProviderDownAtStart: the oidc extension reads the
// provider's discovery document in Start, so the distribution does not start
// while the provider is unreachable, and says why.
func TestE2EConsoleOIDCProviderDownAtStart(t *testing.T) {
	idp := testutil.NewOIDCProvider(t)
	idp.Stop()
	c := newCollector(t, oidcCollectorOptions(idp.Issuer()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, collectorBinary(t), "--config", c.config).CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the collector must exit by itself: %s", tail(string(out), 4000))
	assert.NotEqual(t, 0, exit.ExitCode())
	assert.Contains(t, string(out), "failed to get configuration from at least one configured auth server")
	assert.Contains(t, string(out), idp.Issuer())
}
