// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// No agent at all: a web shop's `GET /cart`, client and server traced by
// @opentelemetry/instrumentation-http. The processor must pass it through
// untouched.

import { register } from "node:module";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { trace } from "@opentelemetry/api";
import { startTracing } from "./telemetry.mjs";

// As in openai-loop.mjs: the loader hook lets the instrumentation patch
// node:http, imported once both are in place.
register("@opentelemetry/instrumentation/hook.mjs", import.meta.url);
const tracing = startTracing("checkout-web");
registerInstrumentations({ instrumentations: [new HttpInstrumentation()] });
const { default: http } = await import("node:http");

const tracer = trace.getTracer("checkout-web", "1.0.0");
const server = http.createServer((req, res) => {
  if (req.method !== "GET" || req.url !== "/cart") {
    res.writeHead(404).end();
    return;
  }
  const cart = tracer.startActiveSpan("load cart", (span) => {
    span.setAttribute("cart.items", 2);
    span.end();
    return { items: [{ sku: "MUG-01", qty: 1 }, { sku: "TEE-M", qty: 1 }], total: "31.00" };
  });
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(cart));
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));

const status = await new Promise((resolve, reject) => {
  http
    .get({ host: "127.0.0.1", port: server.address().port, path: "/cart" }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    })
    .on("error", reject);
});
server.close();
if (status !== 200) {
  throw new Error(`GET /cart answered ${status}`);
}
await tracing.finish();
