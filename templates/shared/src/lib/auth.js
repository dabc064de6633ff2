// Who may call a flareform template: the method check, the Bearer-key check and the per-key
// rate limit, shared by every template (flareform init writes this file into src/lib/ next to
// the worker; esbuild bundles it in).
//
// Bindings it reads:
//   API_KEY                  the key callers must present (secret); also the rate limiter's
//                            salt (see limiterKey)
//   API_KEY_PREVIOUS         the key before the last rotation (secret, optional)
//   API_KEY_PREVIOUS_EXPIRES ISO date until which API_KEY_PREVIOUS is still accepted
//   RATE_LIMITER             Workers rate limiting binding (optional; spec key rate_limit)
//   RATE_LIMIT_PERIOD        the limiter's period in seconds (10 or 60), sent as Retry-After
//
// The key rules are those of docs/rotation.md: API_KEY is always accepted; API_KEY_PREVIOUS
// only while Date.now() < Date.parse(API_KEY_PREVIOUS_EXPIRES), so a past or unparsable expiry
// closes the window without any command having to run.

import { jsonError, preflight } from "./http.js";

// guard returns null when the request may go on, or the Response to send: the CORS preflight
// for OPTIONS, 405 for a method not in `methods`, 401/500 from requireKey, 429 from rateLimit.
export async function guard(request, env, { methods = ["POST"] } = {}) {
  if (request.method === "OPTIONS") {
    return preflight();
  }
  if (!methods.includes(request.method)) {
    return jsonError(405, `use ${methods.join(" or ")}`, { allow: methods.join(", ") });
  }
  return (await requireKey(request, env)) || (await rateLimit(request, env));
}

// requireKey returns null when the request carries an accepted key, or the error Response to
// send: 500 when no key is configured (fail closed), 401 otherwise.
export async function requireKey(request, env, headers = {}) {
  if (!env.API_KEY) {
    return jsonError(500, "API_KEY is not configured on this Worker", headers);
  }
  if (!(await authorized(request.headers.get("authorization"), env))) {
    return jsonError(401, "missing or invalid API key", { ...headers, "www-authenticate": "Bearer" });
  }
  return null;
}

// rateLimit returns null when env.RATE_LIMITER is absent or lets the caller through, else a 429
// with Retry-After. Callers are counted by limiterKey: the limiter never sees (or logs) the key
// itself, and a rotated key gets its own counter.
export async function rateLimit(request, env) {
  if (!env.RATE_LIMITER) return null;
  let outcome;
  try {
    const key = await limiterKey(bearerToken(request.headers.get("authorization")) || "", env);
    outcome = await env.RATE_LIMITER.limit({ key });
  } catch {
    // The limiter is a soft, per-location counter; its failure must not take the API down.
    return null;
  }
  if (outcome && outcome.success === false) {
    const period = String(env.RATE_LIMIT_PERIOD) === "10" ? "10" : "60";
    return jsonError(429, `too many requests; retry after ${period} seconds`, { "retry-after": period });
  }
  return null;
}

// LIMITER_DOMAIN separates limiter keys from any other HMAC made with the same secret.
const LIMITER_DOMAIN = "flareform rate limit\0";

// limiterKey is the name the rate limiter counts a caller under: the first 32 hex digits (16
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
  const enc = new TextEncoder();
  const secret = await crypto.subtle.importKey("raw", enc.encode(String(env.API_KEY)), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", secret, enc.encode(LIMITER_DOMAIN + presented));
  return Array.from(new Uint8Array(mac).slice(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header, or null.
export function bearerToken(header) {
  const match = /^Bearer\s+(.+)$/i.exec(header || "");
  return match ? match[1].trim() : null;
}

// authorized accepts the current key, or the previous one until its grace window ends.
export async function authorized(header, env) {
  const given = bearerToken(header);
  if (given === null) return false;
  // Compare against both keys every time so the timing does not reveal which one matched.
  const current = await sameSecret(given, env.API_KEY);
  const previous = env.API_KEY_PREVIOUS ? await sameSecret(given, env.API_KEY_PREVIOUS) : false;
  const graceOpen = Date.now() < Date.parse(env.API_KEY_PREVIOUS_EXPIRES || "");
  return current || (previous && graceOpen);
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
