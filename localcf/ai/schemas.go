package ai

// The models' input and output schemas as the catalog publishes them (docs
// src/content/workers-ai-models/<model>.json, which mirror GET ai/models/schema): every
// type, bound, enum and required list the catalog states is enforced, and nothing it does
// not state. Descriptions are left out; they validate nothing.
//
// Two readings go beyond the letter of the published schemas, both UNCONFIRMED:
//   - the async batch branches ({"requests": [...]}) list no required property, so read
//     literally any object would match them, a request would match two oneOf branches and
//     every call would be refused; here a batch branch requires "requests";
//   - string "format": "binary" is an annotation in JSON Schema; here it also marks the models
//     that take the raw request body as that input (Whisper's audio, LLaVA's image).

// Text-to-image size limits and defaults (catalog: 256..2048; the image is 1024 square
// when no size is sent).
const (
	minImageSide     = 256
	maxImageSide     = 2048
	defaultImageSide = 1024
	maxImageSteps    = 20
)

// Builders. Each returns a fresh node; the methods set one keyword and return the node.

func typed(types ...string) *node { return &node{types: types} }
func str() *node                  { return typed("string") }
func integer() *node              { return typed("integer") }
func number() *node               { return typed("number") }
func boolean() *node              { return typed("boolean") }
func null() *node                 { return typed("null") }
func anything() *node             { return &node{} }
func binaryString() *node         { return &node{types: []string{"string"}, format: "binary"} }
func enumOf(values ...string) *node {
	return &node{types: []string{"string"}, enum: values}
}
func object(props ...prop) *node       { return &node{types: []string{"object"}, props: props} }
func branch(props ...prop) *node       { return &node{props: props} } // an untyped oneOf branch
func arrayOf(items *node) *node        { return &node{types: []string{"array"}, items: items} }
func oneOf(branches ...*node) *node    { return &node{oneOf: branches} }
func anyOf(branches ...*node) *node    { return &node{anyOf: branches} }
func nullable(n *node) *node           { return anyOf(n, null()) }
func p(name string, schema *node) prop { return prop{name: name, schema: schema} }

func (n *node) req(names ...string) *node { n.required = names; return n }
func (n *node) titled(t string) *node     { n.title = t; return n }
func (n *node) closed() *node             { n.noExtra = true; return n }
func (n *node) ctype(ct string) *node     { n.contentType = ct; return n }
func (n *node) withDefault(v any) *node   { n.def = v; return n }
func (n *node) atLeast(v float64) *node   { n.minimum = &v; return n }
func (n *node) atMost(v float64) *node    { n.maximum = &v; return n }
func (n *node) between(lo, hi float64) *node {
	return n.atLeast(lo).atMost(hi)
}
func (n *node) minLen(v int) *node   { n.minLength = &v; return n }
func (n *node) maxLen(v int) *node   { n.maxLength = &v; return n }
func (n *node) minCount(v int) *node { n.minItems = &v; return n }
func (n *node) maxCount(v int) *node { n.maxItems = &v; return n }
func (n *node) withOneOf(branches ...*node) *node {
	n.oneOf = branches
	return n
}

// byteArray is the catalog's "array of integers that represent the image data constrained to
// 8-bit unsigned integer values": the items are only typed number, so 256 or -1 pass.
func byteArray() *node { return arrayOf(number()) }

// textToImageInput is the SDXL family's input (stable-diffusion-xl-base-1.0,
// stable-diffusion-xl-lightning, dreamshaper-8-lcm publish the same one).
func textToImageInput() *node {
	return object(
		p("prompt", str().minLen(1)),
		p("negative_prompt", str()),
		p("height", integer().between(minImageSide, maxImageSide)),
		p("width", integer().between(minImageSide, maxImageSide)),
		p("image", byteArray()),
		p("image_b64", str()),
		p("mask", byteArray()),
		// Only a maximum: 0 (and below) pass the schema, as on Cloudflare.
		p("num_steps", integer().atMost(maxImageSteps).withDefault(maxImageSteps)),
		// "A value between 0 and 1" is only the description: no bounds are published.
		p("strength", number().withDefault(1)),
		p("guidance", number().withDefault(7.5)),
		p("seed", integer()),
	).req("prompt")
}

func imageOutput() *node {
	return binaryString().ctype("image/png") // lightning's catalog entry says PNG too (it sends JPEG)
}

// fluxInput is @cf/black-forest-labs/flux-1-schnell's: no sizes, at most 8 steps, and no
// other property.
func fluxInput() *node {
	return object(
		p("prompt", str().minLen(1).maxLen(2048)),
		p("steps", integer().atMost(8)),
	).req("prompt").closed()
}

func fluxOutput() *node {
	return object(p("image", str())).ctype("application/json")
}

// legacyChat describes a text-generation model in the Workers AI format: prompt or messages
// in, {response} (or SSE of {"response": token}) out.
type legacyChat struct {
	promptMax  int     // maxLength of prompt and of each message's content; 0 = none
	image      bool    // takes an image (the Llama 3.2 vision and 3.1 fast schemas)
	penaltyMin float64 // frequency_penalty and presence_penalty lower bound (0, or -2 on 70B)
	topPMin    float64
	topPMax    float64
	jsonMode   bool // response_format (JSON mode)
	batch      bool // async batch branch
	usage      bool // the output lists usage (llama-3.3-70b-instruct-fp8-fast does)
	lora       bool // the messages branch takes raw and lora too
}

// fastLlamaChat is @cf/meta/llama-3.1-8b-instruct-fast's schema, which
// @cf/meta/llama-3.2-11b-vision-instruct shares.
var fastLlamaChat = legacyChat{promptMax: 131072, image: true, penaltyMin: 0, topPMin: 0, topPMax: 2}

// llama70BChat is @cf/meta/llama-3.3-70b-instruct-fp8-fast's.
var llama70BChat = legacyChat{penaltyMin: -2, topPMin: 0.001, topPMax: 1, jsonMode: true, batch: true, usage: true}

// oldLegacyChat stands for the schemas of retired text models: they are only served by
// ai/models/schema, never run.
var oldLegacyChat = legacyChat{penaltyMin: 0, topPMin: 0, topPMax: 2, lora: true}

func (c legacyChat) sampling() []prop {
	return []prop{
		p("max_tokens", integer().withDefault(256)),
		p("temperature", number().between(0, 5).withDefault(0.6)),
		p("top_p", number().between(c.topPMin, c.topPMax)),
		p("top_k", integer().between(1, 50)),
		p("seed", integer().between(1, 9999999999)),
		p("repetition_penalty", number().between(0, 2)),
		p("frequency_penalty", number().between(c.penaltyMin, 2)),
		p("presence_penalty", number().between(c.penaltyMin, 2)),
	}
}

func (c legacyChat) imageProp() prop {
	return p("image", oneOf(byteArray(), binaryString()))
}

func (c legacyChat) input() *node {
	prompt := str().minLen(1)
	content := str()
	if c.promptMax > 0 {
		prompt.maxLen(c.promptMax)
		content.maxLen(c.promptMax)
	}
	promptProps := []prop{p("prompt", prompt)}
	if c.image {
		promptProps = append(promptProps, c.imageProp())
	}
	promptProps = append(promptProps, p("raw", boolean().withDefault(false)), p("stream", boolean().withDefault(false)))
	promptProps = append(promptProps, c.sampling()...)
	promptProps = append(promptProps, p("lora", str()))
	if c.jsonMode {
		promptProps = append(promptProps, p("response_format", jsonMode()))
	}

	messages := arrayOf(object(p("role", str()), p("content", content)).req("role", "content"))
	messageProps := []prop{p("messages", messages)}
	if c.image {
		messageProps = append(messageProps, c.imageProp())
	}
	messageProps = append(messageProps,
		p("functions", arrayOf(object(p("name", str()), p("code", str())).req("name", "code"))),
		p("tools", arrayOf(legacyTool())),
		p("stream", boolean().withDefault(false)))
	messageProps = append(messageProps, c.sampling()...)
	if c.lora {
		messageProps = append(messageProps, p("raw", boolean().withDefault(false)), p("lora", str()))
	}
	if c.jsonMode {
		messageProps = append(messageProps, p("response_format", jsonMode()))
	}

	branches := []*node{
		branch(promptProps...).req("prompt").titled("Prompt"),
		branch(messageProps...).req("messages").titled("Messages"),
	}
	if c.batch {
		item := object(p("external_reference", str()), p("prompt", str().minLen(1)), p("stream", boolean().withDefault(false)),
			p("max_tokens", integer().withDefault(256)), p("temperature", number().between(0, 5).withDefault(0.6)),
			p("top_p", number().between(0, 2)), p("seed", integer().between(1, 9999999999)),
			p("repetition_penalty", number().between(0, 2)), p("frequency_penalty", number().between(0, 2)),
			p("presence_penalty", number().between(0, 2)), p("response_format", jsonMode()))
		branches = append(branches, object(p("requests", arrayOf(item))).req("requests").titled("Async Batch"))
	}
	return typed("object").withOneOf(branches...)
}

func jsonMode() *node {
	return object(p("type", enumOf("json_object", "json_schema")), p("json_schema", anything())).titled("JSON Mode")
}

// legacyTool is one item of the Workers AI format's tools: {name, description, parameters}
// or {type, function: {name, description, parameters}}.
func legacyTool() *node {
	parameters := func() *node {
		param := object(p("type", str()), p("description", str())).req("type", "description")
		props := object()
		props.extra = param
		return object(p("type", str()), p("required", arrayOf(str())), p("properties", props)).req("type", "properties")
	}
	fn := object(p("name", str()), p("description", str()), p("parameters", parameters())).req("name", "description", "parameters")
	return typed("object").withOneOf(
		branch(p("name", str()), p("description", str()), p("parameters", parameters())).req("name", "description", "parameters"),
		branch(p("type", str()), p("function", fn)).req("type", "function"),
	)
}

func (c legacyChat) output() *node {
	props := []prop{p("response", str())}
	if c.usage {
		props = append(props, p("usage", object(p("prompt_tokens", number().withDefault(0)),
			p("completion_tokens", number().withDefault(0)), p("total_tokens", number().withDefault(0)))))
	}
	props = append(props, p("tool_calls", arrayOf(object(p("arguments", typed("object")), p("name", str())))))
	result := object(props...).ctype("application/json")
	if c.usage {
		result.req("response")
	}
	branches := []*node{result, binaryString().ctype("text/event-stream")}
	if c.batch {
		branches = append(branches, asyncResponse())
	}
	return oneOf(branches...)
}

func asyncResponse() *node {
	return object(p("request_id", str())).titled("Async response").ctype("application/json")
}

// openAIChat describes a text-generation model in the OpenAI Chat Completions format
// (@cf/zai-org/glm-4.7-flash, @cf/google/gemma-4-26b-a4b-it, @cf/moonshotai/kimi-k2.6).
type openAIChat struct {
	userParts []string // content part types a user message may hold
	batch     bool     // input is anyOf [request, {requests: [...]}]
	skipTok   bool     // skip_special_tokens (Gemma)
}

var (
	glmChat   = openAIChat{userParts: []string{"text", "image_url", "video_url", "input_audio", "file"}}
	gemmaChat = openAIChat{userParts: []string{"text", "image_url", "input_audio", "file"}, batch: true, skipTok: true}
	kimiChat  = openAIChat{userParts: []string{"text", "image_url", "video_url", "input_audio", "file"}, batch: true}
)

// params are the Chat Completions parameters both the prompt and the messages form take.
func (c openAIChat) params() []prop {
	functionDef := func() *node {
		return object(p("name", str()), p("description", str()), p("parameters", typed("object")),
			p("strict", nullable(boolean()).withDefault(false))).req("name")
	}
	textPart := object(p("type", enumOf("text")), p("text", str())).req("type", "text")
	grammar := object(p("definition", str()), p("syntax", enumOf("lark", "regex"))).req("definition", "syntax")
	customTool := object(p("name", str()), p("description", str()), p("format", oneOf(
		object(p("type", enumOf("text"))).req("type"),
		object(p("type", enumOf("grammar")), p("grammar", grammar)).req("type", "grammar"),
	))).req("name")
	named := func() *node { return object(p("name", str())).req("name") }
	var props []prop
	if c.skipTok {
		props = append(props, p("skip_special_tokens", boolean().withDefault(false)))
	}
	return append(props,
		p("model", str()),
		p("audio", anyOf(object(
			p("voice", oneOf(str(), object(p("id", str())).req("id"))),
			p("format", enumOf("wav", "aac", "mp3", "flac", "opus", "pcm16")),
		).req("voice", "format"))),
		p("frequency_penalty", nullable(number().between(-2, 2)).withDefault(0)),
		p("logit_bias", nullable(typed("object"))),
		p("logprobs", nullable(boolean()).withDefault(false)),
		p("top_logprobs", nullable(integer().between(0, 20))),
		p("max_tokens", nullable(integer())),
		p("max_completion_tokens", nullable(integer())),
		p("metadata", nullable(typed("object"))),
		p("modalities", nullable(arrayOf(enumOf("text", "audio")))),
		p("n", nullable(integer().between(1, 128)).withDefault(1)),
		p("parallel_tool_calls", boolean().withDefault(true)),
		p("prediction", anyOf(object(
			p("type", enumOf("content")),
			p("content", anyOf(str(), arrayOf(textPart))),
		).req("type", "content"))),
		p("presence_penalty", nullable(number().between(-2, 2)).withDefault(0)),
		p("reasoning_effort", nullable(enumOf("low", "medium", "high"))),
		p("chat_template_kwargs", object(p("enable_thinking", boolean().withDefault(true)),
			p("clear_thinking", boolean().withDefault(false)))),
		p("response_format", anyOf(oneOf(
			object(p("type", enumOf("text"))).req("type"),
			object(p("type", enumOf("json_object"))).req("type"),
			object(p("type", enumOf("json_schema")), p("json_schema", object(p("name", str()), p("description", str()),
				p("schema", typed("object")), p("strict", nullable(boolean()))).req("name"))).req("type", "json_schema"),
		))),
		p("seed", nullable(integer())),
		p("stop", anyOf(null(), str(), arrayOf(str()).minCount(1).maxCount(4))),
		p("store", nullable(boolean()).withDefault(false)),
		p("stream", nullable(boolean()).withDefault(false)),
		p("stream_options", anyOf(object(p("include_usage", boolean()), p("include_obfuscation", boolean())))),
		p("temperature", nullable(number().between(0, 2)).withDefault(1)),
		p("tool_choice", anyOf(oneOf(
			enumOf("none", "auto", "required"),
			object(p("type", enumOf("function")), p("function", named())).req("type", "function"),
			object(p("type", enumOf("custom")), p("custom", named())).req("type", "custom"),
			object(p("type", enumOf("allowed_tools")), p("allowed_tools", object(p("mode", enumOf("auto", "required")),
				p("tools", arrayOf(typed("object")))).req("mode", "tools"))).req("type", "allowed_tools"),
		))),
		p("tools", arrayOf(oneOf(
			object(p("type", enumOf("function")), p("function", functionDef())).req("type", "function"),
			object(p("type", enumOf("custom")), p("custom", customTool)).req("type", "custom"),
		))),
		p("top_p", nullable(number().between(0, 1)).withDefault(1)),
		p("user", str()),
		p("web_search_options", anyOf(object(
			p("search_context_size", enumOf("low", "medium", "high").withDefault("medium")),
			p("user_location", object(p("type", enumOf("approximate")), p("approximate", object(
				p("city", str()), p("country", str()), p("region", str()), p("timezone", str())))).req("type", "approximate")),
		))),
		p("function_call", anyOf(enumOf("none", "auto"), named())),
		p("functions", arrayOf(functionDef()).minCount(1).maxCount(128)),
	)
}

// message is one item of messages: one branch per role, told apart by role.
func (c openAIChat) message() *node {
	textParts := func() *node {
		return anyOf(str(), arrayOf(object(p("type", enumOf("text")), p("text", str())).req("type", "text")))
	}
	plain := func(role string) *node {
		return object(p("role", enumOf(role)), p("content", textParts()), p("name", str())).req("role", "content")
	}
	part := object(p("type", enumOf(c.userParts...)), p("text", str()),
		p("image_url", object(p("url", str()), p("detail", enumOf("auto", "low", "high").withDefault("auto")))))
	for _, kind := range c.userParts {
		switch kind {
		case "video_url":
			part.props = append(part.props, p("video_url", object(p("url", str()))))
		case "input_audio":
			part.props = append(part.props, p("input_audio", object(p("data", str()), p("format", enumOf("wav", "mp3")))))
		case "file":
			part.props = append(part.props, p("file", object(p("file_data", str()), p("file_id", str()), p("filename", str()))))
		}
	}
	part.req("type")
	user := object(p("role", enumOf("user")), p("content", anyOf(str(), arrayOf(part).minCount(1))), p("name", str())).req("role", "content")
	toolCall := oneOf(
		object(p("id", str()), p("type", enumOf("function")),
			p("function", object(p("name", str()), p("arguments", str())).req("name", "arguments"))).req("id", "type", "function"),
		object(p("id", str()), p("type", enumOf("custom")),
			p("custom", object(p("name", str()), p("input", str())).req("name", "input"))).req("id", "type", "custom"),
	)
	assistant := object(
		p("role", enumOf("assistant")),
		p("content", anyOf(str(), null(), arrayOf(object(p("type", enumOf("text", "refusal")), p("text", str()), p("refusal", str())).req("type")))),
		p("refusal", nullable(str())),
		p("name", str()),
		p("audio", anyOf(object(p("id", str())).req("id"))),
		p("tool_calls", arrayOf(toolCall)),
		p("function_call", anyOf(object(p("name", str()), p("arguments", str())).req("name", "arguments"))),
	).req("role")
	tool := object(p("role", enumOf("tool")), p("content", textParts()), p("tool_call_id", str())).req("role", "content", "tool_call_id")
	function := object(p("role", enumOf("function")), p("content", str()), p("name", str())).req("role", "content", "name")
	return oneOf(plain("developer"), plain("system"), user, assistant, tool, function)
}

// request is one chat request: the prompt form or the messages form.
func (c openAIChat) request() *node {
	promptProps := append([]prop{p("prompt", str().minLen(1))}, c.params()...)
	messageProps := append([]prop{p("messages", arrayOf(c.message()).minCount(1))}, c.params()...)
	return typed("object").withOneOf(
		branch(promptProps...).req("prompt").titled("Prompt"),
		branch(messageProps...).req("messages").titled("Messages"),
	)
}

func (c openAIChat) input() *node {
	if !c.batch {
		return c.request()
	}
	return anyOf(c.request(), object(p("requests", arrayOf(c.request()))).req("requests"))
}

func (c openAIChat) output() *node {
	nullableStr := func() *node { return nullable(str()) }
	toolCall := object(p("id", str()), p("type", enumOf("function")),
		p("function", object(p("name", str()), p("arguments", str())).req("name", "arguments"))).req("id", "type", "function")
	message := object(
		p("role", enumOf("assistant")),
		p("content", nullableStr()),
		p("refusal", nullableStr()),
		p("tool_calls", arrayOf(toolCall)),
	)
	choice := object(
		p("index", integer()),
		p("message", anyOf(message)),
		p("finish_reason", enumOf("stop", "length", "tool_calls", "content_filter", "function_call")),
		p("logprobs", nullable(typed("object"))),
	)
	usage := object(
		p("prompt_tokens", integer()), p("completion_tokens", integer()), p("total_tokens", integer()),
		p("prompt_tokens_details", object(p("cached_tokens", integer()), p("audio_tokens", integer()))),
		p("completion_tokens_details", object(p("reasoning_tokens", integer()), p("audio_tokens", integer()),
			p("accepted_prediction_tokens", integer()), p("rejected_prediction_tokens", integer()))),
	).req("prompt_tokens", "completion_tokens", "total_tokens")
	completion := object(
		p("id", str()), p("object", str()), p("created", integer()), p("model", str()),
		p("choices", arrayOf(anyOf(choice))),
		p("usage", usage),
		p("system_fingerprint", nullableStr()),
		p("service_tier", nullableStr()),
	).req("id", "object", "created", "model", "choices").ctype("application/json")
	return oneOf(completion, binaryString().ctype("text/event-stream"))
}

// embeddingsInput is the BGE models' input: one text or up to 100, or an async batch.
func embeddingsInput() *node {
	fields := func() []prop {
		return []prop{
			p("text", oneOf(str().minLen(1), arrayOf(str().minLen(1)).maxCount(100))),
			p("pooling", enumOf("mean", "cls").withDefault("mean")),
		}
	}
	return typed("object").withOneOf(
		branch(fields()...).req("text"),
		branch(p("requests", arrayOf(branch(fields()...).req("text")))).req("requests"),
	)
}

func embeddingsOutput() *node {
	return oneOf(
		object(
			p("shape", arrayOf(number())),
			p("data", arrayOf(arrayOf(number()))),
			p("pooling", enumOf("mean", "cls")),
		).ctype("application/json"),
		asyncResponse(),
	)
}

// speechInput is Whisper's: the audio itself, or {"audio": [bytes]}.
func speechInput() *node {
	return oneOf(binaryString(), object(p("audio", byteArray())).req("audio"))
}

func speechOutput() *node {
	return object(
		p("text", str()),
		p("word_count", number()),
		p("words", arrayOf(object(p("word", str()), p("start", number()), p("end", number())))),
		p("vtt", str()),
	).req("text").ctype("application/json")
}

// captionInput is LLaVA's (and the retired UForm-Gen2's): the image itself, or {image,
// prompt?, ...}. It takes no messages.
func captionInput() *node {
	return oneOf(binaryString(), object(
		p("temperature", number()),
		p("prompt", str()),
		p("raw", boolean().withDefault(false)),
		p("image", oneOf(byteArray(), binaryString())),
		p("max_tokens", integer().withDefault(512)),
	).req("image"))
}

func captionOutput() *node {
	return object(p("description", str())).ctype("application/json")
}

// moondreamInput is @cf/moondream/moondream3.1-9B-A2B's: nothing is required, and it streams
// unless told not to.
func moondreamInput() *node {
	return object(
		p("task", enumOf("query", "caption", "point", "detect").withDefault("query")),
		p("image", str()),
		p("question", str().withDefault("What's in this image?")),
		p("caption_length", enumOf("short", "normal", "long").withDefault("normal")),
		p("target", str().withDefault("person")),
		p("reasoning", boolean().withDefault(true)),
		p("temperature", number().between(0, 2).withDefault(0.5)),
		p("top_p", number().between(0, 1).withDefault(0.9)),
		p("max_tokens", integer().between(1, 2048).withDefault(768)),
		p("max_objects", integer().between(1, 500).withDefault(150)),
		p("stream", boolean().withDefault(true)),
	)
}

func moondreamOutput() *node {
	xy := object(p("x", number()), p("y", number())).req("x", "y")
	box := object(p("x_min", number()), p("y_min", number()), p("x_max", number()), p("y_max", number())).
		req("x_min", "y_min", "x_max", "y_max")
	return object(
		p("finish_reason", str()),
		p("metrics", object(p("input_tokens", integer()), p("output_tokens", integer()), p("prefill_time_ms", number()),
			p("decode_time_ms", number()), p("ttft_ms", number())).
			req("input_tokens", "output_tokens", "prefill_time_ms", "decode_time_ms", "ttft_ms")),
		p("answer", str()),
		p("caption", str()),
		p("points", arrayOf(xy)),
		p("objects", arrayOf(box)),
		p("reasoning", object(p("text", str()), p("grounding", arrayOf(typed("object")))).req("text")),
	).req("finish_reason", "metrics").ctype("application/json")
}

// summaryInput is @cf/facebook/bart-large-cnn's (retired).
func summaryInput() *node {
	return object(p("input_text", str().minLen(1)), p("max_length", integer().withDefault(1024))).req("input_text")
}

func summaryOutput() *node {
	return object(p("summary", str())).ctype("application/json")
}
