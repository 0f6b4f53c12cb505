// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter // import "github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter"

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// tenantPart is the part of a batch that goes to one tenant.
type tenantPart struct {
	tenant string
	td     ptrace.Traces
	spans  int
}

// splitByTenant groups the resource spans of td by tenant, in order of first
// appearance, and counts the spans of resources without a tenant.
//
// td is never modified: other consumers of a fanout may read it. When all of
// it goes to one tenant it is that tenant's part as is; otherwise each part
// is a copy of its resource spans, which costs no more than the clone a
// fanout would make for an exporter that mutates data.
func splitByTenant(td ptrace.Traces, tenantOf func(pcommon.Resource) string) (parts []tenantPart, noTenantSpans int) {
	rss := td.ResourceSpans()
	tenants := make([]string, rss.Len())
	spans := make([]int, rss.Len())
	index := map[string]int{}
	tenantless := 0 // resources, with or without spans
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			spans[i] += rs.ScopeSpans().At(j).Spans().Len()
		}
		tenants[i] = tenantOf(rs.Resource())
		if tenants[i] == "" {
			tenantless++
			noTenantSpans += spans[i]
			continue
		}
		if _, ok := index[tenants[i]]; !ok {
			index[tenants[i]] = len(parts)
			parts = append(parts, tenantPart{tenant: tenants[i]})
		}
		parts[index[tenants[i]]].spans += spans[i]
	}
	if len(parts) == 1 && tenantless == 0 {
		parts[0].td = td
		return parts, 0
	}
	for i := range parts {
		parts[i].td = ptrace.NewTraces()
	}
	for i := 0; i < rss.Len(); i++ {
		if tenants[i] == "" {
			continue
		}
		rss.At(i).CopyTo(parts[index[tenants[i]]].td.ResourceSpans().AppendEmpty())
	}
	return parts, noTenantSpans
}

// tenantOf returns the tenant of a resource: its tenant attribute (a string
// or an int) when that is a valid tenant ID, else the default tenant, which
// may be empty (no tenant).
func tenantOf(attribute, fallback string) func(pcommon.Resource) string {
	return func(res pcommon.Resource) string {
		if v, ok := res.Attributes().Get(attribute); ok {
			var s string
			switch v.Type() {
			case pcommon.ValueTypeStr:
				s = v.Str()
			case pcommon.ValueTypeInt:
				s = strconv.FormatInt(v.Int(), 10)
			}
			if validTenant(s) {
				return s
			}
		}
		return fallback
	}
}
