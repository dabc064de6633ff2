import assert from "node:assert/strict";
import { KIB, PNG, errorOf, fakeEnv, paddedJSON, request } from "./fake.mjs";

const B64 = Buffer.from(PNG).toString("base64");
const URI = `data:image/png;base64,${B64}`;
const LLAVA = "@cf/llava-hf/llava-1.5-7b-hf";
const MOONDREAM = "@cf/moondream/moondream3.1-9B-A2B";

// answer plays each kind of vision model: LLaVA ({image, prompt} -> {description}), Moondream
// ({image: data URI, question} -> {answer}) and chat models in the OpenAI format (an image_url
// part -> choices[0].message.content).
function answer(model, inputs) {
  if (inputs.messages) {
    const [text, image] = inputs.messages[0].content;
    const bytes = Buffer.from(image.image_url.url.split(",")[1], "base64");
    const content = `an image of ${bytes.length} bytes; asked: ${text.text}`;
    return { choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }] };
  }
  if (model === MOONDREAM) {
    return { finish_reason: "stop", answer: `an image of ${Buffer.from(inputs.image.split(",")[1], "base64").length} bytes; asked: ${inputs.question}` };
  }
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
  const llava = { AI_MODEL: LLAVA };
  return {
    async "base64 JSON reaches LLaVA as a byte array with the prompt"() {
      const { calls } = await run(request("/", { body: { image: B64, prompt: "What is it?", max_tokens: 50 } }), llava);
      assert.deepEqual(calls[0].inputs, { image: Array.from(PNG), prompt: "What is it?", max_tokens: 50 });
    },
    async "LLaVA is the default and gets a plain array, never a Uint8Array"() {
      const { calls } = await run(request("/", { body: { image: B64 } }), { AI_MODEL: undefined });
      assert.equal(calls[0].model, LLAVA);
      assert.ok(Array.isArray(calls[0].inputs.image));
    },
    async "a chat model gets the image as an image_url data URI and answers {description}"() {
      const { res, calls } = await run(request("/", { body: { image: B64, prompt: "What is it?", max_tokens: 50 } }),
        { AI_MODEL: "@cf/google/gemma-4-26b-a4b-it" });
      assert.deepEqual(calls[0].inputs, {
        messages: [{ role: "user", content: [{ type: "text", text: "What is it?" }, { type: "image_url", image_url: { url: URI } }] }],
        max_tokens: 50,
      });
      assert.deepEqual(await res.json(), { description: `an image of ${PNG.length} bytes; asked: What is it?` });
    },
    async "Moondream gets a data URI and the question, not streamed"() {
      const { res, calls } = await run(request("/", { body: { image: B64, prompt: "What is it?" } }), { AI_MODEL: MOONDREAM });
      assert.deepEqual(calls[0].inputs, { task: "query", image: URI, question: "What is it?", reasoning: false, stream: false });
      assert.deepEqual(await res.json(), { description: `an image of ${PNG.length} bytes; asked: What is it?` });
    },
    async "a data: URL is accepted"() {
      const { res, calls } = await run(request("/", { body: { image: URI } }), llava);
      assert.equal(res.status, 200);
      assert.deepEqual(calls[0].inputs.image, Array.from(PNG));
    },
    async "raw image bytes with ?prompt= and ?max_tokens= reach the model"() {
      const { res, calls } = await run(request("/?prompt=Any%20robots%3F&max_tokens=16", { body: PNG, headers: { "content-type": "image/png" } }), llava);
      assert.equal(res.status, 200);
      assert.deepEqual(calls[0].inputs, { image: Array.from(PNG), prompt: "Any robots?", max_tokens: 16 });
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
      await errorOf((await run(request("/?max_tokens=many", { body: PNG, headers: { "content-type": "image/png" } }))).res, 400);
      assert.match(await errorOf((await run(request("/", { body: { image: B64, prompt: "x".repeat(11) } }), { MAX_PROMPT_CHARS: "10" })).res, 400), /10/);
      await errorOf((await run(request("/", { body: new Uint8Array(), headers: { "content-type": "image/jpeg" } }))).res, 400);
      await errorOf((await run(request("/", { body: "x", headers: { "content-type": "text/plain" } }))).res, 415);
    },
  };
}
