// env.RATE_LIMITER and env.VECTORIZE for locally run workers: wrapped bindings whose inner
// `backend` service is localcf and whose inner `config` (JSON set by localcf) names the account
// and the binding's target. Each call is one POST to localcf, which keeps the counters and the
// vectors.

async function failure(resp) {
  const text = await resp.text();
  try {
    const first = JSON.parse(text).errors[0];
    return new Error(`${first.message} (code = ${first.code})`);
  } catch {
    return new Error(`${resp.status}: ${text || resp.statusText}`);
  }
}

async function call(backend, path, body) {
  let resp;
  try {
    resp = await backend.fetch(`http://ai${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (err) {
    // A network error escaping a fetch handler makes workerd drop the client connection
    // without a response; a plain Error becomes a normal 500.
    throw new Error(`binding request failed: ${err && err.message ? err.message : err}`);
  }
  if (resp.status !== 200) throw await failure(resp);
  return await resp.json();
}

class RateLimiter {
  #backend;
  #config;

  constructor(backend, config) {
    this.#backend = backend;
    this.#config = config;
  }

  async limit(options) {
    const key = options && options.key;
    if (typeof key !== "string" || key === "") {
      throw new TypeError("RateLimiter.limit: options.key must be a non-empty string");
    }
    const { success } = await call(this.#backend, "/ratelimit", { ...this.#config, key });
    return { success };
  }
}

// Typed arrays become plain arrays so JSON carries every component.
function plainVector(v) {
  if (!v || typeof v !== "object") return v;
  const values = ArrayBuffer.isView(v.values) ? Array.from(v.values) : v.values;
  return { ...v, values };
}

function plainValues(values) {
  return ArrayBuffer.isView(values) ? Array.from(values) : values;
}

class VectorizeIndex {
  #backend;
  #config;

  constructor(backend, config) {
    this.#backend = backend;
    this.#config = config;
  }

  #op(op, args) {
    return call(this.#backend, `/vectorize/${op}`, { ...this.#config, ...args });
  }

  describe() {
    return this.#op("describe", {});
  }

  insert(vectors) {
    return this.#op("insert", { vectors: Array.from(vectors ?? [], plainVector) });
  }

  upsert(vectors) {
    return this.#op("upsert", { vectors: Array.from(vectors ?? [], plainVector) });
  }

  query(vector, options) {
    return this.#op("query", { vector: plainValues(vector), options: options ?? {} });
  }

  queryById(id, options) {
    return this.#op("query", { id, options: options ?? {} });
  }

  getByIds(ids) {
    return this.#op("getByIds", { ids });
  }

  deleteByIds(ids) {
    return this.#op("deleteByIds", { ids });
  }
}

export function ratelimit(env) {
  return new RateLimiter(env.backend, env.config);
}

export function vectorize(env) {
  return new VectorizeIndex(env.backend, env.config);
}
