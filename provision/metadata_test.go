package provision

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestMetadataSendsEmptyVarsAndOmitsNoFlags(t *testing.T) {
	js, err := json.Marshal(scriptMetadata{
		MainModule: "worker.js",
		Bindings:   []metadataBinding{plainTextBinding("EMPTY", "")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Bindings []map[string]any `json:"bindings"`
	}
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	// An empty var is still a plain_text binding with text "", not one without text.
	if text, ok := got.Bindings[0]["text"]; !ok || text != "" {
		t.Errorf("empty var binding = %v, want text \"\"", got.Bindings[0])
	}
	if strings.Contains(string(js), "compatibility_flags") {
		t.Errorf("metadata sends compatibility_flags though there are none: %s", js)
	}
}
