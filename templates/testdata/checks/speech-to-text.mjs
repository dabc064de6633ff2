import assert from "node:assert/strict";
import { KIB, errorOf, fakeEnv, request } from "./fake.mjs";

const AUDIO = new Uint8Array([0x52, 0x49, 0x46, 0x46, 1, 2, 3, 4, 0xff, 0]);
const WAV = { "content-type": "audio/wav" };

function answer(model, inputs) {
  return { text: `heard ${inputs.audio.length} bytes`, word_count: 3, words: [{ word: "heard", start: 0, end: 1 }], vtt: "WEBVTT\n\n" };
}

export const config = {
  path: "/",
  answer,
  good: () => ({ body: AUDIO, headers: WAV }),
  sized: (n) => ({ bytes: new Uint8Array(n).fill(7), headers: WAV }),
  cap: 4 * 1024 * KIB,
  async checkOK(res) {
    assert.deepEqual(await res.json(), { text: "heard 10 bytes", word_count: 3, vtt: "WEBVTT\n\n" });
  },
};

export function checks(worker) {
  const run = async (req, overrides = {}) => {
    const { env, calls } = fakeEnv(answer, overrides);
    return { res: await worker.fetch(req, env), calls };
  };
  const form = (name, value) => {
    const f = new FormData();
    f.append(name, value);
    return request("/", { body: f });
  };
  return {
    async "raw audio reaches Whisper as a byte array"() {
      const { res, calls } = await run(request("/", { body: AUDIO, headers: { "content-type": "audio/mpeg" } }));
      assert.equal(res.status, 200);
      assert.deepEqual(calls[0].inputs, { audio: Array.from(AUDIO) });
    },
    async "multipart field audio reaches Whisper"() {
      const { res, calls } = await run(form("audio", new Blob([AUDIO], { type: "audio/wav" })));
      assert.equal(res.status, 200, await res.clone().text());
      assert.deepEqual(calls[0].inputs, { audio: Array.from(AUDIO) });
    },
    async "multipart without a file field audio is 400"() {
      await errorOf((await run(form("sound", new Blob([AUDIO])))).res, 400);
      await errorOf((await run(form("audio", "not a file"))).res, 400);
    },
    async "other content types are 415, an empty body 400"() {
      await errorOf((await run(request("/", { body: "{}" }))).res, 415);
      await errorOf((await run(request("/", { body: "x", headers: { "content-type": "text/plain" } }))).res, 415);
      await errorOf((await run(request("/", { body: new Uint8Array(), headers: WAV }))).res, 400);
    },
  };
}
