// env.RATE_LIMITER, env.VECTORIZE and Analytics Engine datasets for locally run workers:
// wrapped bindings whose inner `backend` service is localcf and whose inner `config` (JSON set
// by localcf) names the account and the binding's target. Each call is one POST to localcf,
// which keeps the counters, the vectors and the data points.

// The runtime's own module behind `import { waitUntil } from "cloudflare:workers"`, which an
// internal module cannot import by that name. Its waitUntil keeps the current invocation alive
// until a data point is stored: without it, a write still in flight when the response is sent
// is cancelled.
import workers from "cloudflare-internal:workers";

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

// Analytics Engine limits (cloudflare-operations.md 3.2). The field checks and their
// TypeError messages are workerd's own (api/analytics-engine-impl.h), with the documented
// 16 KB blob total where that workerd still has 5120 bytes.
const AE_MAX_MEMBERS = 20;
const AE_MAX_INDEX_BYTES = 96;
const AE_MAX_BLOB_BYTES = 16 * 1024;
const AE_MAX_POINTS = 250;
const AE_PREFIX = "writeDataPoint(): ";

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

// aeBytes is a blob or index as the runtime measures it: an ArrayBuffer's bytes, else the
// UTF-8 of its string form.
function aeBytes(value) {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return utf8.encode(String(value));
}

// aeText carries a blob or index as a string (the SQL columns are strings); null stays null.
function aeText(value) {
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? value : utf8Decoder.decode(aeBytes(value));
}

function aeIndexes(indexes) {
  if (indexes === undefined) return [];
  const list = Array.from(indexes);
  if (list.length > 1) throw new TypeError(`${AE_PREFIX}Maximum of 1 indexes supported.`);
  if (list.length === 1 && list[0] != null && aeBytes(list[0]).length > AE_MAX_INDEX_BYTES) {
    throw new TypeError(`${AE_PREFIX}Size of indexes[0] exceeds ${AE_MAX_INDEX_BYTES} bytes).`);
  }
  return list.map(aeText);
}

function aeBlobs(blobs) {
  if (blobs === undefined) return [];
  const list = Array.from(blobs);
  if (list.length > AE_MAX_MEMBERS) throw new TypeError(`${AE_PREFIX}Maximum of ${AE_MAX_MEMBERS} blobs supported.`);
  let total = 0;
  for (const blob of list) {
    if (blob == null) continue;
    total += aeBytes(blob).length;
    if (total > AE_MAX_BLOB_BYTES) {
      throw new TypeError(`${AE_PREFIX}Cumulative size of blobs exceeds ${AE_MAX_BLOB_BYTES} bytes).`);
    }
  }
  return list.map(aeText);
}

function aeDoubles(doubles) {
  if (doubles === undefined) return [];
  const list = Array.from(doubles, Number);
  if (list.length > AE_MAX_MEMBERS) throw new TypeError(`${AE_PREFIX}Maximum of ${AE_MAX_MEMBERS} doubles supported.`);
  // JSON has no NaN or Infinity: they are stored as 0.
  return list.map((d) => (Number.isFinite(d) ? d : null));
}

class AnalyticsEngineDataset {
  #backend;
  #config;
  // #burst counts the points written since the isolate last ran its microtasks. The binding is
  // one object for every request of the isolate and cannot see which invocation calls it, but
  // a run without an await belongs to one invocation, so more than 250 there is surely over
  // the per-invocation limit. Points written across awaits are not counted together.
  #burst = 0;

  constructor(backend, config) {
    this.#backend = backend;
    this.#config = config;
  }

  writeDataPoint(event) {
    if (++this.#burst === 1) queueMicrotask(() => (this.#burst = 0));
    if (this.#burst > AE_MAX_POINTS) {
      throw new Error(`${AE_PREFIX}Maximum of ${AE_MAX_POINTS} data points per invocation exceeded.`);
    }
    const point = {
      indexes: aeIndexes(event?.indexes),
      blobs: aeBlobs(event?.blobs),
      doubles: aeDoubles(event?.doubles),
    };
    // Non-blocking, as on Cloudflare: the worker goes on; a failed store is only logged.
    const stored = call(this.#backend, "/analytics/write", { ...this.#config, ...point }).then(
      () => undefined,
      (err) => console.error(`Analytics Engine: data point not stored: ${err.message}`),
    );
    workers.waitUntil(stored);
  }
}

export function ratelimit(env) {
  return new RateLimiter(env.backend, env.config);
}

export function vectorize(env) {
  return new VectorizeIndex(env.backend, env.config);
}

export function analyticsEngine(env) {
  return new AnalyticsEngineDataset(env.backend, env.config);
}
