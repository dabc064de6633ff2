// env.AI for locally run workers: a wrapped binding whose inner `backend`
// service is the local Workers AI stand-in (raw protocol: POST /run/<model>).

// Typed arrays and ArrayBuffers become plain number arrays, the form Workers AI
// accepts for binary inputs such as images and audio.
function binaryAsArray(_key, value) {
  if (value instanceof ArrayBuffer) return Array.from(new Uint8Array(value));
  if (ArrayBuffer.isView(value)) {
    return Array.from(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
  }
  return value;
}

// Model names keep their slashes and "@"; anything else unusual is escaped.
function modelPath(model) {
  return String(model)
    .split("/")
    .map((part) => encodeURIComponent(part).replaceAll("%40", "@"))
    .join("/");
}

async function failure(resp) {
  const text = await resp.text();
  try {
    const first = JSON.parse(text).errors[0];
    return new Error(`${first.code}: ${first.message}`);
  } catch {
    return new Error(`${resp.status}: ${text || resp.statusText}`);
  }
}

class Ai {
  #backend;

  constructor(backend) {
    this.#backend = backend;
  }

  async run(model, inputs, _options) {
    let resp;
    try {
      resp = await this.#backend.fetch(`http://ai/run/${modelPath(model)}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(inputs ?? {}, binaryAsArray),
      });
    } catch (err) {
      // A network error escaping a fetch handler makes workerd drop the client
      // connection without a response; a plain Error becomes a normal 500.
      throw new Error(`Workers AI request failed: ${err && err.message ? err.message : err}`);
    }
    if (resp.status !== 200) throw await failure(resp);
    const type = (resp.headers.get("content-type") || "").toLowerCase();
    if (type.startsWith("application/json")) return await resp.json();
    return resp.body;
  }
}

export default function makeBinding(env) {
  return new Ai(env.backend);
}
