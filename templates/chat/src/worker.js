// Chat Worker: POST {"messages": [{"role": "user", "content": "..."}]} (or {"prompt": "..."})
// with `Authorization: Bearer <key>` and get {"response": "...", "usage"?: {...}} back from a
// Workers AI language model, or with "stream": true a text/event-stream of
// `data: {"response": "..."}` events ending with `data: [DONE]`.
//
// The answer has that shape whichever model AI_MODEL names: models in the Workers AI format
// (Llama: {"response"}) and in the OpenAI Chat Completions format (@cf/zai-org/glm-4.7-flash,
// @cf/google/gemma-4-26b-a4b-it: choices[0].message.content, streamed as
// choices[0].delta.content) both take this body. usage is the model's token count, when it
// reports one.
//
// Body: {"messages" | "prompt", "stream"?, "max_tokens"?}
//
// Bindings (set by flareform from flareform.yaml):
//   AI, AI_MODEL, AI_GATEWAY_ID        Workers AI, the model (default Llama 3.1 8B fast), the gateway
//   API_KEY, API_KEY_PREVIOUS(_EXPIRES) the caller's key (see lib/auth.js)
//   RATE_LIMITER, RATE_LIMIT_PERIOD    per-key rate limit (optional)
//   FLAREFORM_CONSUMERS(_SALT)         named consumers' keys and limits (see lib/auth.js)
//   USAGE, FLAREFORM_WORKER            a usage data point per request (see lib/usage.js)
//   MAX_PROMPT_CHARS                   most characters of prompt or messages, default 4000
//
// The method and key checks, rate limit, GET /.well-known/flareform, usage data points, body
// cap and error shapes live in ./lib (shared by every template).

import { chatAnswer, chatEvents, modelFailure, runModel } from "./lib/ai.js";
import { guard } from "./lib/auth.js";
import { CORS_HEADERS, jsonError, jsonOK, readJSON } from "./lib/http.js";
import { withUsage } from "./lib/usage.js";

const DEFAULT_MODEL = "@cf/meta/llama-3.1-8b-instruct-fast";
const ROLES = new Set(["system", "user", "assistant"]);
const MAX_MESSAGES = 100;

export default withUsage({
  async fetch(request, env) {
    const refused = await guard(request, env);
    if (refused) {
      return refused;
    }
    const body = await readJSON(request, { hint: 'body must be JSON like {"messages": [{"role": "user", "content": "hello"}]}' });
    if (body.error) {
      return jsonError(body.status, body.error);
    }
    const parsed = checkInputs(body.value, env);
    if (parsed.error) {
      return jsonError(400, parsed.error);
    }
    try {
      const result = await runModel(env, DEFAULT_MODEL, parsed.inputs);
      if (parsed.inputs.stream) {
        // The model's events go out as they come, in the one form callers get from every model;
        // the model ends them with data: [DONE].
        return new Response(chatEvents(result), { headers: { "content-type": "text/event-stream", "cache-control": "no-cache", ...CORS_HEADERS } });
      }
      return jsonOK(chatAnswer(result));
    } catch (err) {
      const failure = modelFailure(err, "text generation");
      return jsonError(failure.status, failure.error);
    }
  },
});

// checkInputs validates the parsed JSON body and returns {inputs} for the model or {error}.
function checkInputs(body, env) {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { error: "body must be a JSON object" };
  }
  const maxChars = parseInt(env.MAX_PROMPT_CHARS, 10) || 4000;
  const conversation = body.messages !== undefined ? checkMessages(body.messages) : checkPrompt(body.prompt);
  if (conversation.error) {
    return conversation;
  }
  if (conversation.chars > maxChars) {
    return { error: `the ${body.messages !== undefined ? "messages are" : "prompt is"} longer than ${maxChars} characters` };
  }
  const inputs = conversation.inputs;
  if (body.stream !== undefined) {
    if (typeof body.stream !== "boolean") return { error: '"stream" must be true or false' };
    if (body.stream) inputs.stream = true;
  }
  if (body.max_tokens !== undefined) {
    if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) return { error: '"max_tokens" must be a positive integer' };
    inputs.max_tokens = body.max_tokens;
  }
  return { inputs };
}

function checkPrompt(prompt) {
  if (typeof prompt !== "string" || prompt.trim() === "") {
    return { error: 'send "messages" or a non-empty string "prompt"' };
  }
  return { inputs: { prompt }, chars: prompt.length };
}

function checkMessages(messages) {
  if (!Array.isArray(messages) || messages.length === 0 || messages.length > MAX_MESSAGES) {
    return { error: `"messages" must be a list of 1 to ${MAX_MESSAGES} {"role", "content"} objects` };
  }
  let chars = 0;
  const clean = [];
  for (const [i, m] of messages.entries()) {
    if (m === null || typeof m !== "object" || !ROLES.has(m.role) || typeof m.content !== "string") {
      return { error: `messages[${i}] must be {"role": "system"|"user"|"assistant", "content": "<text>"}` };
    }
    chars += m.content.length;
    clean.push({ role: m.role, content: m.content });
  }
  return { inputs: { messages: clean }, chars };
}
