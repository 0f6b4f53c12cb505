// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func names(td ptrace.Traces) []string {
	var out []string
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		for j := 0; j < rss.At(i).ScopeSpans().Len(); j++ {
			spans := rss.At(i).ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				out = append(out, spans.At(k).Name())
			}
		}
	}
	return out
}

func TestSplitByTenant(t *testing.T) {
	byProject := tenantOf(projectAttr, "")

	t.Run("one tenant passes the batch itself", func(t *testing.T) {
		td := traces("s", 2, "proj_a", "proj_a")
		td.MarkReadOnly()
		parts, noTenant := splitByTenant(td, byProject)
		require.Len(t, parts, 1)
		assert.Zero(t, noTenant)
		assert.Equal(t, "proj_a", parts[0].tenant)
		assert.Equal(t, 4, parts[0].spans)
		assert.True(t, parts[0].td == td, "no copy for a single tenant")
	})

	t.Run("several tenants get copies in order of appearance", func(t *testing.T) {
		td := traces("s", 1, "proj_b", "proj_a", "proj_b", "")
		before, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		td.MarkReadOnly() // any write to it panics
		parts, noTenant := splitByTenant(td, byProject)
		require.Len(t, parts, 2)
		assert.Equal(t, 1, noTenant)
		assert.Equal(t, "proj_b", parts[0].tenant)
		assert.Equal(t, []string{"proj_b/s0", "proj_b/s0"}, names(parts[0].td))
		assert.Equal(t, 2, parts[0].spans)
		assert.Equal(t, "proj_a", parts[1].tenant)
		assert.Equal(t, []string{"proj_a/s0"}, names(parts[1].td))
		after, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		assert.Equal(t, before, after, "input unchanged")
		assert.False(t, parts[0].td.IsReadOnly(), "parts are the exporter's own copies")
	})

	t.Run("a resource without spans and tenant is left out", func(t *testing.T) {
		td := traces("s", 1, "proj_a")
		td.ResourceSpans().AppendEmpty()
		parts, noTenant := splitByTenant(td, byProject)
		require.Len(t, parts, 1)
		assert.Zero(t, noTenant)
		assert.Equal(t, 1, parts[0].td.ResourceSpans().Len())
	})

	t.Run("no tenant at all", func(t *testing.T) {
		parts, noTenant := splitByTenant(traces("s", 3, ""), byProject)
		assert.Empty(t, parts)
		assert.Equal(t, 3, noTenant)
	})

	t.Run("empty batch", func(t *testing.T) {
		parts, noTenant := splitByTenant(ptrace.NewTraces(), byProject)
		assert.Empty(t, parts)
		assert.Zero(t, noTenant)
	})
}

func TestTenantOf(t *testing.T) {
	withDefault := tenantOf(projectAttr, "shared")
	res := func(set func(m pcommon.Map)) pcommon.Resource {
		r := pcommon.NewResource()
		set(r.Attributes())
		return r
	}
	for _, c := range []struct {
		name string
		set  func(m pcommon.Map)
		want string
	}{
		{"string", func(m pcommon.Map) { m.PutStr(projectAttr, "proj_a") }, "proj_a"},
		{"int", func(m pcommon.Map) { m.PutInt(projectAttr, 42) }, "42"},
		{"missing", func(pcommon.Map) {}, "shared"},
		{"header injection", func(m pcommon.Map) { m.PutStr(projectAttr, "a\r\nX-Evil: 1") }, "shared"},
		{"cross-tenant query syntax", func(m pcommon.Map) { m.PutStr(projectAttr, "a|b") }, "shared"},
		{"path", func(m pcommon.Map) { m.PutStr(projectAttr, "..") }, "shared"},
		{"bool", func(m pcommon.Map) { m.PutBool(projectAttr, true) }, "shared"},
	} {
		assert.Equal(t, c.want, withDefault(res(c.set)), c.name)
	}
	assert.Empty(t, tenantOf(projectAttr, "")(res(func(pcommon.Map) {})), "no default: no tenant")
}
