// Speech-to-text Worker: POST audio with `Authorization: Bearer <key>` and get
// {"text", "word_count"?, "vtt"?} back from Workers AI Whisper. Send the audio either as the
// raw body (Content-Type audio/*, e.g. audio/wav or audio/mpeg) or as multipart/form-data with
// the file in a field named `audio`.
//
// Uploads are capped at 4 MiB (MAX_MEDIA_BYTES in lib/http.js), not the 64 KiB of the JSON
// templates: a few seconds of audio is already larger than that.
//
// Bindings (set by flareform from flareform.yaml):
//   AI, AI_MODEL, AI_GATEWAY_ID        Workers AI, the model (default Whisper), the gateway
//   API_KEY, API_KEY_PREVIOUS(_EXPIRES) the caller's key (see lib/auth.js)
//   RATE_LIMITER, RATE_LIMIT_PERIOD    per-key rate limit (optional)
//   FLAREFORM_CONSUMERS(_SALT)         named consumers' keys and limits (see lib/auth.js)
//   USAGE, FLAREFORM_WORKER            a usage data point per request (see lib/usage.js)
//
// The method and key checks, rate limit, GET /.well-known/flareform, usage data points, body
// cap and error shapes live in ./lib (shared by every template).

import { byteArray, modelFailure, runModel } from "./lib/ai.js";
import { guard } from "./lib/auth.js";
import { MAX_MEDIA_BYTES, jsonError, jsonOK, mediaType, readBody } from "./lib/http.js";
import { withUsage } from "./lib/usage.js";

const DEFAULT_MODEL = "@cf/openai/whisper";

export default withUsage({
  async fetch(request, env) {
    const refused = await guard(request, env);
    if (refused) {
      return refused;
    }
    const audio = await readAudio(request);
    if (audio.error) {
      return jsonError(audio.status, audio.error);
    }
    try {
      const result = await runModel(env, DEFAULT_MODEL, { audio: byteArray(audio.bytes) });
      return jsonOK(transcript(result));
    } catch (err) {
      const failure = modelFailure(err, "transcription");
      return jsonError(failure.status, failure.error);
    }
  },
});

// readAudio returns {bytes} of the uploaded audio or {status, error}.
async function readAudio(request) {
  const type = mediaType(request);
  const isForm = type === "multipart/form-data";
  if (!isForm && !type.startsWith("audio/")) {
    return { status: 415, error: "send the audio as the body with Content-Type audio/* (e.g. audio/wav), or as multipart/form-data field \"audio\"" };
  }
  const body = await readBody(request, MAX_MEDIA_BYTES);
  if (body.error) {
    return body;
  }
  const bytes = isForm ? await formFile(body.bytes, request.headers.get("content-type"), "audio") : body.bytes;
  if (!bytes || bytes.length === 0) {
    return { status: 400, error: isForm ? 'the form has no non-empty file field "audio"' : "the audio body is empty" };
  }
  return { bytes };
}

// formFile parses an already size-capped multipart body and returns the bytes of field name.
async function formFile(bytes, contentType, name) {
  let form;
  try {
    form = await new Response(bytes, { headers: { "content-type": contentType } }).formData();
  } catch {
    return null;
  }
  const file = form.get(name);
  if (!file || typeof file === "string") return null;
  return new Uint8Array(await file.arrayBuffer());
}

// transcript keeps the fields callers need: the text, the word count and WebVTT captions.
function transcript(result) {
  const out = { text: result && typeof result.text === "string" ? result.text : "" };
  if (result && result.word_count !== undefined) out.word_count = result.word_count;
  if (result && result.vtt !== undefined) out.vtt = result.vtt;
  return out;
}
