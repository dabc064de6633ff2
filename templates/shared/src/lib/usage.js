// Usage figures shared by every flareform template: one Workers Analytics Engine data point per
// request, read back by `flareform usage` (docs/consumers.md).
//
// Bindings it reads:
//   USAGE             Analytics Engine dataset flareform_usage (optional; spec key usage)
//   FLAREFORM_WORKER  the worker's script name (plain text), the data points' first blob
//   AI_MODEL          the model named in a point when the request made no model call
//
// The data point: indexes [consumer], blobs [worker, consumer, model, status_class],
// doubles [1, model calls, tokens]. consumer is consumerOf(request) from auth.js ("owner",
// a consumer's name, or "-" when no key was accepted); status_class is "2xx", "401", "429",
// "4xx" or "5xx". It never holds a key or any of the request's text.

import { consumerOf } from "./auth.js";

// STATE is where a request's model calls and tokens are counted: a property of the request's
// own env (see withUsage), so concurrent requests in one isolate never add to each other.
const STATE = Symbol("flareform usage");

// withUsage wraps a worker's handler object so that every request writes its data point when
// env.USAGE is bound, whatever the answer (401, 405, 429 and thrown errors included). Without
// USAGE the handler runs exactly as written, with the env it was given.
export function withUsage(handler) {
  return {
    ...handler,
    async fetch(request, env, ctx) {
      if (!env || !env.USAGE) {
        return handler.fetch(request, env, ctx);
      }
      const state = { calls: 0, tokens: 0, model: "" };
      // The request's env: every binding through the prototype, plus its own counters.
      const scoped = Object.create(env, { [STATE]: { value: state } });
      let response;
      try {
        response = await handler.fetch(request, scoped, ctx);
      } catch (err) {
        writeUsage(env, request, state, 500);
        throw err;
      }
      writeUsage(env, request, state, response && response.status);
      return response;
    },
  };
}

// countModelCall runs one model call for runModel (ai.js): run() starts it and returns its
// promise. With usage on it counts the call, remembers the model and adds the answer's
// usage.total_tokens, when it has one, before the caller sees the answer; streams report no
// tokens here (their usage comes in the last events, after the data point is written).
// Without usage it returns run()'s result untouched.
export function countModelCall(env, model, run) {
  const state = env && env[STATE];
  if (!state) return run();
  state.calls += 1;
  state.model = model;
  return Promise.resolve(run()).then((answer) => {
    const tokens = answer && typeof answer === "object" && answer.usage && answer.usage.total_tokens;
    if (Number.isFinite(tokens) && tokens > 0) state.tokens += tokens;
    return answer;
  });
}

// statusClass groups an HTTP status the way `flareform usage` reports it.
export function statusClass(status) {
  if (status === 401 || status === 429) return String(status);
  if (!(status < 500)) return "5xx";
  if (status >= 400) return "4xx";
  return "2xx";
}

// writeUsage writes the request's data point. writeDataPoint does not wait for the write, and
// nothing here may fail the request: a usage figure lost is better than an answer lost.
function writeUsage(env, request, state, status) {
  try {
    const consumer = consumerOf(request) || "-";
    env.USAGE.writeDataPoint({
      indexes: [consumer],
      blobs: [String(env.FLAREFORM_WORKER || ""), consumer, String(state.model || env.AI_MODEL || ""), statusClass(status)],
      doubles: [1, state.calls, state.tokens],
    });
  } catch {
    // Analytics Engine unavailable or refusing the point: the answer goes out regardless.
  }
}
