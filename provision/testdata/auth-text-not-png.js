// A worker that checks its key and method like the template but answers the authorised
// request with text, not a PNG: only the smoke test's authorised check can tell it is broken.
export default {
  async fetch(request, env) {
    if (request.headers.get("authorization") !== `Bearer ${env.API_KEY}`) {
      return new Response("unauthorized", { status: 401 });
    }
    if (request.method !== "POST") {
      return new Response("method not allowed", { status: 405 });
    }
    return new Response("not an image", { headers: { "content-type": "text/plain" } });
  },
};
