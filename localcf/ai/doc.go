// Package ai is the local stand-in for Cloudflare Workers AI used by localcf.
//
// It has three parts:
//
//   - a catalog of real model names and tasks, shaped like the items of
//     GET /accounts/{id}/ai/models/search, with the same search filters. It holds the models
//     the templates and docs suggest, the replacements Cloudflare recommends, and the retired
//     models (internal/aimodels), which carry the planned_deprecation_date property;
//   - per-model input validation against each model's published JSON schema (schemas.go),
//     answering with Workers AI error codes;
//   - deterministic stand-in outputs. No model weights are involved: images
//     are drawn from a hash of the inputs, text is a templated echo of the
//     prompt, embeddings are hashed bags of words. The outputs have the real
//     shapes and content types, so worker code written against Workers AI
//     runs unchanged, but they carry no meaning beyond that.
//
// # Error codes
//
// Failures are returned as *Error with the HTTP status and code that Workers
// AI documents for the same situation:
//
//	5007 / 400  the model name is not in the catalog ("No such model <name> or task"), or its
//	            planned_deprecation_date has passed on the service's clock (Options.Now);
//	            what a retired model answers is UNCONFIRMED, this is the strictest candidate
//	3003 / 400  the request body is empty
//	5006 / 400  the input does not match the model's schema; the message names the field in
//	            JSON-pointer form, e.g. "/width must be >= 256" or
//	            "must have required property 'prompt'"
//	5004 / 400  image_b64 is not valid base64
//	3006 / 413  the body is larger than MaxInputBytes
//	3007 / 408  the context deadline passed while running the model
//	3008 / 408  the context was cancelled while running the model
//	3000 / 500  an internal fault of the stand-in (a bug; never expected)
//
// Properties a schema does not list are ignored, as the real service does (unless it says
// additionalProperties: false, as FLUX.1 schnell's does). Models whose schema takes the raw
// body (Whisper's audio, LLaVA's image) take it over REST when the Content-Type is not
// application/json (curl --data-binary @talk.mp3). The workerd binding sends
// JSON.stringify(inputs), so a Uint8Array arrives as an object {"0":..,"1":..}, which the
// schemas refuse where they want an array: workers send [...bytes].
//
// # Outputs
//
// Text-to-Image models return raw image bytes, deterministic for (model,
// prompt, negative_prompt, seed) at exactly width x height (default
// 1024x1024). A missing seed counts as seed 0 here, where the real service
// picks a random one. SDXL base and DreamShaper return PNG.
// @cf/bytedance/stable-diffusion-xl-lightning returns JPEG with Content-Type
// image/jpeg: the real model is documented as image/png but has been reported
// to send JPEG bytes, and a worker that hard-codes image/png for it should
// show the mismatch locally rather than in production. FLUX.1 schnell answers
// {"image": base64 JPEG}.
//
// Text Generation in the Workers AI format (Llama) returns {"response"} (plus "usage" where
// the model's schema lists it), or with "stream": true a text/event-stream of
// data: {"response": ...} events ending in data: [DONE]. Models in the OpenAI Chat
// Completions format (glm-4.7-flash, gemma-4-26b-a4b-it, kimi-k2.6) return
// {id, object: "chat.completion", created, model, choices: [{index, message: {role, content},
// finish_reason}], usage}, or streamed, chat.completion.chunk events with choices[].delta
// ending in data: [DONE] (the chunk shape is UNCONFIRMED). Images sent as image_url data URIs
// (or a Llama vision model's image) are named in the answer. Text Embeddings return
// {"shape":[n,dim],"data":[...]} with the model's real dimension and unit-length vectors;
// texts that share words get closer vectors. Speech recognition returns {"text","word_count",
// "words","vtt"}, LLaVA {"description"}, Moondream {"answer" | "caption" | ..., "metrics"}.
// An async batch ({"requests": [...]}) is answered {"request_id"}; nothing is queued.
package ai
