// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package promptetheusreceiver

import (
	"context"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.opentelemetry.io/collector/config/configopaque"
)

// FuzzJWTVerify: no token forged without the secret verifies, and no input
// panics the verifier.
func FuzzJWTVerify(f *testing.F) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("another-secret-that-is-32-bytes-long!")}, nil)
	if err != nil {
		f.Fatal(err)
	}
	forged, err := jwt.Signed(signer).Claims(jwt.Claims{Audience: jwt.Audience{"authenticated"}, Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}).Serialize()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{forged, "a.b.c", "eyJhbGciOiJub25lIn0.eyJhdWQiOiJhdXRoZW50aWNhdGVkIn0.", "...."} {
		f.Add(s)
	}
	v, err := newJWTVerifier(&JWTConfig{HS256Secret: configopaque.String(hsSecret), Audience: "authenticated"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		if v.verify(context.Background(), token) == nil {
			t.Fatalf("verified a token not signed with the secret: %q", token)
		}
	})
}
