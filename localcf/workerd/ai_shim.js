// env.AI for locally run workers: a wrapped binding whose inner `backend`
// service is the local Workers AI stand-in (raw protocol: POST /run/<model>).
// The optional inner `config` (JSON set by localcf) names the account, which
// localcf needs to find an AI Gateway named in run(..., {gateway: {id}}).
//
// It behaves as workerd's own AI binding (src/cloudflare/internal/ai-api.ts) does where a
// worker can tell: the inputs go out as JSON.stringify(inputs) with no replacer, so a
// Uint8Array becomes an object {"0":137,"1":80,...} (which the model schemas refuse where
// they want an array: workers send [...bytes]); and only an answer labelled exactly
// application/json is parsed, anything else (images, event streams) is returned as the body.

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

// gatewayHeaders turns run()'s gateway option into the headers localcf's
// gateway reads: which gateway, and its per-request cache controls.
function gatewayHeaders(config, options) {
  const gateway = options && options.gateway;
  if (!gateway) return {};
  if (typeof gateway.id !== "string" || gateway.id === "") {
    throw new TypeError("AI.run: options.gateway.id must be a non-empty string");
  }
  const headers = { "cf-aig-gateway-id": gateway.id, "x-localcf-account": config.account ?? "" };
  if (gateway.skipCache) headers["cf-aig-skip-cache"] = "true";
  if (gateway.cacheTtl !== undefined) headers["cf-aig-cache-ttl"] = String(gateway.cacheTtl);
  return headers;
}

class Ai {
  #backend;
  #config;
  // aiGatewayLogId is the log id of the last request that went through a gateway, as on
  // Cloudflare's binding.
  aiGatewayLogId = null;

  constructor(backend, config) {
    this.#backend = backend;
    this.#config = config ?? {};
  }

  async run(model, inputs, options) {
    // The account lets localcf keep the call's neurons for the GraphQL Analytics API.
    const headers = {
      "content-type": "application/json",
      "x-localcf-account": this.#config.account ?? "",
      ...gatewayHeaders(this.#config, options),
    };
    let resp;
    try {
      resp = await this.#backend.fetch(`http://ai/run/${modelPath(model)}`, {
        method: "POST",
        headers,
        body: JSON.stringify(inputs ?? {}),
      });
    } catch (err) {
      // A network error escaping a fetch handler makes workerd drop the client
      // connection without a response; a plain Error becomes a normal 500.
      throw new Error(`Workers AI request failed: ${err && err.message ? err.message : err}`);
    }
    if (resp.headers.has("cf-aig-log-id")) this.aiGatewayLogId = resp.headers.get("cf-aig-log-id");
    if (resp.status !== 200) throw await failure(resp);
    // The real binding compares the whole header: "application/json; charset=utf-8" is a body.
    if (resp.headers.get("content-type") === "application/json") return await resp.json();
    return resp.body;
  }
}

export default function makeBinding(env) {
  return new Ai(env.backend, env.config);
}
