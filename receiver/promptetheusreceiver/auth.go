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

// authenticator resolves bearer tokens: console tokens and JWTs first, then
// project API keys, as the reference does. Secrets are held only as SHA-256
// digests and compared in constant time.
type authenticator struct {
	workspace       string
	apiKeys         []apiKey
	consoleTokens   [][sha256.Size]byte
	consoleProjects []string
	jwt             *jwtVerifier
}

type apiKey struct {
	digest  [sha256.Size]byte
	project string
}

func newAuthenticator(cfg *Config, jwt *jwtVerifier) *authenticator {
	a := &authenticator{jwt: jwt, workspace: cfg.WorkspaceID}
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
	return a
}

// bearerToken extracts the token of an "Authorization: Bearer" header; like
// the reference, a bare token without the scheme is accepted too.
func bearerToken(r *http.Request) (string, bool) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if scheme, token, found := strings.Cut(h, " "); found && strings.EqualFold(scheme, "Bearer") {
		h = strings.TrimSpace(token)
	}
	return h, h != ""
}

// authenticate returns the caller of r, or an error for a 401.
func (a *authenticator) authenticate(r *http.Request) (principal, error) {
	token, ok := bearerToken(r)
	if !ok {
		return principal{}, errInvalidCredentials
	}
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
	case project != "":
		return principal{kind: principalAPIKey, projects: []string{project}}, nil
	case console == 1:
	case a.jwt != nil && looksLikeJWT(token):
		if err := a.jwt.verify(r.Context(), token); err != nil {
			return principal{}, fmt.Errorf("%w: %w", errInvalidCredentials, err)
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

func looksLikeJWT(token string) bool { return strings.Count(token, ".") == 2 }
