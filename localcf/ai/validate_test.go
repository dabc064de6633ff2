package ai

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestRunValidation(t *testing.T) {
	s := NewService()
	cases := []struct {
		name    string
		model   string
		body    string
		status  int
		code    int
		message string
	}{
		{"unknown model", "@cf/nobody/nothing", `{"prompt":"x"}`, 400, 5007, "No such model @cf/nobody/nothing or task"},
		{"empty body", sdxl, ``, 400, 3003, "Request is missing headers or body"},
		{"invalid json", sdxl, `{"prompt":`, 400, 5006, "Invalid input: request body is not valid JSON: unexpected end of JSON input"},
		{"array body", sdxl, `["prompt"]`, 400, 5006, "Invalid input: must be object"},
		{"null body", sdxl, `null`, 400, 5006, "Invalid input: must be object"},
		{"missing prompt", sdxl, `{"width":512}`, 400, 5006, "Invalid input: must have required property 'prompt'"},
		{"empty prompt", sdxl, `{"prompt":""}`, 400, 5006, "Invalid input: /prompt must NOT have fewer than 1 characters"},
		{"prompt not string", sdxl, `{"prompt":42}`, 400, 5006, "Invalid input: /prompt must be string"},
		{"negative prompt not string", sdxl, `{"prompt":"x","negative_prompt":["a"]}`, 400, 5006, "Invalid input: /negative_prompt must be string"},
		{"width too small", sdxl, `{"prompt":"x","width":255}`, 400, 5006, "Invalid input: /width must be >= 256"},
		{"height too large", sdxl, `{"prompt":"x","height":2049}`, 400, 5006, "Invalid input: /height must be <= 2048"},
		{"width fractional", sdxl, `{"prompt":"x","width":512.5}`, 400, 5006, "Invalid input: /width must be integer"},
		{"width string", sdxl, `{"prompt":"x","width":"512"}`, 400, 5006, "Invalid input: /width must be integer"},
		{"num_steps too many", sdxl, `{"prompt":"x","num_steps":21}`, 400, 5006, "Invalid input: /num_steps must be <= 20"},
		{"guidance not number", sdxl, `{"prompt":"x","guidance":"high"}`, 400, 5006, "Invalid input: /guidance must be number"},
		{"seed fractional", sdxl, `{"prompt":"x","seed":1.5}`, 400, 5006, "Invalid input: /seed must be integer"},
		{"mask item not number", sdxl, `{"prompt":"x","mask":[1,"a"]}`, 400, 5006, "Invalid input: /mask/1 must be number"},
		{"image null item", sdxl, `{"prompt":"x","image":[1,null]}`, 400, 5006, "Invalid input: /image/1 must be number"},
		{"image not array", sdxl, `{"prompt":"x","image":"abc"}`, 400, 5006, "Invalid input: /image must be array"},
		{"image as a Uint8Array stringified", sdxl, `{"prompt":"x","image":{"0":137,"1":80}}`, 400, 5006, "Invalid input: /image must be array"},
		{"image_b64 not base64", sdxl, `{"prompt":"x","image_b64":"***"}`, 400, 5004, "Invalid data for base64 input: /image_b64 is not valid base64"},
		{"lightning shares rules", lightning, `{"prompt":"x","width":100}`, 400, 5006, "Invalid input: /width must be >= 256"},
		{"flux takes no width", flux, `{"prompt":"x","width":256}`, 400, 5006, "Invalid input: must NOT have additional property 'width'"},
		{"flux steps", flux, `{"prompt":"x","steps":9}`, 400, 5006, "Invalid input: /steps must be <= 8"},

		{"neither prompt nor messages", llamaFast, `{"max_tokens":5}`, 400, 5006, "Invalid input: must have required property 'prompt' or 'messages'"},
		{"both prompt and messages", llamaFast, `{"prompt":"a","messages":[{"role":"user","content":"b"}]}`, 400, 5006, "Invalid input: must match exactly one schema in oneOf: send only one of prompt, messages"},
		{"messages not array", llamaFast, `{"messages":"hi"}`, 400, 5006, "Invalid input: /messages must be array"},
		{"message without role", llamaFast, `{"messages":[{"content":"hi"}]}`, 400, 5006, "Invalid input: /messages/0 must have required property 'role'"},
		{"message content number", llamaFast, `{"messages":[{"role":"user","content":1}]}`, 400, 5006, "Invalid input: /messages/0/content must be string"},
		{"message content parts", llamaFast, `{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`, 400, 5006, "Invalid input: /messages/0/content must be string"},
		{"stream not bool", llamaFast, `{"prompt":"a","stream":"yes"}`, 400, 5006, "Invalid input: /stream must be boolean"},
		{"temperature too high", llamaFast, `{"prompt":"a","temperature":5.5}`, 400, 5006, "Invalid input: /temperature must be <= 5"},
		{"frequency_penalty below 0", llamaFast, `{"prompt":"a","frequency_penalty":-1}`, 400, 5006, "Invalid input: /frequency_penalty must be >= 0"},
		{"presence_penalty below 0", llamaFast, `{"messages":[{"role":"user","content":"a"}],"presence_penalty":-0.5}`, 400, 5006, "Invalid input: /presence_penalty must be >= 0"},
		{"repetition_penalty above 2", llamaFast, `{"prompt":"a","repetition_penalty":2.5}`, 400, 5006, "Invalid input: /repetition_penalty must be <= 2"},
		{"seed 0", llamaFast, `{"prompt":"a","seed":0}`, 400, 5006, "Invalid input: /seed must be >= 1"},
		{"image as a Uint8Array stringified (llama)", llamaFast, `{"prompt":"a","image":{"0":1}}`, 400, 5006, "Invalid input: /image must be array or string"},
		{"70B top_p 0", llama70B, `{"prompt":"a","top_p":0}`, 400, 5006, "Invalid input: /top_p must be >= 0.001"},
		{"70B JSON mode type", llama70B, `{"prompt":"a","response_format":{"type":"yaml"}}`, 400, 5006, "Invalid input: /response_format/type must be equal to one of the allowed values: json_object, json_schema"},

		{"openai temperature above 2", glm, `{"prompt":"a","temperature":2.5}`, 400, 5006, "Invalid input: /temperature must be <= 2"},
		{"openai penalty below -2", glm, `{"prompt":"a","presence_penalty":-3}`, 400, 5006, "Invalid input: /presence_penalty must be >= -2"},
		{"openai top_p above 1", glm, `{"prompt":"a","top_p":1.5}`, 400, 5006, "Invalid input: /top_p must be <= 1"},
		{"openai messages empty", glm, `{"messages":[]}`, 400, 5006, "Invalid input: /messages must NOT have fewer than 1 items"},
		{"openai unknown role", glm, `{"messages":[{"role":"robot","content":"x"}]}`, 400, 5006, "Invalid input: /messages/0/role must be equal to one of the allowed values: developer, system, user, assistant, tool, function"},
		{"openai user content number", glm, `{"messages":[{"role":"user","content":5}]}`, 400, 5006, "Invalid input: /messages/0/content must be string or array"},
		{"openai tool without id", glm, `{"messages":[{"role":"tool","content":"42"}]}`, 400, 5006, "Invalid input: /messages/0 must have required property 'tool_call_id'"},
		{"openai stop too many", glm, `{"prompt":"a","stop":["a","b","c","d","e"]}`, 400, 5006, "Invalid input: /stop must NOT have more than 4 items"},
		{"openai reasoning_effort", gemma, `{"prompt":"a","reasoning_effort":"max"}`, 400, 5006, "Invalid input: /reasoning_effort must be equal to one of the allowed values: low, medium, high"},
		{"gemma takes no video part", gemma, `{"messages":[{"role":"user","content":[{"type":"video_url","video_url":{"url":"https://x"}}]}]}`, 400, 5006, "Invalid input: /messages/0/content/0/type must be equal to one of the allowed values: text, image_url, input_audio, file"},
		{"gemma empty object", gemma, `{}`, 400, 5006, "Invalid input: must have required property 'prompt' or 'messages'"},

		{"embedding text missing", bgeSmall, `{}`, 400, 5006, "Invalid input: must have required property 'text' or 'requests'"},
		{"embedding text number", bgeSmall, `{"text":3}`, 400, 5006, "Invalid input: /text must be string or array"},
		{"embedding text item number", bgeSmall, `{"text":["a",3]}`, 400, 5006, "Invalid input: /text/1 must be string"},
		{"embedding empty text", bgeSmall, `{"text":""}`, 400, 5006, "Invalid input: /text must NOT have fewer than 1 characters"},
		{"embedding pooling unknown", bgeSmall, `{"text":"a","pooling":"max"}`, 400, 5006, "Invalid input: /pooling must be equal to one of the allowed values: mean, cls"},
		{"whisper audio missing", whisper, `{}`, 400, 5006, "Invalid input: must have required property 'audio'"},
		{"whisper audio as a Uint8Array stringified", whisper, `{"audio":{"0":82,"1":73}}`, 400, 5006, "Invalid input: /audio must be array"},
		{"whisper bare byte array", whisper, `[82,73,70,70]`, 400, 5006, "Invalid input: must be string or object"},
		{"llava image missing", llava, `{"prompt":"what is this"}`, 400, 5006, "Invalid input: must have required property 'image'"},
		{"llava messages are no input", llava, `{"messages":[{"role":"user","content":"what is this"}]}`, 400, 5006, "Invalid input: must have required property 'image'"},
		{"llava prompt number", llava, `{"image":[1],"prompt":5}`, 400, 5006, "Invalid input: /prompt must be string"},
		{"moondream task", moondream, `{"task":"segment"}`, 400, 5006, "Invalid input: /task must be equal to one of the allowed values: query, caption, point, detect"},
		{"moondream max_tokens", moondream, `{"question":"x","max_tokens":4096}`, 400, 5006, "Invalid input: /max_tokens must be <= 2048"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := runError(t, s, c.model, []byte(c.body))
			if err.Status != c.status || err.Code != c.code || err.Message != c.message {
				t.Errorf("got status %d code %d %q\nwant status %d code %d %q",
					err.Status, err.Code, err.Message, c.status, c.code, c.message)
			}
		})
	}
}

// TestRunAcceptsWhatTheSchemasAllow: inputs the published schemas accept are not refused,
// however odd (num_steps 0, an empty list of texts, byte values out of range: the catalog
// types them as numbers only).
func TestRunAcceptsWhatTheSchemasAllow(t *testing.T) {
	s := NewService()
	cases := []struct{ model, body string }{
		{sdxl, `{"prompt":"x","negative_prompt":"y","width":256,"height":2048,"num_steps":20,"guidance":7.5,"strength":1,"seed":12345678901,"image":[0,255,3],"mask":[1],"image_b64":"aGVsbG8=","unknown_field":true}`},
		{sdxl, `{"prompt":"x","width":5.12e2,"height":256.0}`},
		{sdxl, `{"prompt":"x","width":256,"height":256,"num_steps":0}`},
		{sdxl, `{"prompt":"x","strength":1.5,"image":[-1,256]}`},
		{lightning, `{"prompt":"x","num_steps":4}`},
		{flux, `{"prompt":"x","steps":4}`},
		{llamaFast, `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"max_tokens":3,"temperature":0,"top_k":50,"stream":false}`},
		{llamaFast, `{"prompt":"hi","frequency_penalty":2,"presence_penalty":0,"repetition_penalty":1.1,"seed":9999999999,"image":[1,2]}`},
		{llamaFast, `{"prompt":"hi","max_tokens":0}`},
		{llamaFast, `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"a":{"type":"string","description":"x"}}}}}]}`},
		{llama70B, `{"prompt":"hi","frequency_penalty":-2,"response_format":{"type":"json_object"}}`},
		{glm, `{"messages":[{"role":"developer","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","content":"42","tool_call_id":"1"}],"max_completion_tokens":8,"frequency_penalty":-1.5,"temperature":null,"stop":"\n","stream":false,"stream_options":{"include_usage":true}}`},
		{gemma, `{"messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}}]}],"max_tokens":16}`},
		{gemma, `{"prompt":"hi","reasoning_effort":"low","response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}}`},
		{bgeSmall, `{"text":["a","b"],"pooling":"cls"}`},
		{bgeSmall, `{"text":[]}`},
		{whisper, `{"audio":[]}`},
		{whisper, `{"audio":[1,2,300,-4]}`},
		{llava, `{"image":"aGVsbG8=","prompt":"describe"}`},
		{llava, `{"image":[137,80],"messages":"not an input of this model, so not checked"}`},
		{moondream, `{"question":"What is it?","stream":false}`},
	}
	for _, c := range cases {
		if _, err := s.Run(t.Context(), c.model, []byte(c.body)); err != nil {
			t.Errorf("Run(%s, %s): %v", c.model, c.body, err)
		}
	}
}

func TestRunRejectsOversizedInput(t *testing.T) {
	body := []byte(`{"prompt":"` + strings.Repeat("a", MaxInputBytes) + `"}`)
	err := runError(t, NewService(), sdxl, body)
	if err.Status != 413 || err.Code != CodeTooLarge {
		t.Fatalf("got status %d code %d, want 413 %d", err.Status, err.Code, CodeTooLarge)
	}
}

// TestRetiredModelsAnswerNoInference: from its planned_deprecation_date on (the service's
// clock), a retired model fails like a model that does not exist; the day before, it runs.
func TestRetiredModelsAnswerNoInference(t *testing.T) {
	before, after := serviceOn(t, "2026-05-29"), serviceOn(t, "2026-05-30")
	for _, model := range []string{retiredLlama, "@cf/meta/llama-3-8b-instruct", "@hf/google/gemma-7b-it", "@cf/mistral/mistral-7b-instruct-v0.1"} {
		if _, err := before.Run(context.Background(), model, []byte(`{"prompt":"hello"}`)); err != nil {
			t.Errorf("%s before its date: %v", model, err)
		}
		e := runError(t, after, model, []byte(`{"prompt":"hello"}`))
		if e.Status != 400 || e.Code != CodeNoSuchModel || e.Message != "No such model "+model+" or task" {
			t.Errorf("%s after its date: %d %d %q, want 400 5007 No such model", model, e.Status, e.Code, e.Message)
		}
	}
	png := "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	if e := runError(t, after, "@cf/unum/uform-gen2-qwen-500m", []byte(`{"image":"`+png+`"}`)); e.Code != CodeNoSuchModel {
		t.Errorf("uform after its date: %v", e)
	}
	if e := runError(t, after, "@cf/facebook/bart-large-cnn", []byte(`{"input_text":"a long text"}`)); e.Code != CodeNoSuchModel {
		t.Errorf("bart after its date: %v", e)
	}
	if e := runError(t, NewService(), retiredLlama, []byte(`{"prompt":"hello"}`)); e.Code != CodeNoSuchModel {
		t.Errorf("%s on today's clock: %v", retiredLlama, e)
	}
	// Its replacement runs on the same day.
	if _, err := after.Run(context.Background(), llamaFast, []byte(`{"prompt":"hello"}`)); err != nil {
		t.Errorf("%s: %v", llamaFast, err)
	}
}

// TestKimiK25IsAnAlias: Cloudflare aliased kimi-k2.5 to kimi-k2.6 on its retirement date
// rather than failing it.
func TestKimiK25IsAnAlias(t *testing.T) {
	out := mustRun(t, serviceOn(t, "2026-06-01"), "@cf/moonshotai/kimi-k2.5", map[string]any{"prompt": "hi"})
	var got completionOut
	roundTripJSON(t, out, &got)
	if got.Model != "@cf/moonshotai/kimi-k2.6" {
		t.Errorf("kimi-k2.5 after its date answered as %q, want kimi-k2.6", got.Model)
	}
	out = mustRun(t, serviceOn(t, "2026-05-01"), "@cf/moonshotai/kimi-k2.5", map[string]any{"prompt": "hi"})
	roundTripJSON(t, out, &got)
	if got.Model != "@cf/moonshotai/kimi-k2.5" {
		t.Errorf("kimi-k2.5 before its date answered as %q", got.Model)
	}
}

// TestByteArrayFastPaths: the fast count and parse of byte arrays agree with encoding/json
// wherever they answer, and leave everything else to it.
func TestByteArrayFastPaths(t *testing.T) {
	for _, raw := range []string{`[]`, `[ ]`, `[0,255, 7 ]`, "[\n1,\t2\r\n]", `[256]`, `[1.5]`, `[-1]`, `[1e2]`,
		`[1,"a"]`, `[null]`, `[true]`, `[[1]]`, `[{}]`, `[1234567890123]`} {
		numbers, isNumbers := decodeNumbers(json.RawMessage(raw))
		if n, ok := numberArrayLen(json.RawMessage(raw)); ok != isNumbers || (ok && n != len(numbers)) {
			t.Errorf("numberArrayLen(%s) = %d, %v; encoding/json: %d numbers, %v", raw, n, ok, len(numbers), isNumbers)
		}
		if b, ok := parseByteArray(json.RawMessage(raw)); ok {
			if !isNumbers || len(b) != len(numbers) {
				t.Fatalf("parseByteArray(%s) = %v, but encoding/json reads %v", raw, b, numbers)
			}
			for i, n := range numbers {
				if b[i] != byte(int64(n)) {
					t.Errorf("parseByteArray(%s)[%d] = %d, want %d", raw, i, b[i], byte(int64(n)))
				}
			}
		}
	}
}
