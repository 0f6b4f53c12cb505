// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidJSONAgreesWithEncodingJSON(t *testing.T) {
	// encoding/json refuses more than 10000 nested arrays and objects.
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	inputs := []string{
		``, ` `, `{}`, `[]`, ` {"a" : [1, 2.5e-3, -0, true, false, null, "x"]} `,
		`{"a":1,}`, `[1,]`, `[,1]`, `{"a"}`, `{"a":}`, `{1:2}`, `{"a":1 "b":2}`, `[1 2]`,
		`01`, `-`, `-01`, `1.`, `.5`, `1e`, `1e+`, `1E-7`, `+1`, `0x10`, `NaN`, `Infinity`, `1.0e+308`,
		`tru`, `truex`, `nul`, `[true false]`, `"abc`, `"a\"b"`, `"\u00e9\uD83D\uDE00"`, `"\u12"`, `"\u12G4"`,
		`"\x"`, `"\/\b\f\n\r\t\\"`, "\"a\tb\"", "\"a\x00b\"", "\"\xff\xfe\"", `"\`, `{"a":1}{"b":2}`, `[1] x`,
		"\t\n\r [1]\r\n", "\u00a0[1]", "\ufeff[1]", `{"a":[{"b":[{"c":{}}]}]}`, `{"a":1,"a":2}`, "{\"\xff\":\"\xfe\"}",
		deep(10000), deep(10001), `{"a":` + deep(10000) + `}`,
	}
	for _, in := range inputs {
		if got, want := validJSON([]byte(in)), json.Valid([]byte(in)); got != want {
			t.Errorf("validJSON(%.40q) = %v, json.Valid says %v", in, got, want)
		}
	}
}
