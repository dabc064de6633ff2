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

// ---- Workers KV and R2 (localcf/kv.go, localcf/r2.go) ----
// A call's arguments and the binding's config travel as URI-encoded JSON in the x-localcf-call
// header, so a value or object body goes to localcf as its raw bytes (or stream) and comes back
// the same way; x-localcf-found and x-localcf-meta describe what a read found.

async function storageCall(backend, path, args, body, toError) {
  let resp;
  try {
    resp = await backend.fetch(`http://ai${path}`, {
      method: "POST",
      headers: { "x-localcf-call": encodeURIComponent(JSON.stringify(args)) },
      body: body ?? null,
    });
  } catch (err) {
    throw new Error(`binding request failed: ${err && err.message ? err.message : err}`);
  }
  if (resp.status !== 200) {
    const text = await resp.text();
    let first;
    try {
      first = JSON.parse(text).errors[0];
    } catch {
      first = { message: `${resp.status}: ${text || resp.statusText}` };
    }
    throw toError(first.message, first.code);
  }
  return resp;
}

function found(resp) {
  return resp.headers.get("x-localcf-found") === "1";
}

function readMeta(resp) {
  return JSON.parse(decodeURIComponent(resp.headers.get("x-localcf-meta") ?? "%7B%7D"));
}

// discard drops a response body nobody reads.
async function discard(resp) {
  if (resp.body) await resp.body.cancel();
}

function isBinary(v) {
  return v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}

const KV_TYPES = ["text", "json", "arrayBuffer", "stream"];
const KV_MAX_METADATA = 1024;

function kvError(message) {
  return new Error(message);
}

// kvType reads get()'s second argument: a type name or {type, cacheTtl}.
function kvType(options) {
  const type = typeof options === "string" ? options : (options?.type ?? "text");
  if (!KV_TYPES.includes(type)) {
    throw new TypeError('Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".');
  }
  const cacheTtl = typeof options === "object" && options !== null ? options.cacheTtl : undefined;
  if (cacheTtl !== undefined && !(Number(cacheTtl) >= 60)) {
    throw kvError(`KV GET failed: 400 Invalid cache_ttl of ${cacheTtl}. Cache TTL must be at least 60.`);
  }
  return type;
}

async function kvDecode(resp, type) {
  switch (type) {
    case "json":
      return JSON.parse(await resp.text());
    case "arrayBuffer":
      return resp.arrayBuffer();
    case "stream":
      return resp.body;
  }
  return resp.text();
}

class KVNamespace {
  #backend;
  #config;

  constructor(backend, config) {
    this.#backend = backend;
    this.#config = config;
  }

  #call(op, args, body) {
    return storageCall(this.#backend, `/kv/${op}`, { ...this.#config, ...args }, body, kvError);
  }

  async #read(key, options) {
    const type = kvType(options);
    const resp = await this.#call("get", { key: String(key) });
    if (!found(resp)) {
      await discard(resp);
      return { value: null, metadata: null };
    }
    const meta = readMeta(resp);
    return { value: await kvDecode(resp, type), metadata: meta.metadata ?? null };
  }

  // get(key, type|{type, cacheTtl}); an array of keys reads them all into a Map (text or json).
  async get(key, options) {
    if (Array.isArray(key)) {
      const type = kvType(options);
      if (type !== "text" && type !== "json") {
        throw new TypeError('KV GET of several keys supports only the types "text" and "json".');
      }
      const out = new Map();
      for (const k of key) out.set(k, (await this.#read(k, type)).value);
      return out;
    }
    return (await this.#read(key, options)).value;
  }

  async getWithMetadata(key, options) {
    const { value, metadata } = await this.#read(key, options);
    return { value, metadata, cacheStatus: null };
  }

  async put(key, value, options) {
    if (!(typeof value === "string" || isBinary(value) || value instanceof ReadableStream)) {
      throw new TypeError("KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.");
    }
    const args = { key: String(key) };
    if (options?.expiration !== undefined) args.expiration = Number(options.expiration);
    if (options?.expirationTtl !== undefined) args.expirationTtl = Number(options.expirationTtl);
    if (options?.metadata !== undefined && options.metadata !== null) {
      const json = JSON.stringify(options.metadata);
      const size = utf8.encode(json).length;
      if (size > KV_MAX_METADATA) {
        throw kvError(`KV PUT failed: 413 Metadata length of ${size} exceeds limit of ${KV_MAX_METADATA}.`);
      }
      args.metadata = options.metadata;
    }
    await discard(await this.#call("put", args, value));
  }

  async delete(key) {
    await discard(await this.#call("delete", { key: String(key) }));
  }

  async list(options) {
    const args = {};
    if (options?.prefix !== undefined && options.prefix !== null) args.prefix = String(options.prefix);
    if (options?.cursor !== undefined && options.cursor !== null) args.cursor = String(options.cursor);
    if (options?.limit !== undefined) args.limit = Number(options.limit);
    return (await this.#call("list", args)).json();
  }
}

// R2: httpMetadata fields and the header each stands for.
const R2_HTTP_FIELDS = [
  ["contentType", "content-type"],
  ["contentLanguage", "content-language"],
  ["contentDisposition", "content-disposition"],
  ["contentEncoding", "content-encoding"],
  ["cacheControl", "cache-control"],
  ["cacheExpiry", "expires"],
];

function r2Error(op) {
  return (message, code) => new Error(code === undefined ? `${op}: ${message}` : `${op}: ${message} (${code})`);
}

// httpMetadataOut turns put()'s httpMetadata (an object or Headers) into strings for localcf.
function httpMetadataOut(meta) {
  if (meta === undefined || meta === null) return undefined;
  const out = {};
  for (const [field, header] of R2_HTTP_FIELDS) {
    const v = meta instanceof Headers ? meta.get(header) : meta[field];
    if (v === undefined || v === null) continue;
    out[field] = v instanceof Date ? v.toUTCString() : String(v);
  }
  return out;
}

function hexToBuffer(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out.buffer;
}

function bufferToHex(buf) {
  const bytes = buf instanceof ArrayBuffer ? new Uint8Array(buf) : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

class R2Object {
  constructor(info) {
    this.key = info.key;
    this.version = info.version;
    this.size = info.size;
    this.etag = info.etag;
    this.httpEtag = info.httpEtag;
    this.uploaded = new Date(info.uploaded);
    this.storageClass = info.storageClass;
    const md5 = info.checksums?.md5;
    this.checksums = md5 ? { md5: hexToBuffer(md5), toJSON: () => ({ md5 }) } : { toJSON: () => ({}) };
    if (info.httpMetadata) {
      const http = { ...info.httpMetadata };
      if (http.cacheExpiry !== undefined) http.cacheExpiry = new Date(http.cacheExpiry);
      this.httpMetadata = http;
    }
    if (info.customMetadata) this.customMetadata = { ...info.customMetadata };
    if (info.range) this.range = info.range;
  }

  // writeHttpMetadata sets the object's HTTP metadata as headers (e.g. on a Response).
  writeHttpMetadata(headers) {
    for (const [field, header] of R2_HTTP_FIELDS) {
      const v = this.httpMetadata?.[field];
      if (v === undefined) continue;
      headers.set(header, v instanceof Date ? v.toUTCString() : v);
    }
  }
}

class R2ObjectBody extends R2Object {
  #resp;

  constructor(info, resp) {
    super(info);
    this.#resp = resp;
  }

  get body() {
    return this.#resp.body;
  }

  get bodyUsed() {
    return this.#resp.bodyUsed;
  }

  arrayBuffer() {
    return this.#resp.arrayBuffer();
  }

  text() {
    return this.#resp.text();
  }

  async json() {
    return JSON.parse(await this.#resp.text());
  }

  blob() {
    return this.#resp.blob();
  }
}

const R2_MAX_DELETE_KEYS = 1000;

class R2Bucket {
  #backend;
  #config;

  constructor(backend, config) {
    this.#backend = backend;
    this.#config = config;
  }

  #call(op, args, body) {
    return storageCall(this.#backend, `/r2/${op}`, { ...this.#config, ...args }, body, r2Error(op));
  }

  async head(key) {
    const resp = await this.#call("head", { key: String(key) });
    if (!found(resp)) {
      await discard(resp);
      return null;
    }
    return new R2Object(await resp.json());
  }

  // get(key, {range: {offset, length} | {suffix}}): an R2ObjectBody, or null.
  async get(key, options) {
    const args = { key: String(key) };
    if (options?.range !== undefined) args.range = options.range;
    const resp = await this.#call("get", args);
    if (!found(resp)) {
      await discard(resp);
      return null;
    }
    return new R2ObjectBody(readMeta(resp), resp);
  }

  async put(key, value, options) {
    let body = value;
    if (value === null || value === undefined) body = null;
    else if (typeof value === "string" || isBinary(value) || value instanceof ReadableStream) body = value;
    else if (value instanceof Blob) body = value.stream();
    else {
      throw new TypeError("put: the value must be a ReadableStream, ArrayBuffer, ArrayBufferView, string, Blob or null.");
    }
    const args = { key: String(key) };
    const http = httpMetadataOut(options?.httpMetadata);
    if (http) args.httpMetadata = http;
    if (options?.customMetadata) {
      args.customMetadata = Object.fromEntries(Object.entries(options.customMetadata).map(([k, v]) => [k, String(v)]));
    }
    if (options?.md5 !== undefined) args.md5 = typeof options.md5 === "string" ? options.md5 : bufferToHex(options.md5);
    const resp = await this.#call("put", args, body);
    return new R2Object(await resp.json());
  }

  async delete(keys) {
    const list = Array.isArray(keys) ? keys.map(String) : [String(keys)];
    if (list.length > R2_MAX_DELETE_KEYS) {
      throw new Error(`delete: You can delete at most ${R2_MAX_DELETE_KEYS} objects at once. (10001)`);
    }
    await discard(await this.#call("delete", { keys: list }));
  }

  // list({prefix, limit, cursor, delimiter, startAfter, include}): httpMetadata and
  // customMetadata only with include, as on Cloudflare since compatibility date 2022-08-04.
  async list(options) {
    const args = {};
    for (const name of ["prefix", "cursor", "delimiter", "startAfter"]) {
      if (options?.[name] !== undefined && options[name] !== null) args[name] = String(options[name]);
    }
    if (options?.limit !== undefined) args.limit = Number(options.limit);
    if (options?.include !== undefined) args.include = Array.from(options.include, String);
    const page = await (await this.#call("list", args)).json();
    const out = {
      objects: page.objects.map((info) => new R2Object(info)),
      truncated: page.truncated,
      delimitedPrefixes: page.delimitedPrefixes,
    };
    if (page.truncated) out.cursor = page.cursor;
    return out;
  }
}

export function kvNamespace(env) {
  return new KVNamespace(env.backend, env.config);
}

export function r2Bucket(env) {
  return new R2Bucket(env.backend, env.config);
}
