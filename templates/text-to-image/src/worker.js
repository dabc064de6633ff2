// Text-to-image Worker: POST {"prompt": "..."} with `Authorization: Bearer <key>` and get an
// image back from Workers AI (PNG from Stable Diffusion XL base or DreamShaper 8 LCM, JPEG from
// SDXL Lightning); the Content-Type comes from the bytes.
//
// Body: {"prompt", "negative_prompt"?, "width"?, "height"?, "num_steps"?, "seed"?}
//
// POST /?store=1 keeps the picture in the IMAGES R2 bucket under a new key and answers
// {"key", "content_type", "size"} instead of the picture; it needs `r2: {IMAGES: ...}` in
// flareform.yaml (commented out there: off by default) and answers 501 without it.
//
// Bindings (set by flareform from flareform.yaml):
//   AI, AI_MODEL, AI_GATEWAY_ID        Workers AI, the model (default SDXL base), the gateway
//   API_KEY, API_KEY_PREVIOUS(_EXPIRES) the caller's key (see lib/auth.js)
//   RATE_LIMITER, RATE_LIMIT_PERIOD    per-key rate limit (optional)
//   FLAREFORM_CONSUMERS(_SALT)         named consumers' keys and limits (see lib/auth.js)
//   USAGE, FLAREFORM_WORKER            a usage data point per request (see lib/usage.js)
//   MAX_PROMPT_CHARS                   longest accepted prompt, default 1000
//   IMAGES                             R2 bucket for ?store=1 (optional; see lib/storage.js)
//
// The method and key checks, rate limit, GET /.well-known/flareform, usage data points, body
// cap and error shapes live in ./lib (shared by every template).

import { imageType, modelFailure, runModel } from "./lib/ai.js";
import { guard } from "./lib/auth.js";
import { CORS_HEADERS, jsonError, jsonOK, readJSON } from "./lib/http.js";
import { storeObject, storeRequested } from "./lib/storage.js";
import { withUsage } from "./lib/usage.js";

const DEFAULT_MODEL = "@cf/stabilityai/stable-diffusion-xl-base-1.0";

export default withUsage({
  async fetch(request, env) {
    const refused = await guard(request, env);
    if (refused) {
      return refused;
    }
    // Asked before the model runs, so a Worker without the bucket never pays for a picture it
    // cannot keep.
    const store = storeRequested(request);
    if (store && !env.IMAGES) {
      return jsonError(501, "store=1 keeps the picture in R2, and this Worker has no IMAGES bucket: uncomment r2: in flareform.yaml and apply");
    }
    const body = await readJSON(request, { hint: 'body must be JSON like {"prompt": "a cute robot"}' });
    if (body.error) {
      return jsonError(body.status, body.error);
    }
    const parsed = checkInputs(body.value, env);
    if (parsed.error) {
      return jsonError(400, parsed.error);
    }
    let bytes;
    try {
      const image = await runModel(env, DEFAULT_MODEL, parsed.inputs);
      // The model answers a stream (or bytes); reading it whole lets the first bytes say
      // whether it is a PNG or a JPEG.
      bytes = new Uint8Array(await new Response(image).arrayBuffer());
    } catch (err) {
      const failure = modelFailure(err, "image generation");
      return jsonError(failure.status, failure.error);
    }
    const type = imageType(bytes);
    if (store) {
      try {
        return jsonOK(await storeObject(env.IMAGES, "images", bytes, type, { prompt: parsed.inputs.prompt }));
      } catch (err) {
        return jsonError(500, `could not keep the picture in R2: ${err.message}`);
      }
    }
    return new Response(bytes, { headers: { "content-type": type, ...CORS_HEADERS } });
  },
});

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
