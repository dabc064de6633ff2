// Checks every template must pass for named consumers (docs/consumers.md): the consumer table
// and its salt, the per-consumer limiters, GET /.well-known/flareform and the usage data
// points. Driven by the same template config as common.mjs.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { KEY, errorOf, fakeEnv, request } from "./fake.mjs";

export const SALT = "5a1f".repeat(16);
export const consumerMac = (key, salt = SALT) => createHmac("sha256", salt).update("flareform consumer key\0" + key).digest("hex");
const limiterKeyOf = (name) => createHmac("sha256", SALT).update("flareform rate limit\0consumer\0" + name).digest("hex").slice(0, 32);

const MOBILE_KEY = "mobile-key-0123456789abcdef";
const WEB_KEY = "web-key-0123456789abcdef";
const OLD_KEY = "partner-old-key-0123456789";
const NEW_KEY = "partner-new-key-0123456789";

// table is a FLAREFORM_CONSUMERS value: mobile with its own limiter (3 per 10 s), web under
// RATE_LIMITER, partner mid-rotation with its previous key open until prevExpires.
function table(prevExpires = new Date(Date.now() + 3600_000).toISOString()) {
  return JSON.stringify({
    v: 1,
    consumers: [
      { name: "mobile", mac: consumerMac(MOBILE_KEY), limiter: "RATE_LIMITER_3_10" },
      { name: "partner", mac: consumerMac(NEW_KEY), prev_mac: consumerMac(OLD_KEY), prev_expires: prevExpires },
      { name: "web", mac: consumerMac(WEB_KEY) },
    ],
  });
}

export function consumerChecks(worker, config, lib) {
  const newEnv = (overrides = {}) =>
    fakeEnv(config.answer, { ...(config.env ? config.env() : {}), FLAREFORM_CONSUMERS: table(), FLAREFORM_CONSUMER_SALT: SALT, ...overrides });
  const good = (options = {}) => {
    const { body, headers } = config.good();
    return request(config.path, { body, headers, ...options });
  };
  const send = async (req, overrides) => {
    const { env, calls } = newEnv(overrides);
    return { res: await worker.fetch(req, env), calls };
  };
  const wellKnown = (key, method = "GET") => request("/.well-known/flareform", { method, key });
  const limiter = (success, seen = []) => ({
    async limit(arg) {
      seen.push(arg);
      return { success };
    },
  });
  const recorder = (points = []) => ({
    writeDataPoint(point) {
      // A real binding would copy the point; a later change to it must not change what was sent.
      points.push(structuredClone(point));
    },
  });

  return {
    async "well-known names the consumer of each accepted key and calls no model"() {
      for (const [key, name] of [[KEY, "owner"], [MOBILE_KEY, "mobile"], [WEB_KEY, "web"], [NEW_KEY, "partner"], [OLD_KEY, "partner"]]) {
        const { res, calls } = await send(wellKnown(key));
        assert.equal(res.status, 200, `${name}: ${await res.clone().text()}`);
        assert.deepEqual(await res.json(), { consumer: name });
        assert.equal(res.headers.get("access-control-allow-origin"), "*");
        assert.equal(calls.length, 0, `${name}: the well-known check called the model`);
      }
    },
    async "well-known without an accepted key is 401, other methods 405"() {
      for (const key of [null, "wrong-key", MOBILE_KEY.slice(0, -1)]) {
        const { res, calls } = await send(wellKnown(key));
        await errorOf(res, 401);
        assert.equal(calls.length, 0);
      }
      const post = await send(wellKnown(KEY, "POST"));
      await errorOf(post.res, 405);
      assert.equal(post.res.headers.get("allow"), "GET");
      assert.equal(post.calls.length, 0);
    },
    async "a consumer's key reaches the model; a wrong or removed one is 401"() {
      const ok = await send(good({ key: WEB_KEY }));
      assert.equal(ok.res.status, 200, await ok.res.clone().text());
      assert.ok(ok.calls.length >= 1);
      const removed = JSON.stringify({ v: 1, consumers: [{ name: "mobile", mac: consumerMac(MOBILE_KEY) }] });
      const gone = await send(good({ key: WEB_KEY }), { FLAREFORM_CONSUMERS: removed });
      await errorOf(gone.res, 401);
      assert.equal(gone.calls.length, 0);
      await errorOf((await send(good({ key: "web-key-0123456789abcdeg" }))).res, 401);
      // The table holds macs, not keys: presenting a mac is no key.
      await errorOf((await send(good({ key: consumerMac(WEB_KEY) }))).res, 401);
    },
    async "a consumer's previous key works until prev_expires, and not after"() {
      const past = new Date(Date.now() - 1000).toISOString();
      assert.equal((await send(good({ key: OLD_KEY }))).res.status, 200);
      await errorOf((await send(good({ key: OLD_KEY }), { FLAREFORM_CONSUMERS: table(past) })).res, 401);
      await errorOf((await send(good({ key: OLD_KEY }), { FLAREFORM_CONSUMERS: table("not a date") })).res, 401);
      assert.equal((await send(good({ key: NEW_KEY }), { FLAREFORM_CONSUMERS: table(past) })).res.status, 200);
    },
    async "a malformed table or salt refuses every consumer and keeps the owner"() {
      const entry = (fields) => JSON.stringify({ v: 1, consumers: [{ name: "web", mac: consumerMac(WEB_KEY), ...fields }] });
      const bad = {
        "not JSON": "{",
        "version 2": table().replace('"v":1', '"v":2'),
        "no list": '{"v":1}',
        "mac in capitals": entry({ mac: consumerMac(WEB_KEY).toUpperCase() }),
        "short mac": entry({ mac: consumerMac(WEB_KEY).slice(2) }),
        "name owner": entry({ name: "owner" }),
        "bad name": entry({ name: "Web" }),
        "bad limiter": entry({ limiter: "API_KEY" }),
        "bad prev_mac": entry({ prev_mac: "xyz" }),
        "a name twice": JSON.stringify({ v: 1, consumers: [{ name: "web", mac: consumerMac(WEB_KEY) }, { name: "web", mac: consumerMac(MOBILE_KEY) }] }),
      };
      for (const [what, value] of Object.entries(bad)) {
        const refused = await send(good({ key: WEB_KEY }), { FLAREFORM_CONSUMERS: value });
        assert.equal(refused.res.status, 401, `${what}: a consumer got in`);
        assert.equal(refused.calls.length, 0);
        assert.equal((await send(good(), { FLAREFORM_CONSUMERS: value })).res.status, 200, `${what}: the owner was refused`);
      }
      for (const [what, salt] of Object.entries({ missing: undefined, empty: "", short: SALT.slice(1), other: "0".repeat(64) })) {
        await errorOf((await send(good({ key: WEB_KEY }), { FLAREFORM_CONSUMER_SALT: salt })).res, 401);
        assert.equal((await send(good(), { FLAREFORM_CONSUMER_SALT: salt })).res.status, 200, `salt ${what}: the owner was refused`);
      }
    },
    async "a consumer is counted by its own limiter under its salted name, never its key"() {
      const own = [];
      const shared = [];
      const { res } = await send(good({ key: MOBILE_KEY }), { RATE_LIMITER_3_10: limiter(true, own), RATE_LIMITER: limiter(true, shared) });
      assert.equal(res.status, 200);
      assert.deepEqual(own, [{ key: limiterKeyOf("mobile") }]);
      assert.equal(shared.length, 0, "RATE_LIMITER also counted a consumer with a limiter of its own");
      assert.equal(await lib.auth.consumerLimiterKey("mobile", { FLAREFORM_CONSUMER_SALT: SALT }), limiterKeyOf("mobile"));
      // Both keys of a rotation share one counter: the name's.
      const partner = [];
      await send(good({ key: OLD_KEY }), { RATE_LIMITER: limiter(true, partner) });
      await send(good({ key: NEW_KEY }), { RATE_LIMITER: limiter(true, partner) });
      assert.deepEqual(partner, [{ key: limiterKeyOf("partner") }, { key: limiterKeyOf("partner") }]);
      const all = JSON.stringify([own, partner]);
      for (const secret of [MOBILE_KEY, OLD_KEY, NEW_KEY, "mobile", "partner"]) assert.ok(!all.includes(secret), `limiter saw ${secret}`);
    },
    async "a consumer's limiter saying no is 429 with its own period; the owner is not affected"() {
      const mobile = await send(good({ key: MOBILE_KEY }), { RATE_LIMITER_3_10: limiter(false), RATE_LIMITER: limiter(true), RATE_LIMIT_PERIOD: "60" });
      await errorOf(mobile.res, 429);
      assert.equal(mobile.res.headers.get("retry-after"), "10");
      assert.equal(mobile.calls.length, 0);
      const owner = await send(good(), { RATE_LIMITER_3_10: limiter(false), RATE_LIMITER: limiter(true) });
      assert.equal(owner.res.status, 200);
      const web = await send(good({ key: WEB_KEY }), { RATE_LIMITER_3_10: limiter(false), RATE_LIMITER: limiter(false), RATE_LIMIT_PERIOD: "60" });
      await errorOf(web.res, 429);
      assert.equal(web.res.headers.get("retry-after"), "60");
    },
    async "usage: one data point per request, whatever the answer"() {
      const points = [];
      const usage = { USAGE: recorder(points), FLAREFORM_WORKER: "my-api" };
      const cases = [
        [good(), {}, "owner", "2xx", 1],
        [good({ key: MOBILE_KEY }), {}, "mobile", "2xx", 1],
        [good({ key: "wrong" }), {}, "-", "401", 0],
        [request(config.path, { method: "GET" }), {}, "-", "4xx", 0],
        [request(config.path, { method: "OPTIONS", key: null }), {}, "-", "2xx", 0],
        [good({ key: WEB_KEY }), { RATE_LIMITER: limiter(false) }, "web", "429", 0],
        [good(), { AI_FAIL: "3040: model exploded" }, "owner", "5xx", 1],
        [good(), { AI_FAIL: "5006: Invalid input" }, "owner", "4xx", 1],
        [wellKnown(WEB_KEY), {}, "web", "2xx", 0],
      ];
      for (const [req, overrides, consumer, statusClass, aiCalls] of cases) {
        points.length = 0;
        const { res, calls } = await send(req, { ...usage, ...overrides });
        await res.arrayBuffer();
        assert.equal(points.length, 1, `${consumer} ${statusClass}: ${points.length} data points`);
        const [p] = points;
        assert.deepEqual(p.indexes, [consumer]);
        assert.equal(p.blobs.length, 4);
        assert.deepEqual([p.blobs[0], p.blobs[1], p.blobs[3]], ["my-api", consumer, statusClass], JSON.stringify(p));
        assert.equal(p.blobs[2], calls.length ? calls[0].model : "@cf/test/model");
        assert.equal(p.doubles.length, 3);
        assert.equal(p.doubles[0], 1);
        assert.ok(p.doubles[1] >= aiCalls && p.doubles[1] === calls.length, `ai_calls ${p.doubles[1]}, model saw ${calls.length}`);
        const text = JSON.stringify(p);
        for (const secret of [KEY, MOBILE_KEY, WEB_KEY, SALT, "a robot", "hello"]) assert.ok(!text.includes(secret), `data point holds ${secret}`);
      }
    },
    async "usage counts the answer's total_tokens"() {
      const points = [];
      const answer = async (model, inputs) => {
        const result = await config.answer(model, inputs);
        return result && typeof result === "object" && !(result instanceof ReadableStream) ? { ...result, usage: { total_tokens: 21 } } : result;
      };
      const { env, calls } = fakeEnv(answer, { ...(config.env ? config.env() : {}), USAGE: recorder(points) });
      const res = await worker.fetch(good(), env);
      assert.equal(res.status, 200);
      assert.equal(points.length, 1);
      const streamed = calls.some((c) => c.inputs && c.inputs.stream);
      if (!streamed && calls.length) assert.equal(points[0].doubles[2], 21 * calls.length);
    },
    async "usage never fails a request"() {
      const broken = { writeDataPoint() { throw new Error("analytics engine down"); } };
      assert.equal((await send(good(), { USAGE: broken })).res.status, 200);
      await errorOf((await send(good({ key: "wrong" }), { USAGE: broken })).res, 401);
    },
  };
}
