import assert from "node:assert/strict";
import { KIB, errorOf, fakeEnv, paddedJSON, request, sse } from "./fake.mjs";

// OpenAI is a model answering in the OpenAI Chat Completions format, as
// @cf/zai-org/glm-4.7-flash and @cf/google/gemma-4-26b-a4b-it do.
const OPENAI = "@cf/test/openai";

function answer(model, inputs) {
  const text = inputs.prompt ?? inputs.messages.at(-1).content;
  if (model === OPENAI) {
    if (inputs.stream) return openAIStream(["Hello", " there", "."]);
    return {
      id: "chatcmpl-1", object: "chat.completion", created: 1, model,
      choices: [{ index: 0, message: { role: "assistant", content: `echo: ${text}` }, finish_reason: "stop" }],
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    };
  }
  if (inputs.stream) return sse(["Hello", " there", "."]);
  return { response: `echo: ${text}`, usage: { total_tokens: 3 } };
}

// openAIStream is an OpenAI-style stream: a role chunk, one chunk per token, a last chunk with
// finish_reason, a usage chunk, then [DONE]; split at odd places, as a network may.
function openAIStream(tokens) {
  const chunk = (choices, extra = {}) => `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: OPENAI, choices, ...extra })}\r\n\r\n`;
  let text = chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]);
  for (const t of tokens) text += chunk([{ index: 0, delta: { content: t }, finish_reason: null }]);
  text += chunk([{ index: 0, delta: {}, finish_reason: "stop" }]);
  text += chunk([], { usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 } });
  text += ": keep-alive comment\r\n\r\ndata: [DONE]\r\n\r\n";
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.slice(i, i + 7));
      controller.close();
    },
  });
}

export const config = {
  path: "/",
  answer,
  good: () => ({ body: { messages: [{ role: "user", content: "hi" }] } }),
  sized: (n) => ({ bytes: paddedJSON({ prompt: "a robot" }, n), headers: { "content-type": "application/json" } }),
  cap: 64 * KIB,
  async checkOK(res) {
    assert.match(res.headers.get("content-type"), /^application\/json/);
    assert.deepEqual(await res.json(), { response: "echo: hi", usage: { total_tokens: 3 } });
  },
};

// events reads a text/event-stream answer into its data payloads.
async function events(res) {
  return (await res.text()).split("\n\n").filter(Boolean).map((e) => {
    assert.ok(e.startsWith("data: "), `event ${JSON.stringify(e)} is not a data: event`);
    return e.slice("data: ".length);
  });
}

export function checks(worker) {
  const run = async (body, overrides = {}) => {
    const { env, calls } = fakeEnv(answer, overrides);
    return { res: await worker.fetch(request("/", { body }), env), calls };
  };
  return {
    async "prompt form answers {response} with the model's usage"() {
      const { res, calls } = await run({ prompt: "a robot" });
      assert.deepEqual(await res.json(), { response: "echo: a robot", usage: { total_tokens: 3 } });
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
      assert.deepEqual(await events(res), ['{"response":"Hello"}', '{"response":" there"}', '{"response":"."}', "[DONE]"]);
    },
    async "an OpenAI-format model answers the same {response} and usage"() {
      const { res, calls } = await run({ messages: [{ role: "user", content: "hi" }], max_tokens: 8 }, { AI_MODEL: OPENAI });
      assert.deepEqual(calls[0].inputs, { messages: [{ role: "user", content: "hi" }], max_tokens: 8 });
      assert.deepEqual(await res.json(), { response: "echo: hi", usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } });
    },
    async "an OpenAI-format stream becomes {response} events ending with [DONE]"() {
      const { res } = await run({ prompt: "hi", stream: true }, { AI_MODEL: OPENAI });
      assert.equal(res.headers.get("content-type"), "text/event-stream");
      const got = (await events(res)).map((e) => (e === "[DONE]" ? e : JSON.parse(e)));
      assert.deepEqual(got, [
        { response: "" },
        { response: "Hello" },
        { response: " there" },
        { response: "." },
        { response: "" },
        { response: "", usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 } },
        "[DONE]",
      ]);
    },
    async "a model that answers JSON to stream: true still gives a stream"() {
      const { res } = await run({ prompt: "hi", stream: true }, { AI: { run: async () => ({ response: "whole" }) } });
      assert.deepEqual(await events(res), ['{"response":"whole"}', "[DONE]"]);
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
