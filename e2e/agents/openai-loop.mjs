// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// An agent written against the official openai client, stuck in a loop: the
// model keeps asking for the same order lookup with the same arguments. The
// client is traced by @opentelemetry/instrumentation-openai (`chat` spans);
// the agent itself follows the GenAI semantic conventions by hand: one
// `invoke_agent` span around the run and one `execute_tool` span per tool
// call. The Chat Completions API is a fake on loopback, started here.

import { register } from "node:module";
import http from "node:http";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { OpenAIInstrumentation } from "@opentelemetry/instrumentation-openai";
import { startTracing } from "./telemetry.mjs";

// openai is an ES module here: import-in-the-middle's loader hook lets the
// instrumentation patch it, so it is imported only after both are in place.
register("@opentelemetry/instrumentation/hook.mjs", import.meta.url);
const tracing = startTracing("support-agent");
registerInstrumentations({ instrumentations: [new OpenAIInstrumentation()] });
const { default: OpenAI } = await import("openai");

const REPEATS = Number(process.env.AGENT_REPEATS ?? 4);
const MODEL = "gpt-4o-mini";
const AGENT_NAME = "support_agent";
const TOOL = {
  type: "function",
  function: {
    name: "lookup_order",
    description: "Look up an order's shipping status by its id.",
    parameters: {
      type: "object",
      properties: { order_id: { type: "string" } },
      required: ["order_id"],
      additionalProperties: false,
    },
  },
};
const SAME_ARGUMENTS = JSON.stringify({ order_id: "A-1042" });

const api = await startFakeChatCompletions();
const client = new OpenAI({ apiKey: "sk-loopback", baseURL: `${api.url}/v1`, maxRetries: 0 });
const tracer = trace.getTracer("support-agent", "1.0.0");

await tracer.startActiveSpan(
  `invoke_agent ${AGENT_NAME}`,
  {
    kind: SpanKind.INTERNAL,
    attributes: {
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.provider.name": "openai",
      "gen_ai.agent.name": AGENT_NAME,
      "gen_ai.agent.id": "asst_support_1",
      "gen_ai.conversation.id": "conv_a1042",
      "gen_ai.request.model": MODEL,
    },
  },
  async (agentSpan) => {
    try {
      await runAgent("Where is my order A-1042?");
    } catch (err) {
      agentSpan.recordException(err);
      agentSpan.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
      agentSpan.setAttribute("error.type", err.constructor.name);
      throw err;
    } finally {
      agentSpan.end();
    }
  },
);
api.close();
await tracing.finish();

// runAgent is the usual tool-calling loop: ask the model, run the tools it
// asks for, hand back their results, until it answers in text.
async function runAgent(question) {
  const messages = [
    { role: "system", content: "You are a support agent. Use tools to answer." },
    { role: "user", content: question },
  ];
  for (let turn = 0; turn < 10; turn++) {
    const completion = await client.chat.completions.create({ model: MODEL, messages, tools: [TOOL] });
    const message = completion.choices[0].message;
    messages.push(message);
    if (!message.tool_calls?.length) {
      return message.content;
    }
    for (const call of message.tool_calls) {
      messages.push({ role: "tool", tool_call_id: call.id, content: executeTool(call) });
    }
  }
  throw new Error("agent did not answer in 10 turns");
}

function executeTool(call) {
  return tracer.startActiveSpan(
    `execute_tool ${call.function.name}`,
    {
      kind: SpanKind.INTERNAL,
      attributes: {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": call.function.name,
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.id": call.id,
        "gen_ai.tool.call.arguments": call.function.arguments,
      },
    },
    (span) => {
      const result = JSON.stringify({ order_id: JSON.parse(call.function.arguments).order_id, status: "unknown", retry: true });
      span.setAttribute("gen_ai.tool.call.result", result);
      span.end();
      return result;
    },
  );
}

// startFakeChatCompletions serves POST /v1/chat/completions on loopback. It
// answers the same lookup_order call until the conversation holds REPEATS
// tool results, then a text answer; usage grows with the conversation as a
// real model's does.
function startFakeChatCompletions() {
  let completions = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}`, type: "invalid_request_error" } }));
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      const toolResults = body.messages.filter((m) => m.role === "tool").length;
      completions++;
      const message =
        toolResults < REPEATS
          ? {
              role: "assistant",
              content: null,
              refusal: null,
              tool_calls: [
                { id: `call_${String(completions).padStart(3, "0")}`, type: "function", function: { name: "lookup_order", arguments: SAME_ARGUMENTS } },
              ],
            }
          : { role: "assistant", content: "I could not find the status of order A-1042; please contact the carrier.", refusal: null };
      const promptTokens = 80 + 25 * body.messages.length;
      const completionTokens = message.tool_calls ? 18 : 21;
      res.writeHead(200, { "content-type": "application/json", "x-request-id": `req_${completions}` });
      res.end(
        JSON.stringify({
          id: `chatcmpl-loopback${completions}`,
          object: "chat.completion",
          created: 1741900000 + completions,
          model: "gpt-4o-mini-2024-07-18",
          choices: [{ index: 0, message, logprobs: null, finish_reason: message.tool_calls ? "tool_calls" : "stop" }],
          usage: {
            prompt_tokens: promptTokens,
            completion_tokens: completionTokens,
            total_tokens: promptTokens + completionTokens,
            prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
            completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
          },
          service_tier: "default",
          system_fingerprint: "fp_loopback",
        }),
      );
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() });
    });
  });
}
