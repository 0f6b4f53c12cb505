// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/promptetheus/otelcol-promptetheus/client"
)

// An agent run: create it, send its events, ask for the verdict.
func Example() {
	ctx := context.Background()
	agent := client.New("http://127.0.0.1:4318", "pt_dev_key")
	if _, err := agent.CreateTrace(ctx, client.CreateTraceRequest{
		ID: "trace_go_1", Agent: "browser-agent", UserGoal: "Book Tuesday at 2pm, stop at confirmation",
	}); err != nil {
		log.Fatal(err)
	}
	run := client.NewSession("trace_go_1")
	if _, err := agent.AppendEvents(ctx, run.ID, []client.Event{
		run.Event("user_message", map[string]any{"content": "Book Tuesday at 2pm"}),
		run.Event("llm_call", map[string]any{"model": "gpt-5", "input_tokens": 240, "output_tokens": 80, "latency_ms": 1260}),
		run.Event("goal_check", map[string]any{"passed": false, "mismatches": []string{"Selected 2:00 AM instead of 2:00 PM"}}),
	}); err != nil {
		log.Fatal(err)
	}
	verdict, err := client.New("http://127.0.0.1:4318", "pt_console_token").Analyze(ctx, run.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(verdict.Labels, verdict.OTLPTraceID)
}
