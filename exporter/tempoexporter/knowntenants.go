// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package tempoexporter // import "github.com/promptetheus/otelcol-promptetheus/exporter/tempoexporter"

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// knownTenantsKey is the storage key of the known tenants.
const knownTenantsKey = "tenants"

// knownTenants is the set of tenants whose persistent queue may hold data:
// a tenant is added before its exporter is first given data and removed
// once its exporter was shut down with an empty queue. It lives in the
// storage extension of the persistent queues, so that after a restart the
// exporters of these tenants are created again and drain their queues.
type knownTenants struct {
	client storage.Client

	mu  sync.Mutex
	set map[string]struct{}
}

// loadKnownTenants reads the set. Entries that are not valid tenant IDs (a
// corrupt or foreign value) are returned apart, to be logged and dropped.
func loadKnownTenants(ctx context.Context, client storage.Client) (*knownTenants, []string, error) {
	k := &knownTenants{client: client, set: map[string]struct{}{}}
	raw, err := client.Get(ctx, knownTenantsKey)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to read the known tenants: %w", err)
	}
	if raw == nil {
		return k, nil, nil
	}
	var ids []string
	if err := json.Unmarshal(raw, &ids); err != nil {
		return k, []string{string(raw)}, nil
	}
	var invalid []string
	for _, id := range ids {
		if validTenant(id) {
			k.set[id] = struct{}{}
		} else {
			invalid = append(invalid, id)
		}
	}
	return k, invalid, nil
}

// list returns the tenants in order.
func (k *knownTenants) list() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	ids := make([]string, 0, len(k.set))
	for id := range k.set {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// add stores tenant in the set and reports whether it was new.
func (k *knownTenants) add(ctx context.Context, tenant string) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.set[tenant]; ok {
		return false, nil
	}
	k.set[tenant] = struct{}{}
	if err := k.store(ctx); err != nil {
		delete(k.set, tenant)
		return false, err
	}
	return true, nil
}

// remove drops tenant from the set.
func (k *knownTenants) remove(ctx context.Context, tenant string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.set[tenant]; !ok {
		return nil
	}
	delete(k.set, tenant)
	return k.store(ctx)
}

// store writes the whole set; the caller holds k.mu. The set is bounded by
// tenant.max_tenants, so at most a few kilobytes.
func (k *knownTenants) store(ctx context.Context) error {
	ids := make([]string, 0, len(k.set))
	for id := range k.set {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	raw, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	if err := k.client.Set(ctx, knownTenantsKey, raw); err != nil {
		return fmt.Errorf("failed to store the known tenants: %w", err)
	}
	return nil
}
