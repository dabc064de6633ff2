// The secrets test worker: answers whether env[name] is a string equal to the value the
// request offers, never the value itself. The value is offered in the x-offered header, or as
// a POST's body when it cannot be a header (a multi-line secret, a PEM key).
export default {
  async fetch(request, env) {
    const name = new URL(request.url).searchParams.get("name") ?? "";
    const value = env[name];
    const present = typeof value === "string";
    const offered = request.method === "POST" ? await request.text() : (request.headers.get("x-offered") ?? "");
    return Response.json({ present, equal: present && value === offered });
  },
};
