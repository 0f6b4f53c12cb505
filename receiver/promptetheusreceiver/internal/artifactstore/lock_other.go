// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package artifactstore // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/artifactstore"

// lockDirectory does not lock on this platform: the configuration must give
// each receiver its own directory.
func lockDirectory(string) (func() error, error) {
	return func() error { return nil }, nil
}
