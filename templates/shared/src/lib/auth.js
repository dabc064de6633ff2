// Bearer-key check shared by every flareform template (flareform init writes this file into
// src/lib/ next to the worker; esbuild bundles it in).
//
// Bindings it reads:
//   API_KEY                  the key callers must present (secret)
//   API_KEY_PREVIOUS         the key before the last rotation (secret, optional)
//   API_KEY_PREVIOUS_EXPIRES ISO date until which API_KEY_PREVIOUS is still accepted
//
// The rules are those of docs/rotation.md: API_KEY is always accepted; API_KEY_PREVIOUS only
// while Date.now() < Date.parse(API_KEY_PREVIOUS_EXPIRES), so a past or unparsable expiry
// closes the window without any command having to run.

import { jsonError } from "./http.js";

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

// authorized accepts the current key, or the previous one until its grace window ends.
export async function authorized(header, env) {
  const match = /^Bearer\s+(.+)$/i.exec(header || "");
  if (!match) return false;
  const given = match[1].trim();
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
