// Exercises a template worker's fetch handler with a fake env. Usage:
//   node worker_harness.mjs <worker.js> <text-to-image|text-generation>
// Prints one line per failed check and exits 1 if any failed.
import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";

const [workerPath, kind] = process.argv.slice(2);
const worker = (await import(pathToFileURL(workerPath).href)).default;
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);

function fakeEnv(overrides = {}) {
  const calls = [];
  const env = {
    API_KEY: "current-key",
    AI_MODEL: "@cf/test/model",
    AI: {
      async run(model, inputs) {
        calls.push({ model, inputs });
        if (inputs.prompt === "explode") throw new Error("5006: model exploded");
        return kind === "text-to-image" ? PNG : { response: `echo: ${inputs.prompt}` };
      },
    },
    ...overrides,
  };
  return { env, calls };
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
};
if (kind === "text-to-image") {
  checks["OPTIONS is a 204 CORS preflight"] = async () => {
    const res = await worker.fetch(new Request("https://w.example/", { method: "OPTIONS" }), fakeEnv().env);
    assert.equal(res.status, 204);
    assert.match(res.headers.get("access-control-allow-headers"), /authorization/);
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
