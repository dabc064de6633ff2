// Import fixture: the Worker of wrangler.toml. POST {"prompt"} draws a PNG, keeps it in R2
// under a key derived from the prompt, answers repeated prompts from the KV cache and records
// each picture in D1.
export default {
  async fetch(request, env) {
    if (request.method !== "POST") return new Response("POST a prompt", { status: 405 });
    const { prompt } = await request.json();
    if (typeof prompt !== "string" || prompt.length > Number(env.MAX_PROMPT_CHARS)) {
      return Response.json({ error: "prompt must be text of at most " + env.MAX_PROMPT_CHARS + " characters" }, { status: 400 });
    }
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(prompt));
    const key = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("") + ".png";
    if (env.CACHE && (await env.CACHE.get(key)) && env.IMAGES) {
      const cached = await env.IMAGES.get(key);
      if (cached) return new Response(cached.body, { headers: { "content-type": "image/png", "x-cache": "hit" } });
    }
    const { image } = await env.AI.run(env.AI_MODEL, { prompt, steps: 4 });
    const png = Uint8Array.from(atob(image), (c) => c.charCodeAt(0));
    if (env.IMAGES) await env.IMAGES.put(key, png, { httpMetadata: { contentType: "image/png" } });
    if (env.CACHE) await env.CACHE.put(key, "1", { expirationTtl: 86400 });
    if (env.DB) {
      await env.DB.prepare("CREATE TABLE IF NOT EXISTS images (key TEXT PRIMARY KEY, prompt TEXT, created INTEGER)").run();
      await env.DB.prepare("INSERT OR REPLACE INTO images VALUES (?, ?, ?)").bind(key, prompt, Date.now()).run();
    }
    return new Response(png, { headers: { "content-type": "image/png", "x-cache": "miss" } });
  },
};
