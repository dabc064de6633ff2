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
  // fakeBucket records every put on an R2 binding; failWith makes put throw instead.
  const fakeBucket = (failWith) => {
    const puts = [];
    return {
      puts,
      async put(key, value, options) {
        if (failWith) throw new Error(failWith);
        puts.push({ key, bytes: new Uint8Array(value), options });
        return { key };
      },
    };
  };
  const runAt = async (path, body, overrides = {}) => {
    const { env, calls } = fakeEnv(answer, overrides);
    return { res: await worker.fetch(request(path, { body }), env), calls };
  };
  const KEY_PATTERN = /^images\/\d{4}-\d{2}-\d{2}\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(png|jpg)$/;
  return {
    async "store=1 keeps the picture in IMAGES and answers its key"() {
      const IMAGES = fakeBucket();
      const { res, calls } = await runAt("/?store=1", { prompt: "a robot" }, { IMAGES });
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type"), /^application\/json/);
      const stored = await res.json();
      assert.match(stored.key, KEY_PATTERN);
      assert.ok(stored.key.endsWith(".png"));
      assert.equal(stored.content_type, "image/png");
      assert.equal(stored.size, PNG.length);
      assert.equal(calls.length, 1);
      assert.equal(IMAGES.puts.length, 1);
      const put = IMAGES.puts[0];
      assert.equal(put.key, stored.key);
      assert.deepEqual(put.bytes, PNG);
      assert.equal(put.options.httpMetadata.contentType, "image/png");
      assert.equal(put.options.customMetadata.prompt, "a robot");
      const again = await (await runAt("/?store=1", { prompt: "a robot" }, { IMAGES })).res.json();
      assert.notEqual(again.key, stored.key, "every picture gets a key of its own");
    },
    async "store=1 keeps a JPEG as .jpg, and a long prompt's metadata is cut"() {
      const IMAGES = fakeBucket();
      const { res } = await runAt("/?store=1", { prompt: "é".repeat(900) }, { IMAGES, AI_MODEL: "@cf/test/jpeg" });
      const stored = await res.json();
      assert.match(stored.key, /\.jpg$/);
      assert.equal(stored.content_type, "image/jpeg");
      assert.ok(IMAGES.puts[0].options.customMetadata.prompt.length <= 256);
    },
    async "without store=1 the picture is the answer, also with IMAGES bound"() {
      for (const path of ["/", "/?store=0", "/?store=true", "/?other=1"]) {
        const IMAGES = fakeBucket();
        const { res } = await runAt(path, { prompt: "a robot" }, { IMAGES });
        assert.equal(res.status, 200, path);
        assert.equal(res.headers.get("content-type"), "image/png", path);
        assert.deepEqual(new Uint8Array(await res.arrayBuffer()), PNG, path);
        assert.equal(IMAGES.puts.length, 0, `${path} stored a picture`);
      }
    },
    async "store=1 without an IMAGES bucket is 501 before the model runs"() {
      const { res, calls } = await runAt("/?store=1", { prompt: "a robot" });
      assert.match(await errorOf(res, 501), /IMAGES.*r2:/);
      assert.equal(calls.length, 0);
    },
    async "store=1 when R2 fails is 500 with R2's message"() {
      const { res } = await runAt("/?store=1", { prompt: "a robot" }, { IMAGES: fakeBucket("bucket is gone") });
      assert.match(await errorOf(res, 500), /R2.*bucket is gone/);
    },
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
