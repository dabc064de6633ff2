// Workers AI helpers shared by every flareform template: running a model (through an AI
// Gateway when one is configured), which model failures are the caller's fault, what kind of
// image some bytes are, and reading text models' answers in either of the formats Workers AI
// models use (Workers AI's {"response"} and OpenAI's Chat Completions).
//
// Bindings it reads:
//   AI             Workers AI
//   AI_MODEL       model name (plain text); each template has a default
//   AI_GATEWAY_ID  AI Gateway to route model calls through (plain text, optional; spec key
//                  ai.gateway)
//
// Every call goes through runModel, so usage.js counts it (and its tokens) for the request's
// data point.

import { countModelCall } from "./usage.js";

// Workers AI error codes that mean "the input was wrong" (docs: workers-ai/platform/errors):
// 3003 missing body, 5004 invalid base64 data, 5006 invalid input (schema validation).
const INPUT_ERROR_CODES = new Set(["3003", "5004", "5006"]);

// runModel calls env.AI.run with the configured model (or fallback), passing the gateway
// option only when AI_GATEWAY_ID is set: without a gateway the call is exactly the plain one.
export function runModel(env, fallback, inputs) {
  const model = env.AI_MODEL || fallback;
  const options = gatewayOptions(env);
  return countModelCall(env, model, () => (options ? env.AI.run(model, inputs, options) : env.AI.run(model, inputs)));
}

// gatewayOptions is the third argument of env.AI.run for AI_GATEWAY_ID, or undefined. Caching
// and gateway rate limits are set on the gateway itself (spec ai.gateway), not per call.
export function gatewayOptions(env) {
  const id = typeof env.AI_GATEWAY_ID === "string" ? env.AI_GATEWAY_ID.trim() : "";
  return id ? { gateway: { id } } : undefined;
}

// modelFailure turns an error thrown by env.AI.run into {status, error}: 400 with the model's
// message when the input was rejected (the caller can fix it), 502 for everything else (the
// model or the platform failed). `what` names the operation, e.g. "image generation".
export function modelFailure(err, what) {
  const message = String(err && err.message ? err.message : err);
  if (isInputError(message)) {
    return { status: 400, error: `${what} rejected the input: ${message}` };
  }
  return { status: 502, error: `${what} failed: ${message}` };
}

// isInputError recognises the binding's "<code>: <message>" errors (the real binding's
// messages carry the code the same way, sometimes after a prefix such as "AiError: ") and
// messages that say the input is invalid.
export function isInputError(message) {
  const code = /(?:^|[\s:])(\d{4}):/.exec(message);
  if (code && INPUT_ERROR_CODES.has(code[1])) return true;
  return /\binvalid input\b/i.test(message);
}

// imageType names the image format from its first bytes (PNG signature, JPEG start-of-image
// marker, GIF or WebP header). Models differ: some documented as PNG send JPEG, so the bytes
// are the truth.
export function imageType(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const starts = (sig, at = 0) => b.length >= at + sig.length && [...sig].every((c, i) => b[at + i] === c.charCodeAt(0));
  if (starts("\x89PNG\r\n\x1a\n")) return "image/png";
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  if (starts("GIF87a") || starts("GIF89a")) return "image/gif";
  if (starts("RIFF") && starts("WEBP", 8)) return "image/webp";
  return "application/octet-stream";
}

// dataURI is an image as a base64 data: URI, the form chat models in the OpenAI format take
// an image in (an image_url content part).
export function dataURI(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return `data:${imageType(bytes)};base64,${btoa(binary)}`;
}

// answerText is the text of a model's answer, whichever format the model answers in:
// Workers AI's {"response"} (or {"description"}, {"answer"} of vision models) or OpenAI's
// {"choices": [{"message": {"content"}}]}. "" when there is none.
export function answerText(result) {
  if (!result || typeof result !== "object") return "";
  for (const field of ["response", "description", "answer"]) {
    if (typeof result[field] === "string") return result[field];
  }
  const content = result.choices && result.choices[0] && result.choices[0].message && result.choices[0].message.content;
  return typeof content === "string" ? content : "";
}

// chatAnswer is a text model's answer as the templates give it to their callers:
// {"response": text}, plus the model's token usage when it reports one.
export function chatAnswer(result) {
  const answer = { response: answerText(result) };
  if (result && typeof result === "object" && result.usage && typeof result.usage === "object") {
    answer.usage = result.usage;
  }
  return answer;
}

// chatEvents turns a text model's stream into the one the templates give their callers:
// data: {"response": "<text>"} events ending with data: [DONE]. Workers AI's own events
// ({"response": ...}) go through as they come; each OpenAI-style chat.completion.chunk
// becomes {"response": <choices[0].delta.content or "">} (with "usage" when the chunk has
// it); events that are neither are dropped. A model that answered JSON instead of a stream
// becomes one event and [DONE].
export function chatEvents(result) {
  const encoder = new TextEncoder();
  if (!(result instanceof ReadableStream)) {
    const text = `data: ${JSON.stringify(chatAnswer(result))}\n\ndata: [DONE]\n\n`;
    return new Response(encoder.encode(text)).body;
  }
  const decoder = new TextDecoder();
  let pending = "";
  const translate = (block, controller) => {
    const data = block
      .split(/\r?\n/)
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, ""))
      .join("\n");
    const out = translateEvent(data);
    if (out !== null) controller.enqueue(encoder.encode(`data: ${out}\n\n`));
  };
  return result.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        pending += decoder.decode(chunk, { stream: true });
        for (let end = pending.search(/\r?\n\r?\n/); end >= 0; end = pending.search(/\r?\n\r?\n/)) {
          const block = pending.slice(0, end);
          pending = pending.slice(end).replace(/^\r?\n\r?\n/, "");
          translate(block, controller);
        }
      },
      flush(controller) {
        pending += decoder.decode();
        if (pending.trim() !== "") translate(pending, controller);
      },
    }),
  );
}

// translateEvent maps one event's data to the templates' form, or null to drop it.
function translateEvent(data) {
  if (data === "") return null;
  if (data === "[DONE]") return data;
  let event;
  try {
    event = JSON.parse(data);
  } catch {
    return null;
  }
  if (!event || typeof event !== "object") return null;
  if (typeof event.response === "string") return data;
  if (!Array.isArray(event.choices) && !event.usage) return null;
  // Every chunk stays an event, its text "" when the delta has none (the role, or a reasoning
  // model thinking): a caller sees the stream is alive.
  const delta = Array.isArray(event.choices) && event.choices[0] && event.choices[0].delta;
  const text = delta && typeof delta.content === "string" ? delta.content : "";
  const out = { response: text };
  if (event.usage) out.usage = event.usage;
  return JSON.stringify(out);
}

// decodeBase64 returns the bytes of a base64 string (a data: URL prefix is allowed), or null
// when it is not base64.
export function decodeBase64(text) {
  const data = String(text).replace(/^data:[^,]*;base64,/, "").replace(/\s+/g, "");
  if (data === "" || !/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 === 1) return null;
  try {
    return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

// byteArray is the form Workers AI documents for binary inputs (audio, images): a plain array
// of numbers 0..255. Never pass a Uint8Array itself: the AI binding sends JSON.stringify of
// the inputs, which writes it as an object {"0": ..., "1": ...} that the models refuse.
export function byteArray(bytes) {
  return Array.from(bytes);
}
