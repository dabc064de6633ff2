// Semantic-search Worker: store texts and find the ones closest in meaning to a query, with
// Workers AI embeddings (BGE small, 384 dimensions) and a Vectorize index. Every call needs
// `Authorization: Bearer <key>`.
//
//   POST /documents  {"id", "text"} or a list of them (or {"documents": [...]})
//                    -> {"count": n, "ids": [...], "mutationId"?}; an existing id is replaced
//   POST /search     {"query", "topK"?} -> {"matches": [{"id", "score", "text"}]}
//
// Bindings (set by flareform from flareform.yaml):
//   AI, AI_MODEL, AI_GATEWAY_ID        Workers AI, the embedding model (default bge-small),
//                                      the gateway; the model's dimensions must be the index's
//   VECTORIZE                          the Vectorize index (spec key vectorize)
//   API_KEY, API_KEY_PREVIOUS(_EXPIRES) the caller's key (see lib/auth.js)
//   RATE_LIMITER, RATE_LIMIT_PERIOD    per-key rate limit (optional)
//   FLAREFORM_CONSUMERS(_SALT)         named consumers' keys and limits (see lib/auth.js)
//   USAGE, FLAREFORM_WORKER            a usage data point per request (see lib/usage.js)
//   MAX_TEXT_CHARS                     longest document or query, default 2000
//
// The method and key checks, rate limit, GET /.well-known/flareform, usage data points, body
// cap and error shapes live in ./lib (shared by every template).

import { modelFailure, runModel } from "./lib/ai.js";
import { WELL_KNOWN_PATH, guard } from "./lib/auth.js";
import { jsonError, jsonOK, readJSON } from "./lib/http.js";
import { withUsage } from "./lib/usage.js";

const DEFAULT_MODEL = "@cf/baai/bge-small-en-v1.5";
// One embedding call takes at most 100 texts.
const MAX_DOCUMENTS = 100;
// Vectorize ids are at most 64 bytes.
const MAX_ID_BYTES = 64;
// Vectorize answers at most 20 matches when it returns metadata.
const MAX_TOP_K = 20;
const DEFAULT_TOP_K = 5;

const routes = { "/documents": addDocuments, "/search": search };

export default withUsage({
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    const route = routes[path];
    // GET /.well-known/flareform is guard's to answer, as in every template.
    if (!route && path !== WELL_KNOWN_PATH) {
      return jsonError(404, "use POST /documents or POST /search");
    }
    const refused = await guard(request, env);
    if (refused) {
      return refused;
    }
    if (!env.VECTORIZE) {
      return jsonError(500, "VECTORIZE is not bound to this Worker");
    }
    const body = await readJSON(request);
    if (body.error) {
      return jsonError(body.status, body.error);
    }
    return route(body.value, env);
  },
});

// addDocuments embeds the documents and upserts them with their text as metadata.
async function addDocuments(body, env) {
  const docs = checkDocuments(body, maxChars(env));
  if (docs.error) {
    return jsonError(400, docs.error);
  }
  const vectors = await embed(env, docs.list.map((d) => d.text));
  if (vectors.failure) {
    return vectors.failure;
  }
  try {
    const result = await env.VECTORIZE.upsert(
      docs.list.map((d, i) => ({ id: d.id, values: vectors.data[i], metadata: { text: d.text } })),
    );
    const answer = { count: docs.list.length, ids: docs.list.map((d) => d.id) };
    if (result && result.mutationId) answer.mutationId = result.mutationId;
    return jsonOK(answer);
  } catch (err) {
    return jsonError(502, `storing the documents failed: ${err && err.message ? err.message : err}`);
  }
}

// search embeds the query and returns the closest documents.
async function search(body, env) {
  const query = checkQuery(body, maxChars(env));
  if (query.error) {
    return jsonError(400, query.error);
  }
  const vectors = await embed(env, [query.text]);
  if (vectors.failure) {
    return vectors.failure;
  }
  try {
    const result = await env.VECTORIZE.query(vectors.data[0], { topK: query.topK, returnMetadata: true });
    const matches = ((result && result.matches) || []).map((m) => ({
      id: m.id,
      score: m.score,
      text: m.metadata && typeof m.metadata.text === "string" ? m.metadata.text : undefined,
    }));
    return jsonOK({ matches });
  } catch (err) {
    return jsonError(502, `searching the index failed: ${err && err.message ? err.message : err}`);
  }
}

// embed returns {data: vectors} or {failure: Response}.
async function embed(env, texts) {
  try {
    const result = await runModel(env, DEFAULT_MODEL, { text: texts });
    return { data: result.data };
  } catch (err) {
    const failure = modelFailure(err, "embedding");
    return { failure: jsonError(failure.status, failure.error) };
  }
}

function maxChars(env) {
  return parseInt(env.MAX_TEXT_CHARS, 10) || 2000;
}

// checkDocuments accepts {"id","text"}, a list of them, or {"documents": [...]}.
function checkDocuments(body, limit) {
  let list = body;
  if (body !== null && typeof body === "object" && !Array.isArray(body)) {
    list = body.documents !== undefined ? body.documents : [body];
  }
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_DOCUMENTS) {
    return { error: `send {"id", "text"} or a list of 1 to ${MAX_DOCUMENTS} of them` };
  }
  const seen = new Set();
  for (const [i, d] of list.entries()) {
    const where = list.length === 1 ? "the document" : `document ${i}`;
    if (d === null || typeof d !== "object" || typeof d.id !== "string" || d.id === "") {
      return { error: `${where} needs a non-empty string "id"` };
    }
    if (new TextEncoder().encode(d.id).length > MAX_ID_BYTES) {
      return { error: `${where}: "id" is longer than ${MAX_ID_BYTES} bytes` };
    }
    if (seen.has(d.id)) {
      return { error: `${where}: "id" ${JSON.stringify(d.id)} appears twice` };
    }
    seen.add(d.id);
    if (typeof d.text !== "string" || d.text.trim() === "") {
      return { error: `${where} needs a non-empty string "text"` };
    }
    if (d.text.length > limit) {
      return { error: `${where}: "text" is longer than ${limit} characters` };
    }
  }
  return { list: list.map((d) => ({ id: d.id, text: d.text })) };
}

// checkQuery returns {text, topK} from {"query", "topK"?}.
function checkQuery(body, limit) {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { error: "body must be a JSON object like {\"query\": \"...\"}" };
  }
  if (typeof body.query !== "string" || body.query.trim() === "") {
    return { error: '"query" is required and must be a non-empty string' };
  }
  if (body.query.length > limit) {
    return { error: `"query" is longer than ${limit} characters` };
  }
  const topK = body.topK === undefined ? DEFAULT_TOP_K : body.topK;
  if (!Number.isInteger(topK) || topK < 1 || topK > MAX_TOP_K) {
    return { error: `"topK" must be an integer from 1 to ${MAX_TOP_K}` };
  }
  return { text: body.query, topK };
}
