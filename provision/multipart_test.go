package provision

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEncodeMultipartNamesPartsLikeWrangler(t *testing.T) {
	meta := scriptMetadata{
		MainModule: `dir/we"ird.js`,
		Bindings:   []metadataBinding{plainTextBinding("EMPTY", "")},
	}
	modules := []modulePart{
		{name: `dir/we"ird.js`, contentType: contentTypeESModule, content: []byte("export default {}")},
		{name: `dir/we"ird.js.map`, contentType: contentTypeSourceMap, content: []byte("{}")},
	}
	body, contentType, err := encodeMultipart("metadata", meta, modules)
	if err != nil {
		t.Fatal(err)
	}
	rec := wireRecord{method: "PUT", path: "/encode", contentType: contentType, body: body}
	parts := parseWireParts(t, rec)
	if len(parts) != 3 || parts[0].name != "metadata" || parts[0].hasFilename {
		t.Fatalf("parts %+v, want metadata (no filename) then two modules", parts)
	}
	for i, m := range modules {
		p := parts[i+1]
		if p.name != m.name || p.filename != m.name || p.contentType != m.contentType || string(p.data) != string(m.content) {
			t.Errorf("part %d = %q/%q %s %q, want %q with %s", i+1, p.name, p.filename, p.contentType, p.data, m.name, m.contentType)
		}
	}
	var got struct {
		Bindings []map[string]any `json:"bindings"`
	}
	if err := json.Unmarshal(parts[0].data, &got); err != nil {
		t.Fatal(err)
	}
	// An empty var is still a plain_text binding with text "", not one without text.
	if text, ok := got.Bindings[0]["text"]; !ok || text != "" {
		t.Errorf("empty var binding = %v, want text \"\"", got.Bindings[0])
	}
	if strings.Contains(string(parts[0].data), "compatibility_flags") {
		t.Errorf("metadata sends compatibility_flags though there are none: %s", parts[0].data)
	}
}
