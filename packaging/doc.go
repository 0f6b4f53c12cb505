// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package packaging holds the tests of how this repository is packaged: its
// Go modules and their versions (versions.yaml), the Collector Builder lines
// that name them, and the code owners of its components.
package packaging
