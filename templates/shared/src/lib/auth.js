// Who may call a flareform template: the method check, the Bearer-key check (the owner's key
// and the named consumers' keys), the per-caller rate limit and GET /.well-known/flareform,
// shared by every template (flareform init writes this file into src/lib/ next to the worker;
// esbuild bundles it in).
//
// Bindings it reads:
//   API_KEY                  the owner's key (secret); also the owner's rate limiter salt
//                            (see limiterKey)
//   API_KEY_PREVIOUS         the owner's key before the last rotation (secret, optional)
//   API_KEY_PREVIOUS_EXPIRES ISO date until which API_KEY_PREVIOUS is still accepted
//   FLAREFORM_CONSUMERS      the consumer table, JSON (secret, optional; docs/consumers.md)
//   FLAREFORM_CONSUMER_SALT  64 hex digits, the HMAC key of the table's macs (secret)
//   RATE_LIMITER             Workers rate limiting binding (optional; spec key rate_limit):
//                            the owner's, and any consumer's without a limiter of its own
//   RATE_LIMIT_PERIOD        RATE_LIMITER's period in seconds (10 or 60), sent as Retry-After
//   RATE_LIMITER_<N>_<P>     a consumer's own limiter (N calls per P seconds)
//
// The owner's key rules are those of docs/rotation.md: API_KEY is always accepted;
// API_KEY_PREVIOUS only while Date.now() < Date.parse(API_KEY_PREVIOUS_EXPIRES), so a past or
// unparsable expiry closes the window without any command having to run. A consumer's
// prev_mac follows the same rule with its prev_expires.

import { jsonError, jsonOK, preflight } from "./http.js";

// WELL_KNOWN_PATH answers which consumer a key belongs to, without a model call: apply checks
// every new or rotated key through it before it reports success.
export const WELL_KNOWN_PATH = "/.well-known/flareform";

// OWNER is the consumer name of the owner's key (API_KEY); the spec reserves it.
export const OWNER = "owner";

// callers maps each accepted request to its consumer name. Keyed by the Request itself, so
// concurrent requests in one isolate never see each other's caller, and nothing outlives the
// request.
const callers = new WeakMap();

// consumerOf is the name of the consumer whose key the request carried ("owner" for the
// owner's key), or null when no key was accepted (yet). Templates may log it; never log the key.
export function consumerOf(request) {
  return callers.get(request) ?? null;
}

// guard returns null when the request may go on, or the Response to send: the CORS preflight
// for OPTIONS, 405 for a method not in `methods`, 401/500 from requireKey, 429 from rateLimit,
// and the whole answer to GET /.well-known/flareform (so no template ever reaches its model on
// that path). After null, consumerOf(request) names the caller.
export async function guard(request, env, { methods = ["POST"] } = {}) {
  if (new URL(request.url).pathname === WELL_KNOWN_PATH) {
    return wellKnown(request, env);
  }
  if (request.method === "OPTIONS") {
    return preflight();
  }
  if (!methods.includes(request.method)) {
    return jsonError(405, `use ${methods.join(" or ")}`, { allow: methods.join(", ") });
  }
  return (await requireKey(request, env)) || (await rateLimit(request, env));
}

// wellKnown answers GET /.well-known/flareform: 200 {"consumer": "<name>"} for an accepted
// key, else requireKey's 401 (or 500). It is not rate limited: it costs no model call, and a
// busy consumer's full counter must not make apply's key check fail.
async function wellKnown(request, env) {
  if (request.method === "OPTIONS") {
    return preflight();
  }
  if (request.method !== "GET") {
    return jsonError(405, "use GET", { allow: "GET" });
  }
  const refused = await requireKey(request, env);
  return refused || jsonOK({ consumer: consumerOf(request) });
}

// requireKey returns null when the request carries an accepted key (and records its consumer
// for consumerOf), or the error Response to send: 500 when no owner key is configured (fail
// closed), 401 otherwise.
export async function requireKey(request, env, headers = {}) {
  if (!env.API_KEY) {
    return jsonError(500, "API_KEY is not configured on this Worker", headers);
  }
  const consumer = await identify(request.headers.get("authorization"), env);
  if (consumer === null) {
    return jsonError(401, "missing or invalid API key", { ...headers, "www-authenticate": "Bearer" });
  }
  callers.set(request, consumer.name);
  return null;
}

// rateLimit returns null when the caller's limiter is absent or lets it through, else a 429
// with Retry-After (the limiter's period). The owner is counted by env.RATE_LIMITER under
// limiterKey of the presented key, as before consumers existed; a consumer by env[limiter]
// from the table, or env.RATE_LIMITER without one, under consumerLimiterKey of its name. The
// limiter never sees (or logs) a key.
export async function rateLimit(request, env) {
  const name = consumerOf(request);
  const entry = name && name !== OWNER ? findConsumer(env, name) : null;
  let binding = env.RATE_LIMITER;
  let period = String(env.RATE_LIMIT_PERIOD) === "10" ? "10" : "60";
  if (entry && entry.limiter && env[entry.limiter]) {
    binding = env[entry.limiter];
    period = entry.period;
  }
  if (!binding) return null;
  let outcome;
  try {
    const key = entry
      ? await consumerLimiterKey(entry.name, env)
      : await limiterKey(bearerToken(request.headers.get("authorization")) || "", env);
    outcome = await binding.limit({ key });
  } catch {
    // The limiter is a soft, per-location counter; its failure must not take the API down.
    return null;
  }
  if (outcome && outcome.success === false) {
    return jsonError(429, `too many requests; retry after ${period} seconds`, { "retry-after": period });
  }
  return null;
}

// LIMITER_DOMAIN separates limiter keys from any other HMAC made with the same secret.
const LIMITER_DOMAIN = "flareform rate limit\0";

// limiterKey is the name the rate limiter counts the owner under: the first 32 hex digits (16
// bytes) of HMAC-SHA-256(key = env.API_KEY, message = LIMITER_DOMAIN + presented key).
//
// A plain hash of the presented key would be the same on every worker, so whoever sees two
// workers' limiter keys (logs, a shared namespace) could tell that one caller uses both, and
// could test a guessed key offline. Salting it with a secret of this worker stops both. The
// worker's own API_KEY is that secret: it is secret, differs from worker to worker, and is
// already there, so there is no new secret to create, store or rotate. It changes when the key
// is rotated, which only starts every caller's counter afresh, as the end of a window does
// (callers still on the previous key during the grace window are counted under the new salt).
export async function limiterKey(presented, env) {
  return (await hmacHex(String(env.API_KEY), LIMITER_DOMAIN + presented)).slice(0, 32);
}

// consumerLimiterKey is the name a consumer is counted under: the first 32 hex digits of
// HMAC-SHA-256(key = FLAREFORM_CONSUMER_SALT, message = LIMITER_DOMAIN + "consumer\0" + name).
// Its name, not its key, so both keys of a rotation share one counter; salted, so the name
// cannot be read back from the limiter, nor linked across workers.
export async function consumerLimiterKey(name, env) {
  return (await hmacHex(String(env.FLAREFORM_CONSUMER_SALT), LIMITER_DOMAIN + "consumer\0" + name)).slice(0, 32);
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header, or null.
export function bearerToken(header) {
  const match = /^Bearer\s+(.+)$/i.exec(header || "");
  return match ? match[1].trim() : null;
}

// authorized accepts the owner's current key, its previous one until the grace window ends,
// or a consumer's key (see identify).
export async function authorized(header, env) {
  return (await identify(header, env)) !== null;
}

// identify returns {name} of the caller whose key the header carries ("owner" for the owner's
// keys), or null. Every key is compared every time (the owner's two, then each consumer's mac
// and prev_mac), with no early exit, so the timing does not reveal which one matched.
export async function identify(header, env) {
  const given = bearerToken(header);
  if (given === null) return null;
  const current = await sameSecret(given, env.API_KEY);
  const previous = env.API_KEY_PREVIOUS ? await sameSecret(given, env.API_KEY_PREVIOUS) : false;
  const graceOpen = Date.now() < Date.parse(env.API_KEY_PREVIOUS_EXPIRES || "");
  const consumer = await matchConsumer(given, env);
  if (current || (previous && graceOpen)) return { name: OWNER };
  return consumer;
}

// CONSUMER_DOMAIN separates the consumer macs from any other HMAC made with the salt.
const CONSUMER_DOMAIN = "flareform consumer key\0";

// matchConsumer returns the table entry whose mac (or prev_mac, before prev_expires) is
// HMAC-SHA-256(salt, CONSUMER_DOMAIN + given), or null. No table, a malformed one or a
// missing salt accepts no consumer: a broken secret must close the door, never open it.
async function matchConsumer(given, env) {
  const table = consumerTable(env);
  if (table.length === 0 || !SALT.test(String(env.FLAREFORM_CONSUMER_SALT || ""))) return null;
  const mac = await hmacHex(String(env.FLAREFORM_CONSUMER_SALT), CONSUMER_DOMAIN + given);
  const now = Date.now();
  let found = null;
  for (const entry of table) {
    const current = sameHex(mac, entry.mac);
    const previous = entry.prevMac !== "" && sameHex(mac, entry.prevMac) && now < entry.prevExpires;
    if ((current || previous) && found === null) found = entry;
  }
  return found;
}

// findConsumer returns the table entry named name, or null.
function findConsumer(env, name) {
  return consumerTable(env).find((entry) => entry.name === name) || null;
}

const SALT = /^[0-9a-fA-F]{64}$/;
const MAC = /^[0-9a-f]{64}$/;
const NAME = /^[a-z0-9_-]{1,32}$/;
const LIMITER = /^RATE_LIMITER_([0-9]+)_([0-9]+)$/;

// tableCache holds the parsed FLAREFORM_CONSUMERS of this isolate, keyed by the secret's value
// so a new upload (a new isolate, or a new value) is parsed afresh and every other request
// skips the JSON parse.
let tableCache = { source: undefined, table: [] };

// consumerTable is the list of consumers of env.FLAREFORM_CONSUMERS: [] when there is none or
// it is malformed.
function consumerTable(env) {
  const source = env.FLAREFORM_CONSUMERS;
  if (source === undefined || source === null || source === "") return [];
  if (tableCache.source !== source) {
    tableCache = { source, table: parseConsumers(source) };
  }
  return tableCache.table;
}

// parseConsumers reads the table of docs/consumers.md. Anything off (not JSON, another
// version, a bad name, mac or limiter, a name twice) rejects the whole table: guessing at a
// half-broken table could let the wrong key in, and the owner's key still works meanwhile.
export function parseConsumers(source) {
  let doc;
  try {
    doc = typeof source === "string" ? JSON.parse(source) : source;
  } catch {
    return [];
  }
  if (!doc || typeof doc !== "object" || doc.v !== 1 || !Array.isArray(doc.consumers)) return [];
  const seen = new Set();
  const table = [];
  for (const c of doc.consumers) {
    if (!c || typeof c !== "object") return [];
    const { name, mac, prev_mac: prevMac, prev_expires: prevExpires, limiter } = c;
    if (typeof name !== "string" || !NAME.test(name) || name === OWNER || seen.has(name)) return [];
    if (typeof mac !== "string" || !MAC.test(mac)) return [];
    if (prevMac !== undefined && (typeof prevMac !== "string" || !MAC.test(prevMac))) return [];
    if (prevExpires !== undefined && typeof prevExpires !== "string") return [];
    let period = "60";
    if (limiter !== undefined) {
      const m = typeof limiter === "string" ? LIMITER.exec(limiter) : null;
      if (!m) return [];
      period = m[2] === "10" ? "10" : "60";
    }
    seen.add(name);
    table.push({
      name,
      mac,
      prevMac: prevMac || "",
      // An unparsable or absent date is NaN: the previous key's window is closed.
      prevExpires: Date.parse(prevExpires || ""),
      limiter: limiter || "",
      period,
    });
  }
  return table;
}

// hmacKeys caches the imported HMAC keys of this isolate by secret (the salt, API_KEY): the
// import is the same work on every request.
const hmacKeys = new Map();

// hmacHex is lowercase hex of HMAC-SHA-256(key = UTF-8 bytes of secret, message).
async function hmacHex(secret, message) {
  const enc = new TextEncoder();
  let key = hmacKeys.get(secret);
  if (!key) {
    key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    // Few secrets per worker (API_KEY, the salt); the bound keeps a stream of rotations from
    // growing the map.
    if (hmacKeys.size >= 8) hmacKeys.clear();
    hmacKeys.set(secret, key);
  }
  const mac = await crypto.subtle.sign("HMAC", key, enc.encode(message));
  return Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, "0")).join("");
}

// sameHex compares two 64-digit hex strings in constant time: every digit is looked at, the
// XOR accumulator never stops at the first difference.
function sameHex(a, b) {
  let diff = a.length ^ b.length;
  for (let i = 0; i < 64; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

// sameSecret compares in constant time: hashing first gives both sides the same length, and
// the XOR accumulator looks at every byte instead of stopping at the first difference.
export async function sameSecret(a, b) {
  const enc = new TextEncoder();
  const [ha, hb] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(a)),
    crypto.subtle.digest("SHA-256", enc.encode(String(b))),
  ]);
  const x = new Uint8Array(ha);
  const y = new Uint8Array(hb);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}
