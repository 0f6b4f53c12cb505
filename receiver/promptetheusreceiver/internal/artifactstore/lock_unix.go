// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package artifactstore // import "github.com/promptetheus/otelcol-promptetheus/receiver/promptetheusreceiver/internal/artifactstore"

import (
	"errors"
	"os"
	"syscall"
)

// lockDirectory takes an exclusive lock on path, so two stores (two
// receivers, two collectors) never share a directory: each would delete the
// other's files being written at start-up and count the budget alone.
func lockDirectory(path string) (func() error, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.New("in use by another artifact store")
		}
		return nil, err
	}
	return f.Close, nil // closing the file releases the lock
}
