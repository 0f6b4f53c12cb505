// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// A LangGraph.js ReAct-style agent stuck in a loop: its model asks for the
// same flight search with the same arguments again and again, then gives up.
// Traced by OpenInference's LangChain instrumentation; the model is a
// scripted fake from @langchain/core's testing utilities, so nothing leaves
// the machine but the spans.

import { startTracing } from "./telemetry.mjs";
import { LangChainInstrumentation } from "@arizeai/openinference-instrumentation-langchain";
import * as CallbackManagerModule from "@langchain/core/callbacks/manager";
import { AIMessage, HumanMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { FakeListChatModel } from "@langchain/core/utils/testing";
import { convertToOpenAITool } from "@langchain/core/utils/function_calling";
import { END, MessagesAnnotation, START, StateGraph } from "@langchain/langgraph";
import { ToolNode, toolsCondition } from "@langchain/langgraph/prebuilt";
import { z } from "zod";

const REPEATS = Number(process.env.AGENT_REPEATS ?? 4);

const tracing = startTracing("langgraph-travel-agent");
new LangChainInstrumentation({ tracerProvider: tracing.provider }).manuallyInstrument(CallbackManagerModule);

// ScriptedToolCallingModel plays back its responses in order. A response is
// JSON: {"tool_calls": [...]} or {"content": "..."}. Its messages, usage and
// invocation parameters have the shape ChatOpenAI gives them, so the spans
// carry what they would for a real model.
class ScriptedToolCallingModel extends FakeListChatModel {
  static lc_name() {
    return "ScriptedToolCallingModel";
  }

  _llmType() {
    return "scripted-tool-calling";
  }

  getLsParams(options) {
    return { ...super.getLsParams(options), ls_provider: "openai", ls_model_name: "gpt-4o-mini", ls_temperature: 0 };
  }

  invocationParams(options) {
    return { model: "gpt-4o-mini", temperature: 0, tools: options?.tools };
  }

  bindTools(tools) {
    return this.withConfig({ tools: tools.map((t) => convertToOpenAITool(t)) });
  }

  _formatGeneration(text) {
    const { content = "", tool_calls = [] } = JSON.parse(text);
    const message = new AIMessage({
      content,
      tool_calls,
      additional_kwargs: {
        tool_calls: tool_calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: JSON.stringify(c.args) } })),
      },
      usage_metadata: { input_tokens: 412, output_tokens: 38, total_tokens: 450 },
      response_metadata: { model_name: "gpt-4o-mini-2024-07-18", finish_reason: tool_calls.length ? "tool_calls" : "stop" },
    });
    return { message, text: content };
  }
}

const searchFlights = tool(async () => JSON.stringify({ flights: [], note: "no availability, try again later" }), {
  name: "search_flights",
  description: "Search direct flights between two airports on a date.",
  schema: z.object({ origin: z.string(), destination: z.string(), date: z.string() }),
});

const sameCall = { origin: "SFO", destination: "JFK", date: "2025-03-14" };
const responses = [];
for (let i = 1; i <= REPEATS; i++) {
  responses.push(JSON.stringify({ tool_calls: [{ id: `call_${i}`, name: "search_flights", args: sameCall, type: "tool_call" }] }));
}
responses.push(JSON.stringify({ content: "I could not find a flight from SFO to JFK on 2025-03-14." }));

const model = new ScriptedToolCallingModel({ responses }).bindTools([searchFlights]);

const graph = new StateGraph(MessagesAnnotation)
  .addNode("agent", async (state) => ({ messages: [await model.invoke(state.messages)] }))
  .addNode("tools", new ToolNode([searchFlights]))
  .addEdge(START, "agent")
  .addConditionalEdges("agent", toolsCondition, ["tools", END])
  .addEdge("tools", "agent")
  .compile({ name: "travel_agent" });

const result = await graph.invoke(
  { messages: [new HumanMessage("Book me a direct flight from SFO to JFK on 2025-03-14.")] },
  { configurable: { thread_id: "thread-sfo-jfk" } },
);
await tracing.finish({ messages: result.messages.length });
