// Import fixture: the Worker of wrangler.jsonc. POST {"question"} answers from the KV cache
// when it can, else asks Workers AI and caches the answer for CACHE_TTL_SECONDS.
export default {
  async fetch(request, env) {
    if (request.method !== "POST") return new Response("POST a question", { status: 405 });
    const { question } = await request.json();
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(question));
    const key = "answer:" + [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    const cached = env.ANSWERS ? await env.ANSWERS.get(key) : null;
    if (cached) return Response.json({ answer: cached, cached: true });
    const { response } = await env.AI.run(env.AI_MODEL, { messages: [{ role: "user", content: question }], max_tokens: 256 });
    if (env.ANSWERS) await env.ANSWERS.put(key, response, { expirationTtl: Number(env.CACHE_TTL_SECONDS) });
    if (env.DB) {
      await env.DB.prepare("CREATE TABLE IF NOT EXISTS questions (key TEXT PRIMARY KEY, asked INTEGER)").run();
      await env.DB.prepare("INSERT OR REPLACE INTO questions VALUES (?, ?)").bind(key, Date.now()).run();
    }
    return Response.json({ answer: response, cached: false });
  },
};
