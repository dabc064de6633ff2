// Workers AI helpers shared by every flareform template: running a model (through an AI
// Gateway when one is configured), which model failures are the caller's fault, and what kind
// of image some bytes are.
//
// Bindings it reads:
//   AI             Workers AI
//   AI_MODEL       model name (plain text); each template has a default
//   AI_GATEWAY_ID  AI Gateway to route model calls through (plain text, optional; spec key
//                  ai.gateway)

// Workers AI error codes that mean "the input was wrong" (docs: workers-ai/platform/errors):
// 3003 missing body, 5004 invalid base64 data, 5006 invalid input (schema validation).
const INPUT_ERROR_CODES = new Set(["3003", "5004", "5006"]);

// runModel calls env.AI.run with the configured model (or fallback), passing the gateway
// option only when AI_GATEWAY_ID is set: without a gateway the call is exactly the plain one.
export function runModel(env, fallback, inputs) {
  const model = env.AI_MODEL || fallback;
  const options = gatewayOptions(env);
  return options ? env.AI.run(model, inputs, options) : env.AI.run(model, inputs);
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

// imageType names the image format from its first bytes (PNG signature or JPEG start-of-image
// marker). Models differ: some documented as PNG send JPEG, so the bytes are the truth.
export function imageType(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (b.length >= png.length && png.every((v, i) => b[i] === v)) return "image/png";
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  return "application/octet-stream";
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
// of numbers 0..255.
export function byteArray(bytes) {
  return Array.from(bytes);
}
