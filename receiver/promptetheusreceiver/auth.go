// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver"

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensionauth"
)

// principalKind says what kind of credential authenticated a request.
type principalKind int

const (
	principalAPIKey principalKind = iota + 1
	principalConsole
)

// principal is an authenticated caller. Projects lists the projects it may
// touch; an API key has exactly one.
type principal struct {
	kind     principalKind
	projects []string
}

func (p principal) may(project string) bool { return slices.Contains(p.projects, project) }

// errInvalidCredentials answers 401 for a missing or unknown credential, in
// the reference's words.
var errInvalidCredentials = errors.New("missing or invalid credential")

// headerWorkspaceID narrows a console credential to one workspace.
const headerWorkspaceID = "X-Promptetheus-Workspace-Id"

// authenticator resolves credentials: static console tokens and project API
// keys, then the auth extension named by console.authenticator (e.g. oidc
// for JWTs of an identity provider). Static secrets are held only as SHA-256
// digests and compared in constant time. A token is of one kind only, so
// comparing the static secrets first gives the reference's answer while
// sparing the extension (and the identity provider) the API-key traffic.
type authenticator struct {
	workspace       string
	apiKeys         []apiKey
	consoleTokens   [][sha256.Size]byte
	consoleProjects []string
	console         extensionauth.Server // nil without console.authenticator
}

type apiKey struct {
	digest  [sha256.Size]byte
	project string
}

// newAuthenticator builds the authenticator of cfg, finding the console
// auth extension among the host's extensions.
func newAuthenticator(cfg *Config, host component.Host) (*authenticator, error) {
	a := &authenticator{workspace: cfg.WorkspaceID}
	if id := cfg.Console.Authenticator; id != nil {
		ext, ok := host.GetExtensions()[*id]
		if !ok {
			return nil, fmt.Errorf("console.authenticator: extension %q not found; add it to service.extensions", id)
		}
		if a.console, ok = ext.(extensionauth.Server); !ok {
			return nil, fmt.Errorf("console.authenticator: extension %q is not a server authenticator", id)
		}
	}
	projects := map[string]bool{}
	for _, k := range cfg.APIKeys {
		var d [sha256.Size]byte
		if k.KeySHA256 != "" {
			b, _ := hex.DecodeString(string(k.KeySHA256)) // checked by Validate
			copy(d[:], b)
		} else {
			d = sha256.Sum256([]byte(k.Key))
		}
		a.apiKeys = append(a.apiKeys, apiKey{digest: d, project: k.Project})
		if !projects[k.Project] {
			projects[k.Project] = true
			a.consoleProjects = append(a.consoleProjects, k.Project)
		}
	}
	if len(cfg.Console.Projects) > 0 {
		a.consoleProjects = slices.Clone(cfg.Console.Projects)
	}
	for _, t := range cfg.Console.Tokens {
		a.consoleTokens = append(a.consoleTokens, sha256.Sum256([]byte(t)))
	}
	return a, nil
}

// bearerToken extracts the token of an "Authorization: Bearer" header; like
// the reference, a bare token without the scheme is accepted too.
func bearerToken(r *http.Request) string {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if scheme, token, found := strings.Cut(h, " "); found && strings.EqualFold(scheme, "Bearer") {
		h = strings.TrimSpace(token)
	}
	return h
}

// authenticate returns the caller of r, or an error for a 401.
func (a *authenticator) authenticate(r *http.Request) (principal, error) {
	token := bearerToken(r)
	digest := sha256.Sum256([]byte(token))
	// Every stored digest is compared, whatever matches, so the time taken
	// does not tell which credential (or how many) exist.
	console := 0
	for i := range a.consoleTokens {
		console |= subtle.ConstantTimeCompare(digest[:], a.consoleTokens[i][:])
	}
	project := ""
	for i := range a.apiKeys {
		if subtle.ConstantTimeCompare(digest[:], a.apiKeys[i].digest[:]) == 1 {
			project = a.apiKeys[i].project
		}
	}
	switch {
	case token != "" && project != "":
		return principal{kind: principalAPIKey, projects: []string{project}}, nil
	case token != "" && console == 1:
	case a.console != nil:
		// The extension reads the headers it is configured for; it logs
		// why it refused, and its reasons stay out of the response.
		if _, err := a.console.Authenticate(r.Context(), r.Header); err != nil {
			return principal{}, errInvalidCredentials
		}
	default:
		return principal{}, errInvalidCredentials
	}
	// A console credential asked for another workspace is no credential
	// there (the reference answers 401, not 403).
	if ws := cmp.Or(r.Header.Get(headerWorkspaceID), r.URL.Query().Get("workspace_id")); ws != "" && ws != a.workspace {
		return principal{}, errInvalidCredentials
	}
	return principal{kind: principalConsole, projects: a.consoleProjects}, nil
}
