// Text-to-image Worker: POST {"prompt": "..."} with `Authorization: Bearer <key>` and get an
// image (PNG from Stable Diffusion XL) back from Workers AI.
//
// Bindings (set by flareform from flareform.yaml):
//   AI                       Workers AI
//   AI_MODEL                 model name (plain text), defaults to SDXL below
//   API_KEY                  the key callers must present (secret)
//   API_KEY_PREVIOUS         the key before the last rotation (secret, optional)
//   API_KEY_PREVIOUS_EXPIRES ISO date until which API_KEY_PREVIOUS is still accepted
//   MAX_PROMPT_CHARS         longest accepted prompt, default 1000
//
// The key check, body size cap and error shapes live in ./lib (shared by every template).

import { imageType, modelFailure } from "./lib/ai.js";
import { requireKey } from "./lib/auth.js";
import { CORS_HEADERS, jsonError, preflight, readJSON } from "./lib/http.js";

const DEFAULT_MODEL = "@cf/stabilityai/stable-diffusion-xl-base-1.0";

export default {
  async fetch(request, env) {
    if (request.method === "OPTIONS") {
      return preflight();
    }
    if (request.method !== "POST") {
      return fail(405, "use POST with a JSON body", { allow: "POST" });
    }
    const denied = await requireKey(request, env, CORS_HEADERS);
    if (denied) {
      return denied;
    }

    const body = await readJSON(request, { hint: 'body must be JSON like {"prompt": "a cute robot"}' });
    if (body.error) {
      return fail(body.status, body.error);
    }
    const parsed = checkInputs(body.value, env);
    if (parsed.error) {
      return fail(400, parsed.error);
    }
    let bytes;
    try {
      const image = await env.AI.run(env.AI_MODEL || DEFAULT_MODEL, parsed.inputs);
      // The model answers a stream (or bytes); reading it whole lets the first bytes say
      // whether it is a PNG or a JPEG.
      bytes = new Uint8Array(await new Response(image).arrayBuffer());
    } catch (err) {
      const failure = modelFailure(err, "image generation");
      return fail(failure.status, failure.error);
    }
    return new Response(bytes, { headers: { "content-type": imageType(bytes), ...CORS_HEADERS } });
  },
};

// checkInputs validates the parsed JSON body and returns {inputs} for the model or {error}.
function checkInputs(body, env) {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { error: "body must be a JSON object" };
  }
  const maxChars = parseInt(env.MAX_PROMPT_CHARS, 10) || 1000;
  if (typeof body.prompt !== "string" || body.prompt.trim() === "") {
    return { error: '"prompt" is required and must be a non-empty string' };
  }
  if (body.prompt.length > maxChars) {
    return { error: `"prompt" is longer than ${maxChars} characters` };
  }
  const inputs = { prompt: body.prompt };
  for (const field of ["width", "height", "num_steps", "seed"]) {
    if (body[field] === undefined) continue;
    if (!Number.isInteger(body[field]) || body[field] < 0) {
      return { error: `"${field}" must be a non-negative integer` };
    }
    inputs[field] = body[field];
  }
  if (body.negative_prompt !== undefined) {
    if (typeof body.negative_prompt !== "string") {
      return { error: '"negative_prompt" must be a string' };
    }
    inputs.negative_prompt = body.negative_prompt;
  }
  return { inputs };
}

// fail is jsonError with the CORS headers, so browsers can read the error too.
function fail(status, message, headers = {}) {
  return jsonError(status, message, { ...CORS_HEADERS, ...headers });
}
