package ai

import (
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
		{"strength out of range", sdxl, `{"prompt":"x","strength":1.5}`, 400, 5006, "Invalid input: /strength must be <= 1"},
		{"image byte too big", sdxl, `{"prompt":"x","image":[0,1,256]}`, 400, 5006, "Invalid input: /image/2 must be <= 255"},
		{"image byte negative", sdxl, `{"prompt":"x","image":[-1]}`, 400, 5006, "Invalid input: /image/0 must be >= 0"},
		{"mask item not number", sdxl, `{"prompt":"x","mask":[1,"a"]}`, 400, 5006, "Invalid input: /mask/1 must be number"},
		{"image null item", sdxl, `{"prompt":"x","image":[1,null]}`, 400, 5006, "Invalid input: /image/1 must be number"},
		{"image not array", sdxl, `{"prompt":"x","image":"abc"}`, 400, 5006, "Invalid input: /image must be array"},
		{"image_b64 not base64", sdxl, `{"prompt":"x","image_b64":"***"}`, 400, 5004, "Invalid data for base64 input: /image_b64 is not valid base64"},
		{"lightning shares rules", lightning, `{"prompt":"x","width":100}`, 400, 5006, "Invalid input: /width must be >= 256"},
		{"neither prompt nor messages", llama3, `{"max_tokens":5}`, 400, 5006, "Invalid input: must have required property 'prompt' or 'messages'"},
		{"both prompt and messages", llama3, `{"prompt":"a","messages":[{"role":"user","content":"b"}]}`, 400, 5006, "Invalid input: must match exactly one schema in oneOf: send only one of prompt, messages"},
		{"messages not array", llama3, `{"messages":"hi"}`, 400, 5006, "Invalid input: /messages must be array"},
		{"messages empty", llama3, `{"messages":[]}`, 400, 5006, "Invalid input: /messages must NOT have fewer than 1 items"},
		{"message without role", llama3, `{"messages":[{"content":"hi"}]}`, 400, 5006, "Invalid input: /messages/0 must have required property 'role'"},
		{"message content number", llama3, `{"messages":[{"role":"user","content":1}]}`, 400, 5006, "Invalid input: /messages/0/content must be string"},
		{"stream not bool", llama3, `{"prompt":"a","stream":"yes"}`, 400, 5006, "Invalid input: /stream must be boolean"},
		{"max_tokens zero", llama3, `{"prompt":"a","max_tokens":0}`, 400, 5006, "Invalid input: /max_tokens must be >= 1"},
		{"temperature too high", llama3, `{"prompt":"a","temperature":5.5}`, 400, 5006, "Invalid input: /temperature must be <= 5"},
		{"embedding text missing", bgeSmall, `{}`, 400, 5006, "Invalid input: must have required property 'text'"},
		{"embedding text number", bgeSmall, `{"text":3}`, 400, 5006, "Invalid input: /text must be string or array of strings"},
		{"embedding text item number", bgeSmall, `{"text":["a",3]}`, 400, 5006, "Invalid input: /text/1 must be string"},
		{"embedding text empty array", bgeSmall, `{"text":[]}`, 400, 5006, "Invalid input: /text must NOT have fewer than 1 items"},
		{"embedding pooling unknown", bgeSmall, `{"text":"a","pooling":"max"}`, 400, 5006, "Invalid input: /pooling must be equal to one of the allowed values: mean, cls"},
		{"whisper audio missing", whisper, `{}`, 400, 5006, "Invalid input: must have required property 'audio'"},
		{"whisper audio byte", whisper, `{"audio":[1,2,300]}`, 400, 5006, "Invalid input: /audio/2 must be <= 255"},
		{"image-to-text image missing", uform, `{"prompt":"what is this"}`, 400, 5006, "Invalid input: must have required property 'image'"},
		{"image-to-text prompt number", uform, `{"image":[1],"prompt":5}`, 400, 5006, "Invalid input: /prompt must be string"},
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

func TestRunAcceptsValidInputs(t *testing.T) {
	s := NewService()
	cases := []struct{ model, body string }{
		{sdxl, `{"prompt":"x","negative_prompt":"y","width":256,"height":2048,"num_steps":20,"guidance":7.5,"strength":1,"seed":12345678901,"image":[0,255,3],"mask":[1],"image_b64":"aGVsbG8=","unknown_field":true}`},
		{sdxl, `{"prompt":"x","width":5.12e2,"height":256.0}`},
		{llama3, `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":3,"temperature":0,"top_k":50,"stream":false}`},
		{bgeSmall, `{"text":["a","b"],"pooling":"cls"}`},
		{whisper, `{"audio":[]}`},
		{uform, `{"image":"aGVsbG8=","prompt":"describe"}`},
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
