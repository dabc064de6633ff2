// A worker that answers every request with 200 text/plain: the smoke test expecting a PNG must
// fail on it and the engine must roll back.
export default {
  async fetch() {
    return new Response("not an image", { headers: { "content-type": "text/plain" } });
  },
};
