import assert from "node:assert/strict";
import { KIB, errorOf, fakeEnv, paddedJSON, request, sse } from "./fake.mjs";

function answer(model, inputs) {
  if (inputs.stream) return sse(["Hello", " there", "."]);
  const text = inputs.prompt ?? inputs.messages.at(-1).content;
  return { response: `echo: ${text}`, usage: { total_tokens: 3 } };
}

export const config = {
  path: "/",
  answer,
  good: () => ({ body: { messages: [{ role: "user", content: "hi" }] } }),
  sized: (n) => ({ bytes: paddedJSON({ prompt: "a robot" }, n), headers: { "content-type": "application/json" } }),
  cap: 64 * KIB,
  async checkOK(res) {
    assert.match(res.headers.get("content-type"), /^application\/json/);
    assert.deepEqual(await res.json(), { response: "echo: hi" });
  },
};

export function checks(worker) {
  const run = async (body, overrides = {}) => {
    const { env, calls } = fakeEnv(answer, overrides);
    return { res: await worker.fetch(request("/", { body }), env), calls };
  };
  return {
    async "prompt form answers {response}"() {
      const { res, calls } = await run({ prompt: "a robot" });
      assert.deepEqual(await res.json(), { response: "echo: a robot" });
      assert.deepEqual(calls[0].inputs, { prompt: "a robot" });
    },
    async "messages reach the model without extra fields"() {
      const messages = [{ role: "system", content: "be brief" }, { role: "user", content: "hi", extra: 1 }];
      const { calls } = await run({ messages, max_tokens: 64 });
      assert.deepEqual(calls[0].inputs, { messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hi" }], max_tokens: 64 });
    },
    async "stream: true passes the model's events through, ending with [DONE]"() {
      const { res, calls } = await run({ messages: [{ role: "user", content: "hi" }], stream: true });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "text/event-stream");
      assert.equal(calls[0].inputs.stream, true);
      const events = (await res.text()).split("\n\n").filter(Boolean);
      assert.deepEqual(events.at(-1), "data: [DONE]");
      assert.deepEqual(JSON.parse(events[0].slice("data: ".length)), { response: "Hello" });
    },
    async "bad conversations are 400"() {
      await errorOf((await run({})).res, 400);
      await errorOf((await run({ messages: [] })).res, 400);
      await errorOf((await run({ messages: [{ role: "robot", content: "x" }] })).res, 400);
      await errorOf((await run({ messages: [{ role: "user", content: 5 }] })).res, 400);
      await errorOf((await run({ prompt: "x", stream: "yes" })).res, 400);
      await errorOf((await run({ prompt: "x", max_tokens: 0 })).res, 400);
      assert.match(await errorOf((await run({ prompt: "x".repeat(11) }, { MAX_PROMPT_CHARS: "10" })).res, 400), /10/);
      await errorOf((await run({ messages: [{ role: "user", content: "x".repeat(11) }] }, { MAX_PROMPT_CHARS: "10" })).res, 400);
    },
  };
}
