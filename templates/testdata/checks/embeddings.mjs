import assert from "node:assert/strict";
import { KIB, errorOf, fakeEnv, letterVector, paddedJSON, request } from "./fake.mjs";

function answer(model, inputs) {
  return { shape: [inputs.text.length, 26], data: inputs.text.map((t) => letterVector(t)), pooling: "mean" };
}

export const config = {
  path: "/",
  answer,
  good: () => ({ body: { text: "hello" } }),
  sized: (n) => ({ bytes: paddedJSON({ text: ["a robot"] }, n), headers: { "content-type": "application/json" } }),
  cap: 64 * KIB,
  async checkOK(res) {
    const body = await res.json();
    assert.deepEqual(body, { shape: [1, 26], data: [letterVector("hello")] });
  },
};

export function checks(worker) {
  const run = async (body, overrides = {}) => {
    const { env, calls } = fakeEnv(answer, overrides);
    return { res: await worker.fetch(request("/", { body }), env), calls };
  };
  return {
    async "a string and a list both reach the model as a list"() {
      assert.deepEqual((await run({ text: "one" })).calls[0].inputs, { text: ["one"] });
      const { res, calls } = await run({ text: ["one", "two"] });
      assert.deepEqual(calls[0].inputs, { text: ["one", "two"] });
      const body = await res.json();
      assert.deepEqual(body.shape, [2, 26]);
      assert.equal(body.data.length, 2);
    },
    async "bad texts are 400"() {
      await errorOf((await run({})).res, 400);
      await errorOf((await run({ text: [] })).res, 400);
      await errorOf((await run({ text: ["ok", ""] })).res, 400);
      await errorOf((await run({ text: [1] })).res, 400);
      await errorOf((await run(["x"])).res, 400);
      assert.match(await errorOf((await run({ text: ["a", "b", "c"] }, { MAX_TEXTS: "2" })).res, 400), /2/);
    },
  };
}
