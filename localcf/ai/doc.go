// Package ai is the local stand-in for Cloudflare Workers AI used by localcf.
//
// It has three parts:
//
//   - a catalog of real model names and tasks, shaped like the items of
//     GET /accounts/{id}/ai/models/search, with the same search filters;
//   - per-model input validation that answers with Workers AI error codes;
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
//	5007 / 400  the model name is not in the catalog ("No such model <name> or task")
//	3003 / 400  the request body is empty
//	5006 / 400  the body is not a JSON object, or an input has the wrong type,
//	            is missing, or is out of range; the message names the field in
//	            JSON-pointer form, e.g. "/width must be >= 256" or
//	            "must have required property 'prompt'"
//	5004 / 400  image_b64 is not valid base64
//	3006 / 413  the body is larger than MaxInputBytes
//	3007 / 408  the context deadline passed while running the model
//	3008 / 408  the context was cancelled while running the model
//	3000 / 500  an internal fault of the stand-in (a bug; never expected)
//
// Unknown top-level properties are ignored, as the real service does.
// Whisper (@cf/openai/whisper) also takes the audio itself as the body, as
// its catalog schema allows (REST: curl --data-binary @talk.mp3), or a bare
// JSON array of byte values (what the workerd shim sends when a worker
// passes a Uint8Array as the whole input).
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
// show the mismatch locally rather than in production.
//
// Text Generation returns {"response": ...} (plus "usage"), or with
// "stream": true a text/event-stream of data: {"response": ...} events ending
// in data: [DONE]. Text Embeddings return {"shape":[n,dim],"data":[...]} with
// the model's real dimension and unit-length vectors; texts that share words
// get closer vectors. Speech recognition returns {"text","word_count","words",
// "vtt"} and Image-to-Text returns {"description"}.
package ai
