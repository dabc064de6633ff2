// Text-generation Worker: POST {"prompt": "..."} with `Authorization: Bearer <key>` and get
// {"response": "..."} back from a Workers AI language model.
//
// Bindings (set by flareform from flareform.yaml):
//   AI                       Workers AI
//   AI_MODEL                 model name (plain text), defaults to Llama 3.1 8B below
//   API_KEY                  the key callers must present (secret)
//   API_KEY_PREVIOUS         the key before the last rotation (secret, optional)
//   API_KEY_PREVIOUS_EXPIRES ISO date until which API_KEY_PREVIOUS is still accepted
//   MAX_PROMPT_CHARS         longest accepted prompt, default 4000
//
// The key check, body size cap and error shapes live in ./lib (shared by every template).

import { modelFailure } from "./lib/ai.js";
import { requireKey } from "./lib/auth.js";
import { jsonError, readJSON } from "./lib/http.js";

const DEFAULT_MODEL = "@cf/meta/llama-3.1-8b-instruct";

export default {
  async fetch(request, env) {
    if (request.method !== "POST") {
      return jsonError(405, "use POST with a JSON body", { allow: "POST" });
    }
    const denied = await requireKey(request, env);
    if (denied) {
      return denied;
    }

    const body = await readJSON(request, { hint: 'body must be JSON like {"prompt": "hello"}' });
    if (body.error) {
      return jsonError(body.status, body.error);
    }
    const maxChars = parseInt(env.MAX_PROMPT_CHARS, 10) || 4000;
    const prompt = body.value && typeof body.value === "object" ? body.value.prompt : undefined;
    if (typeof prompt !== "string" || prompt.trim() === "") {
      return jsonError(400, '"prompt" is required and must be a non-empty string');
    }
    if (prompt.length > maxChars) {
      return jsonError(400, `"prompt" is longer than ${maxChars} characters`);
    }

    try {
      const result = await env.AI.run(env.AI_MODEL || DEFAULT_MODEL, { prompt });
      return Response.json({ response: result && result.response });
    } catch (err) {
      const failure = modelFailure(err, "text generation");
      return jsonError(failure.status, failure.error);
    }
  },
};
