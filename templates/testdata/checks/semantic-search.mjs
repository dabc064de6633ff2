import assert from "node:assert/strict";
import { KIB, errorOf, fakeEnv, letterVector, paddedJSON, request } from "./fake.mjs";

function answer(model, inputs) {
  return { shape: [inputs.text.length, 26], data: inputs.text.map((t) => letterVector(t)) };
}

// fakeIndex is an in-memory Vectorize index with the binding's upsert and query shapes
// (cosine similarity, highest score first).
export function fakeIndex() {
  const vectors = new Map();
  return {
    vectors,
    async upsert(list) {
      for (const v of list) {
        assert.equal(v.values.length, 26, "vector of the wrong dimension");
        vectors.set(v.id, v);
      }
      return { mutationId: `m-${vectors.size}`, count: list.length };
    },
    async query(vector, { topK = 5, returnMetadata = false } = {}) {
      const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
      const matches = [...vectors.values()]
        .map((v) => ({ id: v.id, score: dot(vector, v.values), ...(returnMetadata ? { metadata: v.metadata } : {}) }))
        .sort((a, b) => b.score - a.score)
        .slice(0, topK);
      return { matches, count: matches.length };
    },
  };
}

export const config = {
  path: "/search",
  answer,
  env: () => ({ VECTORIZE: fakeIndex() }),
  good: () => ({ body: { query: "hello" } }),
  sized: (n) => ({ bytes: paddedJSON({ query: "a robot" }, n), headers: { "content-type": "application/json" } }),
  cap: 64 * KIB,
  async checkOK(res) {
    assert.deepEqual(await res.json(), { matches: [] });
  },
};

export function checks(worker) {
  const index = fakeIndex();
  const call = async (path, body, overrides = {}) => {
    const { env, calls } = fakeEnv(answer, { VECTORIZE: index, ...overrides });
    return { res: await worker.fetch(request(path, { body }), env), calls };
  };
  return {
    async "documents are embedded and stored with their text"() {
      const one = await call("/documents", { id: "cats", text: "cats purr and nap" });
      assert.deepEqual(await one.res.json(), { count: 1, ids: ["cats"], mutationId: "m-1" });
      const list = await call("/documents", [{ id: "dogs", text: "dogs bark loudly" }, { id: "sea", text: "waves crash on the shore" }]);
      assert.deepEqual((await list.res.json()).ids, ["dogs", "sea"]);
      assert.deepEqual(list.calls[0].inputs, { text: ["dogs bark loudly", "waves crash on the shore"] });
      const wrapped = await call("/documents", { documents: [{ id: "owls", text: "owls hoot at night" }] });
      assert.equal(wrapped.res.status, 200);
      assert.deepEqual(index.vectors.get("sea").metadata, { text: "waves crash on the shore" });
    },
    async "search returns the closest documents first with their text"() {
      const { res } = await call("/search", { query: "waves crash on the shore", topK: 2 });
      const { matches } = await res.json();
      assert.equal(matches.length, 2);
      assert.equal(matches[0].id, "sea");
      assert.equal(matches[0].text, "waves crash on the shore");
      assert.ok(matches[0].score >= matches[1].score);
    },
    async "unknown paths are 404, GET /documents 405"() {
      await errorOf((await call("/nope", { query: "x" })).res, 404);
      const { env } = fakeEnv(answer, { VECTORIZE: index });
      await errorOf(await worker.fetch(request("/documents", { method: "GET" }), env), 405);
    },
    async "bad documents and queries are 400"() {
      await errorOf((await call("/documents", [])).res, 400);
      await errorOf((await call("/documents", { text: "no id" })).res, 400);
      await errorOf((await call("/documents", { id: "x".repeat(65), text: "long id" })).res, 400);
      await errorOf((await call("/documents", [{ id: "a", text: "x" }, { id: "a", text: "y" }])).res, 400);
      await errorOf((await call("/documents", { id: "a", text: " " })).res, 400);
      await errorOf((await call("/documents", { id: "a", text: "x".repeat(11) }, { MAX_TEXT_CHARS: "10" })).res, 400);
      await errorOf((await call("/search", {})).res, 400);
      await errorOf((await call("/search", { query: "x", topK: 0 })).res, 400);
      await errorOf((await call("/search", { query: "x", topK: 21 })).res, 400);
    },
    async "a missing VECTORIZE binding is 500, a failing index 502"() {
      await errorOf((await call("/search", { query: "x" }, { VECTORIZE: undefined })).res, 500);
      const broken = { async query() { throw new Error("index gone"); }, async upsert() { throw new Error("index gone"); } };
      assert.match(await errorOf((await call("/search", { query: "x" }, { VECTORIZE: broken })).res, 502), /index gone/);
      await errorOf((await call("/documents", { id: "a", text: "x" }, { VECTORIZE: broken })).res, 502);
    },
  };
}
