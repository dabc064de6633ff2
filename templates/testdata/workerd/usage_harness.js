// Runs a bundled template (./worker.js) in workerd with stand-ins for the bindings the local
// Cloudflare does not run: USAGE records every data point written, AI records every call and
// answers like an embedding model with a token count, RATE_LIMITER_1_10 lets one call per key
// through. GET /__harness answers what was recorded; every other request goes to the
// template with the worker's own bindings (API_KEY, the consumer table, ...) plus these.
import template from "./worker.js";

const points = [];
const modelCalls = [];
const counts = new Map();

const USAGE = {
  // Analytics Engine's writeDataPoint returns nothing and does not wait for the write.
  writeDataPoint(point) {
    points.push(JSON.parse(JSON.stringify(point)));
  },
};

const AI = {
  async run(model, inputs) {
    modelCalls.push(model);
    const texts = Array.isArray(inputs.text) ? inputs.text : [inputs.text];
    if (texts.includes("fail")) throw new Error("3040: Out of capacity");
    return { shape: [texts.length, 2], data: texts.map(() => [0.6, 0.8]), usage: { total_tokens: 7 * texts.length } };
  },
};

const RATE_LIMITER_1_10 = {
  async limit({ key }) {
    const n = (counts.get(key) || 0) + 1;
    counts.set(key, n);
    return { success: n <= 1 };
  },
};

export default {
  async fetch(request, env, ctx) {
    if (new URL(request.url).pathname === "/__harness") {
      return Response.json({ points, modelCalls, limiterKeys: [...counts.keys()] });
    }
    // The stand-ins join workerd's own env object rather than a copy of it, so the template
    // gets the runtime's env as it would in production.
    Object.assign(env, { AI, USAGE, RATE_LIMITER_1_10 });
    return template.fetch(request, env, ctx);
  },
};
