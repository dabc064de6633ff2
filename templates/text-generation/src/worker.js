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

const DEFAULT_MODEL = "@cf/meta/llama-3.1-8b-instruct";

export default {
  async fetch(request, env) {
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

    let body;
    try {
      body = await request.json();
    } catch {
      return jsonError(400, 'body must be JSON like {"prompt": "hello"}');
    }
    const maxChars = parseInt(env.MAX_PROMPT_CHARS, 10) || 4000;
    const prompt = body && typeof body === "object" ? body.prompt : undefined;
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
      return jsonError(502, `text generation failed: ${err && err.message ? err.message : err}`);
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

function jsonError(status, message, headers = {}) {
  return Response.json({ error: message }, { status, headers });
}
