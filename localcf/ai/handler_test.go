package ai

import (
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func post(t *testing.T, srv *httptest.Server, path, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := srv.Client().Post(srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return resp, data
}

func TestHandlerRunImage(t *testing.T) {
	s := NewService()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	body := `{"prompt":"a lighthouse at dawn","width":512,"height":256,"seed":9}`
	resp, data := post(t, srv, "/run/"+sdxl, body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("status %d content type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil || img.Bounds().Dx() != 512 || img.Bounds().Dy() != 256 {
		t.Fatalf("decoded %v, err %v; want 512x256 png", img.Bounds(), err)
	}
	direct := mustRun(t, s, sdxl, body)
	if !bytes.Equal(direct.Body, data) {
		t.Error("Handler bytes differ from Run bytes")
	}
}

func TestHandlerRunJSONAndStream(t *testing.T) {
	srv := httptest.NewServer(NewService().Handler())
	defer srv.Close()
	resp, data := post(t, srv, "/run/"+llamaFast, `{"prompt":"hello"}`)
	var out map[string]any
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(data, &out) != nil {
		t.Fatalf("status %d %q body %s", resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	if _, ok := out["response"].(string); !ok {
		t.Errorf("bare result lacks response: %s", data)
	}
	resp, data = post(t, srv, "/run/"+llamaFast, `{"prompt":"hello","stream":true}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" ||
		!strings.HasPrefix(string(data), `data: {"response":`) || !strings.HasSuffix(string(data), "data: [DONE]\n\n") {
		t.Errorf("stream: status %d %q body %q", resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
}

func TestHandlerRunErrors(t *testing.T) {
	srv := httptest.NewServer(NewService().Handler())
	defer srv.Close()
	cases := []struct {
		path, body string
		status     int
		code       int
	}{
		{"/run/@cf/missing/model", `{"prompt":"x"}`, 400, CodeNoSuchModel},
		{"/run/" + sdxl, `{"prompt":"x","width":10}`, 400, CodeInvalidInput},
		{"/run/" + sdxl, ``, 400, CodeMissingBody},
		{"/run/" + retiredLlama, `{"prompt":"x"}`, 400, CodeNoSuchModel},
	}
	for _, c := range cases {
		resp, data := post(t, srv, c.path, c.body)
		var body struct {
			Errors []struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"errors"`
		}
		if err := json.Unmarshal(data, &body); err != nil || len(body.Errors) != 1 {
			t.Fatalf("%s %s: body %s is not {\"errors\":[...]}", c.path, c.body, data)
		}
		if resp.StatusCode != c.status || body.Errors[0].Code != c.code || body.Errors[0].Message == "" {
			t.Errorf("%s %s: status %d code %d %q, want %d %d", c.path, c.body,
				resp.StatusCode, body.Errors[0].Code, body.Errors[0].Message, c.status, c.code)
		}
	}
}

func TestHandlerModels(t *testing.T) {
	srv := httptest.NewServer(NewService().Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/models?task=Text-to-Image&per_page=2")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Models []Model `json:"models"`
		Total  int     `json:"total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || out.Total != 4 || len(out.Models) != 2 || out.Models[0].Task.Name != TaskTextToImage {
		t.Errorf("status %d, total %d, models %v", resp.StatusCode, out.Total, names(out.Models))
	}
	bad, err := srv.Client().Get(srv.URL + "/models?page=x")
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if bad.StatusCode != 400 {
		t.Errorf("bad page: status %d, want 400", bad.StatusCode)
	}
}

func TestHandlerAcceptsEscapedModelName(t *testing.T) {
	srv := httptest.NewServer(NewService().Handler())
	defer srv.Close()
	resp, data := post(t, srv, "/run/%40cf%2Fmeta%2Fllama-3.1-8b-instruct-fast", `{"prompt":"hi"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("escaped model name: status %d body %s", resp.StatusCode, data)
	}
}

// TestHandlerReadsTheContentType: the binding protocol labels its JSON application/json; a
// body with another label goes to a model as its raw input.
func TestHandlerReadsTheContentType(t *testing.T) {
	srv := httptest.NewServer(NewService().Handler())
	defer srv.Close()
	body := `{"audio":[1,2,3]}`
	for ctype, want := range map[string]string{
		"application/json":                transcribe([]byte{1, 2, 3}).Text,
		"application/json; charset=UTF-8": transcribe([]byte{1, 2, 3}).Text,
		"application/json-seq":            transcribe([]byte(body)).Text,
		"text/plain":                      transcribe([]byte(body)).Text,
	} {
		resp, err := srv.Client().Post(srv.URL+"/run/"+whisper, ctype, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Text string `json:"text"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || out.Text != want {
			t.Errorf("%s: status %d, text %q (%v), want %q", ctype, resp.StatusCode, out.Text, err, want)
		}
	}
}
