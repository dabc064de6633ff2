import assert from "node:assert/strict";
import { KIB, PNG, errorOf, fakeEnv, paddedJSON, request } from "./fake.mjs";

const B64 = Buffer.from(PNG).toString("base64");

function answer(model, inputs) {
  return { description: `an image of ${inputs.image.length} bytes; asked: ${inputs.prompt}` };
}

export const config = {
  path: "/",
  answer,
  good: () => ({ body: { image: B64 } }),
  sized: (n) => ({ bytes: paddedJSON({ image: B64 }, n), headers: { "content-type": "application/json" } }),
  cap: 4 * 1024 * KIB,
  async checkOK(res) {
    assert.deepEqual(await res.json(), { description: `an image of ${PNG.length} bytes; asked: Describe this image.` });
  },
};

export function checks(worker) {
  const run = async (req, overrides = {}) => {
    const { env, calls } = fakeEnv(answer, overrides);
    return { res: await worker.fetch(req, env), calls };
  };
  return {
    async "base64 JSON reaches the model as bytes with the prompt"() {
      const { calls } = await run(request("/", { body: { image: B64, prompt: "What is it?", max_tokens: 50 } }));
      assert.deepEqual(calls[0].inputs, { image: Array.from(PNG), prompt: "What is it?", max_tokens: 50 });
    },
    async "a data: URL is accepted"() {
      const { res, calls } = await run(request("/", { body: { image: `data:image/png;base64,${B64}` } }));
      assert.equal(res.status, 200);
      assert.deepEqual(calls[0].inputs.image, Array.from(PNG));
    },
    async "raw image bytes with ?prompt= reach the model"() {
      const { res, calls } = await run(request("/?prompt=Any%20robots%3F", { body: PNG, headers: { "content-type": "image/png" } }));
      assert.equal(res.status, 200);
      assert.deepEqual(calls[0].inputs, { image: Array.from(PNG), prompt: "Any robots?" });
    },
    async "raw image body over 4 MiB is 413"() {
      const big = new Uint8Array(4 * 1024 * KIB + 1);
      await errorOf((await run(request("/", { body: big, headers: { "content-type": "image/png" } }))).res, 413);
    },
    async "bad requests are 400 or 415"() {
      await errorOf((await run(request("/", { body: {} }))).res, 400);
      await errorOf((await run(request("/", { body: { image: "not base64!" } }))).res, 400);
      await errorOf((await run(request("/", { body: { image: B64, prompt: 7 } }))).res, 400);
      await errorOf((await run(request("/", { body: { image: B64, max_tokens: 1.5 } }))).res, 400);
      assert.match(await errorOf((await run(request("/", { body: { image: B64, prompt: "x".repeat(11) } }), { MAX_PROMPT_CHARS: "10" })).res, 400), /10/);
      await errorOf((await run(request("/", { body: new Uint8Array(), headers: { "content-type": "image/jpeg" } }))).res, 400);
      await errorOf((await run(request("/", { body: "x", headers: { "content-type": "text/plain" } }))).res, 415);
    },
  };
}
