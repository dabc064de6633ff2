package localcf

import (
	"bytes"
	"testing"
)

// FuzzParseUpload: the multipart and metadata parser never panics, and what it accepts is
// consistent (a main module that exists and is JavaScript).
func FuzzParseUpload(f *testing.F) {
	ct, body := multipartBody(f, metaPart(f, defaultMeta()), modulePart("worker.js", testWorker("f")))
	f.Add(ct, body)
	ct, body = multipartBody(f, part{name: "metadata", data: []byte(`{"main_module":"a.js","bindings":[{"type":"inherit","name":"X"}]}`)},
		part{name: "files.0", filename: "a.js", data: []byte("export default {}")})
	f.Add(ct, body)
	f.Add("multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{}\r\n--x--\r\n"))
	f.Add("text/plain", []byte("hello"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		u, apiErr := parseUpload(contentType, bytes.NewReader(body), 1<<16, false)
		if apiErr != nil {
			if apiErr.Status < 400 || len(apiErr.Errors) == 0 {
				t.Fatalf("bad error %+v", apiErr)
			}
			return
		}
		main := u.module(u.Meta.MainModule)
		if main == nil || (main.Type != "esm" && main.Type != "commonjs") {
			t.Fatalf("accepted an upload without a JavaScript main module: %+v", u.Meta)
		}
		if u.totalBytes() > 1<<16 {
			t.Fatalf("accepted %d module bytes over the limit", u.totalBytes())
		}
		_, _ = parseBindings(u.Meta.Bindings)
	})
}
