// A worker with a syntax error, for the spec-positioned bundle error test.
export default {
  async fetch(request, env) {
    return new Response("unterminated;
  },
};
