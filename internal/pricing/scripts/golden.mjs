// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Prints the prices the installed @pydantic/genai-prices computes with its own
// calcPrice for a set of (provider, model, tokens, time) cases: the golden
// table internal/pricing tests its Go lookup against. Run by `make prices`.
import { calcPrice, waitForUpdate } from '@pydantic/genai-prices';

const providers = await waitForUpdate();
const noon = '2026-06-15T12:00:00.000Z';
const cases = [];
const add = (provider, model, input, output, at = noon) => cases.push({ provider, model, input, output, at });

// Every model of every provider, by its id, with the provider named, at
// token counts past the usual 200k tier boundary; then once more below it.
for (const p of providers) {
  for (const m of p.models) {
    add(p.id, m.id, 250000, 1500);
  }
}
// Every model of a provider that can be found from the model name alone.
for (const p of providers.filter((p) => p.model_match)) {
  for (const m of p.models) {
    add('', m.id, 1200, 340);
  }
}
// Tiers: below, at (tiers apply strictly above their start) and above.
for (const p of providers) {
  for (const m of p.models) {
    const prices = Array.isArray(m.prices) ? m.prices.map((c) => c.prices) : [m.prices];
    const starts = new Set();
    for (const pr of prices) {
      for (const v of Object.values(pr)) {
        if (v && typeof v === 'object') v.tiers.forEach((t) => starts.add(t.start));
      }
    }
    for (const s of starts) {
      add(p.id, m.id, s - 1, 10);
      add(p.id, m.id, s, 10);
      add(p.id, m.id, s + 1, 10);
    }
  }
}
// Time-dependent prices: around each start date, and through the day for
// time-of-day prices (windows that wrap midnight included).
for (const p of providers) {
  for (const m of p.models.filter((m) => Array.isArray(m.prices))) {
    for (const c of m.prices) {
      const k = c.constraint;
      if (k?.type === 'start_date') {
        const start = new Date(`${k.start_date}T00:00:00Z`).getTime();
        add(p.id, m.id, 5000, 700, new Date(start - 1).toISOString());
        add(p.id, m.id, 5000, 700, new Date(start).toISOString());
      }
    }
    for (const t of ['00:00:00', '00:29:59', '00:30:00', '01:00:00', '03:59:59.999', '04:00:00', '06:00:00', '09:59:59', '10:00:00', '16:29:59.500', '16:30:00', '23:59:59.999']) {
      add(p.id, m.id, 5000, 700, `2026-09-01T${t}Z`);
    }
  }
}
// Names as clients send them: case, spaces, compact dates, provider aliases.
const named = [
  ['openai', 'GPT-4o'], [' OpenAI ', '  gpt-4o-mini  '], ['openai', 'gpt-4o-2024-08-06'], ['openai', 'gpt-4o-20240806'],
  ['anthropic', 'claude-sonnet-4-20250514'], ['anthropic', 'claude-3-5-sonnet-20241022'], ['anthropic', 'claude-3-5-sonnet-20240231'],
  ['', 'claude-sonnet-4-5'], ['', 'gpt-5'], ['', 'gpt-5-mini'], ['', 'o3'], ['', 'o4-mini'], ['', 'gemini-2.5-pro'], ['', 'gemini-2.5-flash'],
  ['', 'mistral-large-latest'], ['', 'openai/gpt-4o'], ['', 'grok-4'], ['', 'deepseek-chat'], ['', 'command-r-plus'], ['', 'unknown-model'],
  ['google', 'gemini-2.5-pro'], ['google', 'claude-sonnet-4@20250514'], ['vertex', 'gemini-2.5-flash'], ['gemini', 'gemini-2.0-flash'],
  ['azure', 'gpt-4o'], ['azure', 'gpt-4.1-mini'], ['aws', 'anthropic.claude-3-5-sonnet-20240620-v1:0'], ['bedrock', 'amazon.nova-pro-v1:0'],
  ['xai', 'grok-3'], ['mistralai', 'mistral-small-latest'], ['together_ai', 'meta-llama/Llama-3.3-70B-Instruct-Turbo'],
  ['litellm', 'openai/gpt-4o'], ['litellm', 'anthropic/claude-3-haiku-20240307'], ['litellm', 'gpt-4o'], ['nope', 'gpt-4o'], ['openai', 'nope'],
  ['openrouter', 'openai/gpt-4o'], ['groq', 'llama-3.3-70b-versatile'], ['deepseek', 'deepseek-reasoner'],
];
for (const [provider, model] of named) {
  add(provider, model, 1000, 500);
  add(provider, model, 0, 0);
  add(provider, model, 123456, undefined);
}

// One row per case: [provider, model, input_tokens, output_tokens, unix ms,
// USD, provider id, model id]; USD is null when calcPrice finds no price and
// a string when it throws. A token count absent from the usage is null.
const rows = cases.map((c) => {
  const usage = {};
  if (c.input !== undefined) usage.input_tokens = c.input;
  if (c.output !== undefined) usage.output_tokens = c.output;
  const at = new Date(c.at);
  const options = { timestamp: at };
  if (c.provider) options.providerId = c.provider;
  let usd = null, providerID = '', modelID = '';
  try {
    const r = calcPrice(usage, c.model, options);
    if (r) [usd, providerID, modelID] = [r.total_price, r.provider.id, r.model.id];
  } catch (e) {
    usd = `error: ${e.message}`;
  }
  return [c.provider, c.model, c.input ?? null, c.output ?? null, at.getTime(), usd, providerID, modelID];
});
process.stdout.write('[\n' + rows.map((r) => JSON.stringify(r)).join(',\n') + '\n]\n');
