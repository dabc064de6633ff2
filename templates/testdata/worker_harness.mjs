// Exercises a template worker's fetch handler with a fake env. Usage:
//   node worker_harness.mjs <worker.js> <text-to-image|text-generation>
// Prints one line per failed check and exits 1 if any failed.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

const [workerPath, kind] = process.argv.slice(2);
const worker = (await import(pathToFileURL(workerPath).href)).default;
const ai = await import(pathToFileURL(join(dirname(workerPath), "lib", "ai.js")).href);
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46]);
const MAX_BODY = 64 * 1024;

function fakeEnv(overrides = {}) {
  const calls = [];
  const env = {
    API_KEY: "current-key",
    AI_MODEL: "@cf/test/model",
    AI: {
      async run(model, inputs) {
        calls.push({ model, inputs });
        // The local AI binding throws Error("<code>: <message>") like the real one.
        if (inputs.prompt === "explode") throw new Error("3040: model exploded");
        if (inputs.prompt === "bad input") throw new Error("5006: Invalid input: width must be <= 2048");
        if (kind !== "text-to-image") return { response: `echo: ${inputs.prompt}` };
        if (model === "@cf/test/jpeg") return JPEG;
        // The real binding answers image models with a ReadableStream of the bytes.
        if (model === "@cf/test/stream") return new Response(PNG).body;
        return PNG;
      },
    },
    ...overrides,
  };
  return { env, calls };
}

// postStream sends body as a stream without Content-Length, the way a chunked upload arrives.
function postStream(text, key) {
  const bytes = new TextEncoder().encode(text);
  const body = new ReadableStream({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.slice(i, i + 8192));
      controller.close();
    },
  });
  return new Request("https://w.example/", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body,
    duplex: "half",
  });
}

// paddedBody is a valid request body of exactly n bytes (JSON allows trailing whitespace).
function paddedBody(n) {
  const json = JSON.stringify({ prompt: "a robot" });
  return json + " ".repeat(n - json.length);
}

function post(body, key, headers = {}) {
  const h = { "content-type": "application/json", ...headers };
  if (key !== undefined) h.authorization = `Bearer ${key}`;
  return new Request("https://w.example/", { method: "POST", headers: h, body: typeof body === "string" ? body : JSON.stringify(body) });
}

async function errorOf(res, status) {
  assert.equal(res.status, status);
  const body = await res.json();
  assert.equal(typeof body.error, "string");
  return body.error;
}

const checks = {
  async "GET is 405 with Allow: POST"() {
    const res = await worker.fetch(new Request("https://w.example/"), fakeEnv().env);
    await errorOf(res, 405);
    assert.equal(res.headers.get("allow"), "POST");
  },
  async "no key is 401 with WWW-Authenticate"() {
    const res = await worker.fetch(post({ prompt: "x" }), fakeEnv().env);
    await errorOf(res, 401);
    assert.equal(res.headers.get("www-authenticate"), "Bearer");
  },
  async "wrong key is 401"() {
    await errorOf(await worker.fetch(post({ prompt: "x" }, "current-kez"), fakeEnv().env), 401);
  },
  async "key prefix is 401"() {
    await errorOf(await worker.fetch(post({ prompt: "x" }, "current"), fakeEnv().env), 401);
  },
  async "unconfigured key fails closed"() {
    await errorOf(await worker.fetch(post({ prompt: "x" }, "undefined"), fakeEnv({ API_KEY: undefined }).env), 500);
  },
  async "invalid JSON is 400"() {
    await errorOf(await worker.fetch(post("{not json", "current-key"), fakeEnv().env), 400);
  },
  async "missing prompt is 400"() {
    await errorOf(await worker.fetch(post({ width: 512 }, "current-key"), fakeEnv().env), 400);
  },
  async "prompt over MAX_PROMPT_CHARS is 400"() {
    const msg = await errorOf(await worker.fetch(post({ prompt: "x".repeat(11) }, "current-key"), fakeEnv({ MAX_PROMPT_CHARS: "10" }).env), 400);
    assert.match(msg, /10/);
  },
  async "good request reaches the model"() {
    const { env, calls } = fakeEnv();
    const body = kind === "text-to-image" ? { prompt: "a robot", num_steps: 4, seed: 7, negative_prompt: "blur" } : { prompt: "a robot" };
    const res = await worker.fetch(post(body, "current-key"), env);
    assert.equal(res.status, 200);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].model, "@cf/test/model");
    assert.deepEqual(calls[0].inputs, body);
    if (kind === "text-to-image") {
      assert.equal(res.headers.get("content-type"), "image/png");
      assert.deepEqual(new Uint8Array(await res.arrayBuffer()), PNG);
    } else {
      assert.match(res.headers.get("content-type"), /^application\/json/);
      assert.deepEqual(await res.json(), { response: "echo: a robot" });
    }
  },
  async "model defaults when AI_MODEL is unset"() {
    const { env, calls } = fakeEnv({ AI_MODEL: undefined });
    await worker.fetch(post({ prompt: "hi" }, "current-key"), env);
    assert.match(calls[0].model, /^@cf\//);
  },
  async "previous key works until it expires"() {
    const future = new Date(Date.now() + 3600_000).toISOString();
    const past = new Date(Date.now() - 1000).toISOString();
    const ok = fakeEnv({ API_KEY_PREVIOUS: "old-key", API_KEY_PREVIOUS_EXPIRES: future }).env;
    assert.equal((await worker.fetch(post({ prompt: "x" }, "old-key"), ok)).status, 200);
    const expired = fakeEnv({ API_KEY_PREVIOUS: "old-key", API_KEY_PREVIOUS_EXPIRES: past }).env;
    await errorOf(await worker.fetch(post({ prompt: "x" }, "old-key"), expired), 401);
    const noDeadline = fakeEnv({ API_KEY_PREVIOUS: "old-key" }).env;
    await errorOf(await worker.fetch(post({ prompt: "x" }, "old-key"), noDeadline), 401);
  },
  async "model failure is 502"() {
    const msg = await errorOf(await worker.fetch(post({ prompt: "explode" }, "current-key"), fakeEnv().env), 502);
    assert.match(msg, /model exploded/);
  },
  async "model input error is 400 with the model's message"() {
    const msg = await errorOf(await worker.fetch(post({ prompt: "bad input" }, "current-key"), fakeEnv().env), 400);
    assert.match(msg, /5006: Invalid input: width must be <= 2048/);
  },
  async "body over 64 KiB with Content-Length is 413 and never reaches the model"() {
    const { env, calls } = fakeEnv();
    const text = paddedBody(100 * 1024);
    const req = post(text, "current-key", { "content-length": String(text.length) });
    assert.equal(req.headers.get("content-length"), String(text.length));
    const msg = await errorOf(await worker.fetch(req, env), 413);
    assert.match(msg, /65536/);
    assert.equal(calls.length, 0);
  },
  async "chunked body over 64 KiB is 413"() {
    const { env, calls } = fakeEnv();
    const req = postStream(paddedBody(100 * 1024), "current-key");
    assert.equal(req.headers.get("content-length"), null);
    await errorOf(await worker.fetch(req, env), 413);
    assert.equal(calls.length, 0);
  },
  async "body that understates its Content-Length is still capped"() {
    const text = paddedBody(100 * 1024);
    await errorOf(await worker.fetch(post(text, "current-key", { "content-length": "10" }), fakeEnv().env), 413);
  },
  async "body of exactly 64 KiB is accepted"() {
    assert.equal((await worker.fetch(postStream(paddedBody(MAX_BODY), "current-key"), fakeEnv().env)).status, 200);
    await errorOf(await worker.fetch(postStream(paddedBody(MAX_BODY + 1), "current-key"), fakeEnv().env), 413);
  },
  async "oversized body without a key is 401, not read"() {
    await errorOf(await worker.fetch(post(paddedBody(100 * 1024), undefined), fakeEnv().env), 401);
  },
  async "input errors are told apart from model failures"() {
    for (const m of ["5006: Invalid input", "AiError: 5006: required properties", "3003: Request is missing headers or body", "5004: Invalid data for base64 input", "Error: invalid input: width"]) {
      assert.equal(ai.modelFailure(new Error(m), "x").status, 400, m);
    }
    for (const m of ["3040: Out of capacity", "3007: Request timeout", "Workers AI request failed: connection reset", "15006: nope", "500: upstream"]) {
      assert.equal(ai.modelFailure(new Error(m), "x").status, 502, m);
    }
  },
  async "image type comes from the bytes"() {
    assert.equal(ai.imageType(PNG), "image/png");
    assert.equal(ai.imageType(JPEG), "image/jpeg");
    assert.equal(ai.imageType(JPEG.buffer), "image/jpeg");
    assert.equal(ai.imageType(new Uint8Array([0x89, 0x50, 0x4e, 0x47])), "application/octet-stream");
    assert.equal(ai.imageType(new Uint8Array([0x47, 0x49, 0x46, 0x38])), "application/octet-stream");
    assert.equal(ai.imageType(new Uint8Array()), "application/octet-stream");
  },
};
if (kind === "text-to-image") {
  checks["OPTIONS is a 204 CORS preflight"] = async () => {
    const res = await worker.fetch(new Request("https://w.example/", { method: "OPTIONS" }), fakeEnv().env);
    assert.equal(res.status, 204);
    assert.match(res.headers.get("access-control-allow-headers"), /authorization/);
  };
  checks["JPEG from the model is served as image/jpeg"] = async () => {
    const res = await worker.fetch(post({ prompt: "x" }, "current-key"), fakeEnv({ AI_MODEL: "@cf/test/jpeg" }).env);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "image/jpeg");
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), JPEG);
  };
  checks["streamed model output is sniffed and passed through"] = async () => {
    const res = await worker.fetch(post({ prompt: "x" }, "current-key"), fakeEnv({ AI_MODEL: "@cf/test/stream" }).env);
    assert.equal(res.headers.get("content-type"), "image/png");
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), PNG);
  };
  checks["errors carry CORS headers"] = async () => {
    const res = await worker.fetch(post(paddedBody(100 * 1024), "current-key"), fakeEnv().env);
    assert.equal(res.status, 413);
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
  };
  checks["non-integer width is 400"] = async () => {
    await errorOf(await worker.fetch(post({ prompt: "x", width: "512" }, "current-key"), fakeEnv().env), 400);
  };
}

let failed = 0;
for (const [name, check] of Object.entries(checks)) {
  try {
    await check();
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err.message}`);
  }
}
console.log(`${Object.keys(checks).length - failed}/${Object.keys(checks).length} checks passed`);
process.exit(failed ? 1 : 0);
