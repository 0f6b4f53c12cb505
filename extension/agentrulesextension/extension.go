// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package agentrulesextension // import "github.com/promptetheus/otelcol-promptetheus/extension/agentrulesextension"

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
)

// agentRules is the extension: it holds the judge that components look up.
type agentRules struct {
	component.StartFunc
	component.ShutdownFunc
	judge *Judge
}

var (
	_ extension.Extension = (*agentRules)(nil)
	_ judgeProvider       = (*agentRules)(nil)
)

func (e *agentRules) Judge() *Judge { return e.judge }
