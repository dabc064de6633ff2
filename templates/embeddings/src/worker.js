// Embeddings Worker: POST {"text": "..."} or {"text": ["...", ...]} with
// `Authorization: Bearer <key>` and get {"shape": [n, dims], "data": [[...], ...]} back: one
// vector per text from a Workers AI BGE model (small 384, base 768, large 1024 dimensions).
//
// Bindings (set by flareform from flareform.yaml):
//   AI, AI_MODEL, AI_GATEWAY_ID        Workers AI, the model (default bge-small), the gateway
//   API_KEY, API_KEY_PREVIOUS(_EXPIRES) the caller's key (see lib/auth.js)
//   RATE_LIMITER, RATE_LIMIT_PERIOD    per-key rate limit (optional)
//   FLAREFORM_CONSUMERS(_SALT)         named consumers' keys and limits (see lib/auth.js)
//   USAGE, FLAREFORM_WORKER            a usage data point per request (see lib/usage.js)
//   MAX_TEXTS                          most texts per request, default 100 (the model's batch)
//
// The method and key checks, rate limit, GET /.well-known/flareform, usage data points, body
// cap and error shapes live in ./lib (shared by every template).

import { modelFailure, runModel } from "./lib/ai.js";
import { guard } from "./lib/auth.js";
import { jsonError, jsonOK, readJSON } from "./lib/http.js";
import { withUsage } from "./lib/usage.js";

const DEFAULT_MODEL = "@cf/baai/bge-small-en-v1.5";

export default withUsage({
  async fetch(request, env) {
    const refused = await guard(request, env);
    if (refused) {
      return refused;
    }
    const body = await readJSON(request, { hint: 'body must be JSON like {"text": ["first", "second"]}' });
    if (body.error) {
      return jsonError(body.status, body.error);
    }
    const texts = checkTexts(body.value, parseInt(env.MAX_TEXTS, 10) || 100);
    if (texts.error) {
      return jsonError(400, texts.error);
    }
    try {
      const result = await runModel(env, DEFAULT_MODEL, { text: texts.list });
      return jsonOK({ shape: result.shape, data: result.data });
    } catch (err) {
      const failure = modelFailure(err, "embedding");
      return jsonError(failure.status, failure.error);
    }
  },
});

// checkTexts returns {list} of non-empty strings from {"text": string | string[]}, or {error}.
function checkTexts(body, maxTexts) {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { error: "body must be a JSON object" };
  }
  const list = typeof body.text === "string" ? [body.text] : body.text;
  if (!Array.isArray(list) || list.length === 0) {
    return { error: '"text" is required: a string or a list of strings' };
  }
  if (list.length > maxTexts) {
    return { error: `"text" has ${list.length} entries; at most ${maxTexts} per request` };
  }
  const bad = list.findIndex((t) => typeof t !== "string" || t.trim() === "");
  if (bad >= 0) {
    return { error: `"text" entry ${bad} must be a non-empty string` };
  }
  return { list };
}
