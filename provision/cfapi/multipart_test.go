package cfapi

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"testing"
)

// part is one part of an encoded body, with its Content-Disposition as written.
type part struct {
	name, filename, contentType string
	hasFilename                 bool
	data                        []byte
}

func parseParts(t *testing.T, contentType string, body []byte) []part {
	t.Helper()
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil || params["boundary"] == "" {
		t.Fatalf("bad Content-Type %q", contentType)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var parts []part
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return parts
		}
		if err != nil {
			t.Fatalf("parse multipart: %v", err)
		}
		_, disp, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		if err != nil {
			t.Fatalf("Content-Disposition %q: %v", p.Header.Get("Content-Disposition"), err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		_, hasFilename := disp["filename"]
		parts = append(parts, part{disp["name"], disp["filename"], p.Header.Get("Content-Type"), hasFilename, data})
	}
}

func TestEncodeMultipartNamesPartsLikeWrangler(t *testing.T) {
	meta := map[string]string{"main_module": `dir/we"ird.js`}
	modules := []Module{
		{Name: `dir/we"ird.js`, ContentType: ContentTypeESModule, Content: []byte("export default {}")},
		{Name: `dir/we"ird.js.map`, ContentType: ContentTypeSourceMap, Content: []byte("{}")},
	}
	body, contentType, err := EncodeMultipart("metadata", meta, modules)
	if err != nil {
		t.Fatal(err)
	}
	parts := parseParts(t, contentType, body)
	if len(parts) != 3 || parts[0].name != "metadata" || parts[0].hasFilename || parts[0].contentType != "application/json" {
		t.Fatalf("parts %+v, want metadata (no filename, JSON) then two modules", parts)
	}
	if string(parts[0].data) != `{"main_module":"dir/we\"ird.js"}` {
		t.Errorf("metadata part = %s", parts[0].data)
	}
	for i, m := range modules {
		p := parts[i+1]
		if p.name != m.Name || p.filename != m.Name || p.contentType != m.ContentType || string(p.data) != string(m.Content) {
			t.Errorf("part %d = %q/%q %s %q, want %q with %s", i+1, p.name, p.filename, p.contentType, p.data, m.Name, m.ContentType)
		}
	}
}
