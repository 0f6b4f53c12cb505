// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentmetricsconnector // import "github.com/promptetheus/otelcol-promptetheus/connector/agentmetricsconnector"

// recentSpans remembers the last spans measured, a fixed number of them
// (24 bytes each plus the set's overhead), oldest forgotten first. A batch
// that a consumer after the fan-out refused is sent again by the receiver
// or the client; its spans, identical and with the same ids, must not
// count twice.
type recentSpans struct {
	ring []spanKey
	next int
	set  map[spanKey]struct{}
}

func newRecentSpans(size int) *recentSpans {
	return &recentSpans{ring: make([]spanKey, 0, size), set: make(map[spanKey]struct{}, size)}
}

// add reports whether k is new, remembering it.
func (r *recentSpans) add(k spanKey) bool {
	if _, seen := r.set[k]; seen {
		return false
	}
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, k)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = k
		r.next = (r.next + 1) % len(r.ring)
	}
	r.set[k] = struct{}{}
	return true
}
