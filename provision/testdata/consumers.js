// A worker that implements the consumer contract of docs/consumers.md the way
// src/lib/auth.js does (the engine's tests use it until the templates carry it): the owner's
// API_KEY, or a consumer key whose HMAC under FLAREFORM_CONSUMER_SALT is in FLAREFORM_CONSUMERS
// (its mac, or its prev_mac before prev_expires).
// GET /.well-known/flareform answers {"consumer": name} to an accepted key, 401 otherwise.
const DOMAIN = "flareform consumer key\0";

async function mac(salt, token) {
  const enc = new TextEncoder();
  const k = await crypto.subtle.importKey("raw", enc.encode(salt), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", k, enc.encode(DOMAIN + token)));
  return Array.from(sig, (b) => b.toString(16).padStart(2, "0")).join("");
}

function same(a, b) {
  if (typeof a !== "string" || typeof b !== "string" || a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

async function consumerOf(request, env) {
  const auth = request.headers.get("authorization") || "";
  if (!auth.startsWith("Bearer ")) return null;
  const token = auth.slice(7);
  if (env.API_KEY && same(token, env.API_KEY)) return { name: "owner" };
  if (!env.FLAREFORM_CONSUMERS || !env.FLAREFORM_CONSUMER_SALT) return null;
  const table = JSON.parse(env.FLAREFORM_CONSUMERS);
  const m = await mac(env.FLAREFORM_CONSUMER_SALT, token);
  for (const c of table.consumers) {
    if (same(m, c.mac)) return c;
    // A rotation's previous key, until its window ends (rotate-key --consumer).
    if (c.prev_mac && same(m, c.prev_mac) && Date.now() < Date.parse(c.prev_expires || "")) return c;
  }
  return null;
}

export default {
  async fetch(request, env) {
    const consumer = await consumerOf(request, env);
    if (!consumer) return new Response("unauthorized", { status: 401 });
    const url = new URL(request.url);
    if (url.pathname === "/.well-known/flareform") {
      return Response.json({ consumer: consumer.name });
    }
    const limiter = env[consumer.limiter || "RATE_LIMITER"];
    if (limiter) {
      const { success } = await limiter.limit({ key: consumer.name });
      if (!success) return new Response("rate limited", { status: 429, headers: { "retry-after": "60" } });
    }
    return Response.json({ consumer: consumer.name, table: env.FLAREFORM_CONSUMERS });
  },
};
