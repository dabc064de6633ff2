// The fake env and request builders the template checks share.
import assert from "node:assert/strict";

export const KEY = "current-key";
export const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
export const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46]);
export const KIB = 1024;

// fakeEnv returns {env, calls}: env.AI records every run(model, inputs, options) call and
// answers with answer(model, inputs); env.AI_FAIL makes it throw that message instead, the way
// the binding throws Error("<code>: <message>").
export function fakeEnv(answer, overrides = {}) {
  const calls = [];
  const env = {
    API_KEY: KEY,
    AI_MODEL: "@cf/test/model",
    AI: {
      async run(...args) {
        const [model, inputs] = args;
        calls.push({ model, inputs, args });
        if (env.AI_FAIL) throw new Error(env.AI_FAIL);
        return answer(model, inputs);
      },
    },
    ...overrides,
  };
  return { env, calls };
}

// request builds a Request; body may be a string, bytes, or a value sent as JSON.
export function request(path, { method = "POST", key = KEY, body, headers = {} } = {}) {
  const h = { "content-type": "application/json", ...headers };
  if (key !== null) h.authorization = `Bearer ${key}`;
  const init = { method, headers: h };
  if (body !== undefined) {
    init.body = typeof body === "string" || body instanceof Uint8Array || body instanceof FormData ? body : JSON.stringify(body);
  }
  if (body instanceof FormData) delete h["content-type"];
  return new Request(`https://w.example${path}`, init);
}

// streamed is a Request whose body is a stream without Content-Length, the way a chunked
// upload arrives.
export function streamed(path, bytes, headers = {}) {
  const body = new ReadableStream({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.slice(i, i + 8192));
      controller.close();
    },
  });
  return new Request(`https://w.example${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, ...headers },
    body,
    duplex: "half",
  });
}

// paddedJSON is value as JSON padded with spaces to exactly n bytes (JSON allows that).
export function paddedJSON(value, n) {
  const json = JSON.stringify(value);
  assert.ok(json.length <= n, `request ${json} is longer than ${n} bytes`);
  return new TextEncoder().encode(json + " ".repeat(n - json.length));
}

// errorOf asserts a JSON {"error"} answer with the given status and returns the message.
export async function errorOf(res, status) {
  const text = await res.text();
  assert.equal(res.status, status, `status ${res.status}, want ${status}; body ${text.slice(0, 300)}`);
  assert.match(res.headers.get("content-type") || "", /^application\/json/);
  const body = JSON.parse(text);
  assert.equal(typeof body.error, "string");
  return body.error;
}

// sse is the stream a chat model answers with stream: true.
export function sse(tokens) {
  const text = tokens.map((t) => `data: ${JSON.stringify({ response: t })}\n\n`).join("") + "data: [DONE]\n\n";
  return new Response(text).body;
}

// letterVector is a toy embedding: letter counts, normalised, so texts that share letters are
// closer. Enough to check ranking without a model.
export function letterVector(text, dims = 26) {
  const v = new Array(dims).fill(0);
  for (const c of text.toLowerCase()) {
    const i = c.charCodeAt(0) - 97;
    if (i >= 0 && i < 26) v[i % dims] += 1;
  }
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}
