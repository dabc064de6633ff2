package provision

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision/spec"
)

func encodedImage(t *testing.T, format string) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	var buf bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCheckBodyExtensions(t *testing.T) {
	pngBytes, jpegBytes := encodedImage(t, "png"), encodedImage(t, "jpeg")
	sse := "data: {\"response\":\"hi\"}\n\ndata: {\"response\":\" there\"}\n\ndata: [DONE]\n\n"
	cases := []struct {
		name, contentType, body, expect string
		fields                          []string
		wantErr                         string // "" = passes
	}{
		{"png under image/", "image/png", string(pngBytes), "image/", nil, ""},
		{"jpeg under image/", "image/jpeg", string(jpegBytes), "image/", nil, ""},
		{"truncated jpeg", "image/jpeg", string(jpegBytes[:len(jpegBytes)-10]), "image/", nil, "end-of-image"},
		{"jpeg labelled png", "image/png", string(jpegBytes), "image/", nil, "not a valid PNG"},
		{"gif is no PNG or JPEG", "image/gif", "GIF89a", "image/", nil, "PNG or JPEG"},
		{"text is not image/", "text/plain", "hello", "image/", nil, `want "image/"`},
		{"exact jpeg", "image/jpeg", string(jpegBytes), "image/jpeg", nil, ""},
		{"json fields present", "application/json", `{"matches":[],"count":0}`, "application/json", []string{"matches", "count"}, ""},
		{"json field missing", "application/json; charset=utf-8", `{"matches":[]}`, "application/json", []string{"matches", "count"}, "lacks field(s) count"},
		{"json array with fields", "application/json", `[1]`, "application/json", []string{"x"}, "not a JSON object"},
		{"sse complete", "text/event-stream", sse, "text/event-stream", nil, ""},
		{"sse crlf", "text/event-stream", strings.ReplaceAll(sse, "\n", "\r\n"), "text/event-stream", nil, ""},
		{"sse cut short", "text/event-stream", "data: {\"response\":\"hi\"}\n\n", "text/event-stream", nil, "[DONE]"},
		{"sse only done", "text/event-stream", "data: [DONE]\n\n", "text/event-stream", nil, "no content"},
		{"sse no events", "text/event-stream", "hello", "text/event-stream", nil, "no data: events"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := checkBody(&smokeResponse{status: 200, contentType: c.contentType, body: []byte(c.body)}, c.expect, c.fields)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("checkBody: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("checkBody err = %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

func TestSmokeRequestBody(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a.wav")
	if err := os.WriteFile(file, []byte{0, 1, 2, 255}, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		sm                        spec.Smoke
		method, contentType, body string
	}{
		{spec.Smoke{Prompt: "hi"}, "POST", "application/json", `{"prompt":"hi"}`},
		{spec.Smoke{Method: "PUT", Body: []byte(`{"text":"x"}`)}, "PUT", "application/json", `{"text":"x"}`},
		{spec.Smoke{BodyFile: file, ContentType: "audio/wav"}, "POST", "audio/wav", "\x00\x01\x02\xff"},
	}
	for _, c := range cases {
		req, err := smokeRequestBody(c.sm)
		if err != nil {
			t.Fatal(err)
		}
		if req.method != c.method || req.contentType != c.contentType || string(req.body) != c.body {
			t.Errorf("smokeRequestBody(%+v) = %s %s %q", c.sm, req.method, req.contentType, req.body)
		}
	}
}
