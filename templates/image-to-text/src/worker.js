// Image-to-text Worker: send an image with `Authorization: Bearer <key>` and get
// {"description": "..."} back from a Workers AI vision model. Either POST JSON
// {"image": "<base64, a data: URL is fine>", "prompt"?, "max_tokens"?}, or POST the image bytes
// (Content-Type image/*) with the prompt and limit in the query:
// /?prompt=What%20is%20this&max_tokens=64
//
// Vision models take the image in different ways; the worker sends it the way AI_MODEL's takes
// it: LLaVA 1.5 (the default) and Llama 3.2 Vision as {image: [bytes], prompt}, Moondream as a
// data URI with the question, and chat models in the OpenAI format
// (@cf/google/gemma-4-26b-a4b-it, @cf/moonshotai/kimi-k2.6 on Workers Paid, and any model not
// named here) as an image_url content part holding a data URI. The answer is {"description"}
// whichever it is.
//
// Uploads are capped at 4 MiB (MAX_MEDIA_BYTES in lib/http.js), not the 64 KiB of the JSON
// templates: a photo is larger than that.
//
// Bindings (set by flareform from flareform.yaml):
//   AI, AI_MODEL, AI_GATEWAY_ID        Workers AI, the model (default LLaVA 1.5), the gateway
//   API_KEY, API_KEY_PREVIOUS(_EXPIRES) the caller's key (see lib/auth.js)
//   RATE_LIMITER, RATE_LIMIT_PERIOD    per-key rate limit (optional)
//   FLAREFORM_CONSUMERS(_SALT)         named consumers' keys and limits (see lib/auth.js)
//   USAGE, FLAREFORM_WORKER            a usage data point per request (see lib/usage.js)
//   MAX_PROMPT_CHARS                   longest accepted prompt, default 1000
//
// The method and key checks, rate limit, GET /.well-known/flareform, usage data points, body
// cap and error shapes live in ./lib (shared by every template).

import { answerText, byteArray, dataURI, decodeBase64, modelFailure, runModel } from "./lib/ai.js";
import { guard } from "./lib/auth.js";
import { MAX_MEDIA_BYTES, jsonError, jsonOK, mediaType, readBody, readJSON } from "./lib/http.js";
import { withUsage } from "./lib/usage.js";

const DEFAULT_MODEL = "@cf/llava-hf/llava-1.5-7b-hf";
const DEFAULT_PROMPT = "Describe this image.";

// Models that take the image as a byte array next to the prompt.
const IMAGE_BYTES_MODELS = new Set(["@cf/llava-hf/llava-1.5-7b-hf", "@cf/meta/llama-3.2-11b-vision-instruct"]);
const MOONDREAM = "@cf/moondream/moondream3.1-9B-A2B";

export default withUsage({
  async fetch(request, env) {
    const refused = await guard(request, env);
    if (refused) {
      return refused;
    }
    const parsed = await readRequest(request, env);
    if (parsed.error) {
      return jsonError(parsed.status, parsed.error);
    }
    try {
      const model = env.AI_MODEL || DEFAULT_MODEL;
      const result = await runModel(env, DEFAULT_MODEL, modelInputs(model, parsed));
      return jsonOK({ description: answerText(result) });
    } catch (err) {
      const failure = modelFailure(err, "image description");
      return jsonError(failure.status, failure.error);
    }
  },
});

// readRequest returns {image, prompt, maxTokens?} from either request form, or {status, error}.
async function readRequest(request, env) {
  const type = mediaType(request);
  let image;
  let fields;
  if (type.startsWith("image/")) {
    const body = await readBody(request, MAX_MEDIA_BYTES);
    if (body.error) return body;
    image = body.bytes;
    const query = new URL(request.url).searchParams;
    fields = { prompt: query.get("prompt") ?? undefined };
    if (query.has("max_tokens")) fields.max_tokens = Number(query.get("max_tokens"));
  } else if (type === "application/json" || type === "") {
    const body = await readJSON(request, { maxBytes: MAX_MEDIA_BYTES, hint: 'body must be JSON like {"image": "<base64>", "prompt": "What is this?"}' });
    if (body.error) return body;
    fields = body.value;
    if (fields === null || typeof fields !== "object" || Array.isArray(fields)) {
      return { status: 400, error: "body must be a JSON object" };
    }
    if (typeof fields.image !== "string" || !(image = decodeBase64(fields.image))) {
      return { status: 400, error: '"image" is required: the image as a base64 string' };
    }
  } else {
    return { status: 415, error: "send JSON {\"image\": \"<base64>\"} or the image bytes with Content-Type image/*" };
  }
  if (image.length === 0) {
    return { status: 400, error: "the image is empty" };
  }
  return checkFields(image, fields, env);
}

// checkFields validates the prompt and max_tokens: {image, prompt, maxTokens?} or {status, error}.
function checkFields(image, fields, env) {
  const maxChars = parseInt(env.MAX_PROMPT_CHARS, 10) || 1000;
  const prompt = fields.prompt === undefined ? DEFAULT_PROMPT : fields.prompt;
  if (typeof prompt !== "string" || prompt.trim() === "") {
    return { status: 400, error: '"prompt" must be a non-empty string' };
  }
  if (prompt.length > maxChars) {
    return { status: 400, error: `"prompt" is longer than ${maxChars} characters` };
  }
  if (fields.max_tokens !== undefined && (!Number.isInteger(fields.max_tokens) || fields.max_tokens < 1)) {
    return { status: 400, error: '"max_tokens" must be a positive integer' };
  }
  return { image, prompt, maxTokens: fields.max_tokens };
}

// modelInputs sends the image and prompt the way model takes them.
function modelInputs(model, { image, prompt, maxTokens }) {
  const limit = maxTokens === undefined ? {} : { max_tokens: maxTokens };
  if (IMAGE_BYTES_MODELS.has(model)) {
    return { image: byteArray(image), prompt, ...limit };
  }
  if (model === MOONDREAM) {
    // It streams and reasons unless told not to.
    return { task: "query", image: dataURI(image), question: prompt, reasoning: false, stream: false, ...limit };
  }
  const content = [
    { type: "text", text: prompt },
    { type: "image_url", image_url: { url: dataURI(image) } },
  ];
  return { messages: [{ role: "user", content }], ...limit };
}
