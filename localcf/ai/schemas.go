package ai

// Input contracts per task. Types and the bounds that the model catalog
// documents are enforced; where a bound is not documented the field is only
// type-checked, so that valid production requests are never refused here.

// Text-to-image size limits and defaults (catalog: 256..2048, default 1024).
const (
	minImageSide     = 256
	maxImageSide     = 2048
	defaultImageSide = 1024
	maxImageSteps    = 20
)

func textToImageSchema() *schema {
	return &schema{fields: []field{
		{name: "prompt", kind: kindString, required: true, min: bound(1)},
		{name: "negative_prompt", kind: kindString},
		{name: "height", kind: kindInteger, min: bound(minImageSide), max: bound(maxImageSide)},
		{name: "width", kind: kindInteger, min: bound(minImageSide), max: bound(maxImageSide)},
		{name: "num_steps", kind: kindInteger, min: bound(1), max: bound(maxImageSteps)},
		{name: "guidance", kind: kindNumber},
		{name: "strength", kind: kindNumber, min: bound(0), max: bound(1)},
		{name: "seed", kind: kindInteger},
		{name: "image", kind: kindBytes},
		{name: "image_b64", kind: kindString},
		{name: "mask", kind: kindBytes},
	}}
}

func textGenerationSchema() *schema {
	return &schema{
		exactlyOne: []string{"prompt", "messages"},
		fields: []field{
			{name: "prompt", kind: kindString, min: bound(1), max: bound(131072)},
			{name: "messages", kind: kindMessages},
			{name: "raw", kind: kindBool},
			{name: "stream", kind: kindBool},
			{name: "max_tokens", kind: kindInteger, min: bound(1)},
			{name: "temperature", kind: kindNumber, min: bound(0), max: bound(5)},
			{name: "top_p", kind: kindNumber, min: bound(0), max: bound(2)},
			{name: "top_k", kind: kindInteger, min: bound(1), max: bound(50)},
			{name: "seed", kind: kindInteger},
			{name: "repetition_penalty", kind: kindNumber, min: bound(0), max: bound(2)},
			{name: "frequency_penalty", kind: kindNumber, min: bound(-2), max: bound(2)},
			{name: "presence_penalty", kind: kindNumber, min: bound(-2), max: bound(2)},
			{name: "lora", kind: kindString},
			{name: "tools", kind: kindArray},
			{name: "functions", kind: kindArray},
			{name: "response_format", kind: kindObject},
		},
	}
}

func embeddingsSchema() *schema {
	return &schema{fields: []field{
		{name: "text", kind: kindStringOrStrings, required: true},
		{name: "pooling", kind: kindString, enum: []string{"mean", "cls"}},
	}}
}

func speechSchema() *schema {
	return &schema{binaryBody: "audio", fields: []field{
		{name: "audio", kind: kindBytes, required: true},
	}}
}

func imageToTextSchema() *schema {
	return &schema{fields: []field{
		{name: "image", kind: kindBytesOrString, required: true},
		{name: "prompt", kind: kindString},
		{name: "messages", kind: kindMessages},
		{name: "raw", kind: kindBool},
		{name: "max_tokens", kind: kindInteger, min: bound(1)},
		{name: "temperature", kind: kindNumber, min: bound(0), max: bound(5)},
		{name: "top_p", kind: kindNumber, min: bound(0), max: bound(2)},
		{name: "top_k", kind: kindInteger, min: bound(1), max: bound(50)},
		{name: "seed", kind: kindInteger},
	}}
}
