// Checks every template must pass, driven by the template's config:
//   path          where its main endpoint is
//   answer(model, inputs)   what the fake model returns
//   good()        {body, headers}: a valid request
//   sized(n)      {bytes, headers}: a valid request body of exactly n bytes
//   cap           its body cap in bytes
//   env()         extra bindings (e.g. a fake Vectorize index)
//   checkOK(res)  asserts a successful answer
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { KEY, errorOf, fakeEnv, request, streamed } from "./fake.mjs";

export function commonChecks(worker, config, lib) {
  const newEnv = (overrides = {}) => fakeEnv(config.answer, { ...(config.env ? config.env() : {}), ...overrides });
  const good = (options = {}) => {
    const { body, headers } = config.good();
    return request(config.path, { body, headers, ...options });
  };
  const send = (req, overrides) => {
    const { env, calls } = newEnv(overrides);
    return worker.fetch(req, env).then((res) => ({ res, calls, env }));
  };
  const limiter = (success, seen = []) => ({
    async limit(arg) {
      seen.push(arg);
      if (success === "throw") throw new Error("limiter unavailable");
      return { success };
    },
  });

  return {
    async "GET is 405 with Allow: POST and CORS headers"() {
      const { res, calls } = await send(request(config.path, { method: "GET" }));
      await errorOf(res, 405);
      assert.equal(res.headers.get("allow"), "POST");
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      assert.equal(calls.length, 0);
    },
    async "OPTIONS is a 204 CORS preflight"() {
      const { res } = await send(request(config.path, { method: "OPTIONS", key: null }));
      assert.equal(res.status, 204);
      assert.match(res.headers.get("access-control-allow-headers"), /authorization/);
    },
    async "no key is 401 with WWW-Authenticate"() {
      const { res, calls } = await send(good({ key: null }));
      await errorOf(res, 401);
      assert.equal(res.headers.get("www-authenticate"), "Bearer");
      assert.equal(calls.length, 0);
    },
    async "wrong key and key prefix are 401"() {
      await errorOf((await send(good({ key: "current-kez" }))).res, 401);
      await errorOf((await send(good({ key: "current" }))).res, 401);
    },
    async "unconfigured key fails closed"() {
      await errorOf((await send(good({ key: "undefined" }), { API_KEY: undefined })).res, 500);
    },
    async "previous key works until it expires"() {
      const future = new Date(Date.now() + 3600_000).toISOString();
      const past = new Date(Date.now() - 1000).toISOString();
      const ok = await send(good({ key: "old-key" }), { API_KEY_PREVIOUS: "old-key", API_KEY_PREVIOUS_EXPIRES: future });
      assert.equal(ok.res.status, 200);
      await errorOf((await send(good({ key: "old-key" }), { API_KEY_PREVIOUS: "old-key", API_KEY_PREVIOUS_EXPIRES: past })).res, 401);
      await errorOf((await send(good({ key: "old-key" }), { API_KEY_PREVIOUS: "old-key" })).res, 401);
    },
    async "good request reaches AI_MODEL without a gateway option"() {
      const { res, calls } = await send(good());
      assert.equal(res.status, 200, await res.clone().text());
      assert.ok(calls.length >= 1);
      assert.equal(calls[0].model, "@cf/test/model");
      assert.equal(calls[0].args.length, 2, "env.AI.run got a third argument without AI_GATEWAY_ID");
      await config.checkOK(res);
    },
    async "model defaults to a Workers AI model when AI_MODEL is unset"() {
      const { calls } = await send(good(), { AI_MODEL: undefined });
      assert.match(calls[0].model, /^@cf\//);
    },
    async "AI_GATEWAY_ID routes every model call through the gateway"() {
      const { res, calls } = await send(good(), { AI_GATEWAY_ID: "my-gateway" });
      assert.equal(res.status, 200);
      for (const call of calls) assert.deepEqual(call.args[2], { gateway: { id: "my-gateway" } });
      const blank = await send(good(), { AI_GATEWAY_ID: " " });
      assert.equal(blank.calls[0].args.length, 2, "a blank AI_GATEWAY_ID still added a gateway");
    },
    async "RATE_LIMITER saying no is 429 with Retry-After and never reaches the model"() {
      const seen = [];
      const { res, calls } = await send(good(), { RATE_LIMITER: limiter(false, seen) });
      const msg = await errorOf(res, 429);
      assert.match(msg, /60/);
      assert.equal(res.headers.get("retry-after"), "60");
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      assert.equal(calls.length, 0);
      const short = await send(good(), { RATE_LIMITER: limiter(false), RATE_LIMIT_PERIOD: "10" });
      assert.equal(short.res.status, 429);
      assert.equal(short.res.headers.get("retry-after"), "10");
    },
    async "RATE_LIMITER is keyed by an HMAC of the key under the worker's API_KEY, never the key"() {
      const seen = [];
      const { res } = await send(good(), { RATE_LIMITER: limiter(true, seen) });
      assert.equal(res.status, 200);
      assert.equal(seen.length, 1);
      const want = createHmac("sha256", KEY).update("flareform rate limit\0" + KEY).digest("hex").slice(0, 32);
      assert.deepEqual(seen[0], { key: want });
      assert.ok(!JSON.stringify(seen).includes(KEY));
      const unsalted = createHash("sha256").update(KEY).digest("hex");
      assert.ok(!unsalted.startsWith(seen[0].key.slice(0, 16)), "the limiter key is the unsalted SHA-256 of the caller's key");
      assert.equal(await lib.auth.limiterKey(KEY, { API_KEY: KEY }), want);
    },
    async "one caller key gives different limiter keys on workers with different API keys"() {
      // The same caller key on two workers (here: one worker's current key, the other's
      // previous key during its grace window) must not be linkable through the limiter.
      const future = new Date(Date.now() + 3600_000).toISOString();
      const seenA = [];
      const seenB = [];
      const a = await send(good(), { RATE_LIMITER: limiter(true, seenA) });
      const b = await send(good(), { API_KEY: "other-worker-key", API_KEY_PREVIOUS: KEY, API_KEY_PREVIOUS_EXPIRES: future, RATE_LIMITER: limiter(true, seenB) });
      assert.equal(a.res.status, 200);
      assert.equal(b.res.status, 200);
      assert.equal(seenA.length, 1);
      assert.equal(seenB.length, 1);
      assert.notEqual(seenA[0].key, seenB[0].key);
      const again = [];
      await send(good(), { RATE_LIMITER: limiter(true, again) });
      assert.equal(again[0].key, seenA[0].key, "one worker counts one caller under one limiter key");
      const direct = (apiKey) => lib.auth.limiterKey("caller-key-0123456789abcdef", { API_KEY: apiKey });
      assert.notEqual(await direct("worker-a-key"), await direct("worker-b-key"));
      assert.match(await direct("worker-a-key"), /^[0-9a-f]{32}$/);
    },
    async "unauthenticated calls do not count against the limit"() {
      const seen = [];
      await send(good({ key: "wrong" }), { RATE_LIMITER: limiter(true, seen) });
      assert.equal(seen.length, 0);
    },
    async "a failing RATE_LIMITER lets the request through"() {
      assert.equal((await send(good(), { RATE_LIMITER: limiter("throw") })).res.status, 200);
    },
    async "model failure is 502 with the model's message"() {
      const msg = await errorOf((await send(good(), { AI_FAIL: "3040: model exploded" })).res, 502);
      assert.match(msg, /model exploded/);
    },
    async "model input error is 400 with the model's message"() {
      const msg = await errorOf((await send(good(), { AI_FAIL: "5006: Invalid input: /x must be <= 2" })).res, 400);
      assert.match(msg, /5006: Invalid input: \/x must be <= 2/);
    },
    async "body over the cap with Content-Length is 413 and never reaches the model"() {
      const { bytes, headers } = config.sized(config.cap + 1024);
      const req = request(config.path, { body: bytes, headers: { ...headers, "content-length": String(bytes.length) } });
      const { res, calls } = await send(req);
      const msg = await errorOf(res, 413);
      assert.match(msg, new RegExp(String(config.cap)));
      assert.equal(calls.length, 0);
    },
    async "chunked body over the cap is 413"() {
      const { bytes, headers } = config.sized(config.cap + 1);
      const req = streamed(config.path, bytes, headers);
      assert.equal(req.headers.get("content-length"), null);
      const { res, calls } = await send(req);
      await errorOf(res, 413);
      assert.equal(calls.length, 0);
    },
    async "body that understates its Content-Length is still capped"() {
      const { bytes, headers } = config.sized(config.cap + 1024);
      await errorOf((await send(request(config.path, { body: bytes, headers: { ...headers, "content-length": "10" } }))).res, 413);
    },
    async "body of exactly the cap is accepted"() {
      const { bytes, headers } = config.sized(config.cap);
      const { res } = await send(streamed(config.path, bytes, headers));
      assert.equal(res.status, 200, await res.clone().text());
    },
    async "oversized body without a key is 401, not read"() {
      const { bytes, headers } = config.sized(config.cap + 1024);
      await errorOf((await send(request(config.path, { body: bytes, headers, key: null }))).res, 401);
    },
    async "input errors are told apart from model failures"() {
      for (const m of ["5006: Invalid input", "AiError: 5006: required properties", "3003: Request is missing headers or body", "5004: Invalid data for base64 input", "Error: invalid input: width"]) {
        assert.equal(lib.ai.modelFailure(new Error(m), "x").status, 400, m);
      }
      for (const m of ["3040: Out of capacity", "3007: Request timeout", "Workers AI request failed: connection reset", "15006: nope", "500: upstream"]) {
        assert.equal(lib.ai.modelFailure(new Error(m), "x").status, 502, m);
      }
    },
  };
}
