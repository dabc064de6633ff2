// HTTP helpers shared by every flareform template: JSON answers and errors (with CORS headers,
// so browsers can read them too), size-capped body readers and the CORS preflight answer.

// MAX_BODY_BYTES caps request bodies. A prompt plus a few numbers fits in far less; the cap
// keeps a caller from making the Worker buffer (and pay CPU time for) megabytes of input.
export const MAX_BODY_BYTES = 64 * 1024;

// MAX_MEDIA_BYTES caps audio and image uploads (speech-to-text, image-to-text). 4 MiB holds
// about two minutes of 16 kHz mono WAV, or a photo; the JSON form carries the image as base64,
// a third larger, so a 3 MiB image still fits.
export const MAX_MEDIA_BYTES = 4 * 1024 * 1024;

export const CORS_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "POST, OPTIONS",
  "access-control-allow-headers": "authorization, content-type",
};

// preflight answers a CORS preflight (OPTIONS) request.
export function preflight() {
  return new Response(null, { status: 204, headers: CORS_HEADERS });
}

// jsonError is the one error shape every template answers: {"error": "<message>"}.
export function jsonError(status, message, headers = {}) {
  return Response.json({ error: message }, { status, headers: { ...CORS_HEADERS, ...headers } });
}

// jsonOK answers a successful JSON result.
export function jsonOK(value, headers = {}) {
  return Response.json(value, { headers: { ...CORS_HEADERS, ...headers } });
}

// readJSON reads the request body as JSON, at most maxBytes of it. It returns {value} or
// {status, error}: 413 when the body is too large, 400 when it is not JSON (hint says what
// JSON is expected).
export async function readJSON(request, { maxBytes = MAX_BODY_BYTES, hint = "body must be JSON" } = {}) {
  const body = await readBody(request, maxBytes);
  if (body.error) return body;
  try {
    return { value: JSON.parse(new TextDecoder().decode(body.bytes)) };
  } catch {
    return { status: 400, error: hint };
  }
}

// readBody reads the raw body, at most maxBytes of it: {bytes} or {status: 413, error}.
export async function readBody(request, maxBytes = MAX_BODY_BYTES) {
  const bytes = await readCapped(request, maxBytes);
  if (bytes === null) {
    return { status: 413, error: `body is larger than ${maxBytes} bytes` };
  }
  return { bytes };
}

// mediaType is the request's Content-Type without parameters, lower case ("" when absent).
export function mediaType(request) {
  return (request.headers.get("content-type") || "").split(";")[0].trim().toLowerCase();
}

// readCapped returns the body bytes, or null as soon as it is known to exceed maxBytes. The
// declared Content-Length is checked first so an honest oversized request is refused unread;
// the bytes are still counted while reading because a chunked body declares no length (and a
// declared length is only a claim).
export async function readCapped(request, maxBytes) {
  const declared = Number(request.headers.get("content-length"));
  if (declared > maxBytes) return null;
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      // Stop the upload instead of draining the rest of it.
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
