// Text-to-image Worker: POST {"prompt": "..."} with `Authorization: Bearer <key>` and get a PNG
// back from Stable Diffusion XL on Workers AI.
//
// Bindings (set by flareform from flareform.yaml):
//   AI                       Workers AI
//   AI_MODEL                 model name (plain text), defaults to SDXL below
//   API_KEY                  the key callers must present (secret)
//   API_KEY_PREVIOUS         the key before the last rotation (secret, optional)
//   API_KEY_PREVIOUS_EXPIRES ISO date until which API_KEY_PREVIOUS is still accepted
//   MAX_PROMPT_CHARS         longest accepted prompt, default 1000

const DEFAULT_MODEL = "@cf/stabilityai/stable-diffusion-xl-base-1.0";
const CORS_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "POST, OPTIONS",
  "access-control-allow-headers": "authorization, content-type",
};

export default {
  async fetch(request, env) {
    if (request.method === "OPTIONS") {
      return new Response(null, { status: 204, headers: CORS_HEADERS });
    }
    if (request.method !== "POST") {
      return jsonError(405, "use POST with a JSON body", { allow: "POST" });
    }
    if (!env.API_KEY) {
      // Fail closed: without a configured key nobody gets in.
      return jsonError(500, "API_KEY is not configured on this Worker");
    }
    if (!(await authorized(request.headers.get("authorization"), env))) {
      return jsonError(401, "missing or invalid API key", { "www-authenticate": "Bearer" });
    }

    const parsed = await readInputs(request, env);
    if (parsed.error) {
      return jsonError(400, parsed.error);
    }
    try {
      const image = await env.AI.run(env.AI_MODEL || DEFAULT_MODEL, parsed.inputs);
      return new Response(image, { headers: { "content-type": "image/png", ...CORS_HEADERS } });
    } catch (err) {
      return jsonError(502, `image generation failed: ${err && err.message ? err.message : err}`);
    }
  },
};

// authorized accepts the current key, or the previous one until its grace window ends.
async function authorized(header, env) {
  const match = /^Bearer\s+(.+)$/i.exec(header || "");
  if (!match) return false;
  const given = match[1].trim();
  // Compare against both keys every time so the timing does not reveal which one matched.
  const current = await sameSecret(given, env.API_KEY);
  const previous = env.API_KEY_PREVIOUS ? await sameSecret(given, env.API_KEY_PREVIOUS) : false;
  const graceOpen = Date.now() < Date.parse(env.API_KEY_PREVIOUS_EXPIRES || "");
  return current || (previous && graceOpen);
}

// sameSecret compares in constant time: hashing first gives both sides the same length, and
// the XOR accumulator looks at every byte instead of stopping at the first difference.
async function sameSecret(a, b) {
  const enc = new TextEncoder();
  const [ha, hb] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(a)),
    crypto.subtle.digest("SHA-256", enc.encode(String(b))),
  ]);
  const x = new Uint8Array(ha);
  const y = new Uint8Array(hb);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

// readInputs validates the JSON body and returns {inputs} for the model or {error}.
async function readInputs(request, env) {
  let body;
  try {
    body = await request.json();
  } catch {
    return { error: 'body must be JSON like {"prompt": "a cute robot"}' };
  }
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

function jsonError(status, message, headers = {}) {
  return Response.json({ error: message }, { status, headers: { ...CORS_HEADERS, ...headers } });
}
