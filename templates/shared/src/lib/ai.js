// Workers AI helpers shared by every flareform template: which model failures are the
// caller's fault, and what kind of image a model returned.

// Workers AI error codes that mean "the input was wrong" (docs: workers-ai/platform/errors):
// 3003 missing body, 5004 invalid base64 data, 5006 invalid input (schema validation).
const INPUT_ERROR_CODES = new Set(["3003", "5004", "5006"]);

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
