import assert from "node:assert/strict";
import { JPEG, KIB, PNG, errorOf, fakeEnv, paddedJSON, request } from "./fake.mjs";

function answer(model) {
  if (model === "@cf/test/jpeg") return JPEG;
  // The real binding answers image models with a ReadableStream of the bytes.
  if (model === "@cf/test/stream") return new Response(PNG).body;
  return PNG;
}

export const config = {
  path: "/",
  answer,
  good: () => ({ body: { prompt: "a robot" } }),
  sized: (n) => ({ bytes: paddedJSON({ prompt: "a robot" }, n), headers: { "content-type": "application/json" } }),
  cap: 64 * KIB,
  async checkOK(res) {
    assert.equal(res.headers.get("content-type"), "image/png");
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), PNG);
  },
};

export function checks(worker, lib) {
  const run = async (body, overrides = {}) => {
    const { env, calls } = fakeEnv(answer, overrides);
    return { res: await worker.fetch(request("/", { body }), env), calls };
  };
  return {
    async "inputs reach the model as sent"() {
      const body = { prompt: "a robot", num_steps: 4, seed: 7, width: 512, height: 256, negative_prompt: "blur" };
      const { res, calls } = await run(body);
      assert.equal(res.status, 200);
      assert.deepEqual(calls[0].inputs, body);
    },
    async "missing prompt, long prompt and bad numbers are 400"() {
      await errorOf((await run({ width: 512 })).res, 400);
      assert.match(await errorOf((await run({ prompt: "x".repeat(11) }, { MAX_PROMPT_CHARS: "10" })).res, 400), /10/);
      await errorOf((await run({ prompt: "x", width: "512" })).res, 400);
      await errorOf((await run({ prompt: "x", seed: -1 })).res, 400);
      await errorOf((await run("{not json")).res, 400);
    },
    async "JPEG from the model is served as image/jpeg"() {
      const { res } = await run({ prompt: "x" }, { AI_MODEL: "@cf/test/jpeg" });
      assert.equal(res.headers.get("content-type"), "image/jpeg");
      assert.deepEqual(new Uint8Array(await res.arrayBuffer()), JPEG);
    },
    async "streamed model output is sniffed and passed through"() {
      const { res } = await run({ prompt: "x" }, { AI_MODEL: "@cf/test/stream" });
      assert.equal(res.headers.get("content-type"), "image/png");
      assert.deepEqual(new Uint8Array(await res.arrayBuffer()), PNG);
    },
    async "image type comes from the bytes"() {
      assert.equal(lib.ai.imageType(PNG), "image/png");
      assert.equal(lib.ai.imageType(JPEG), "image/jpeg");
      assert.equal(lib.ai.imageType(JPEG.buffer), "image/jpeg");
      assert.equal(lib.ai.imageType(new Uint8Array([0x89, 0x50, 0x4e, 0x47])), "application/octet-stream");
      assert.equal(lib.ai.imageType(new Uint8Array([0x47, 0x49, 0x46, 0x38])), "application/octet-stream");
      assert.equal(lib.ai.imageType(new Uint8Array()), "application/octet-stream");
    },
  };
}
