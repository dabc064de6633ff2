package localcf

import (
	"net/http"
	"testing"
)

// TestUploadAcceptsClientFormVariants: what real clients send and the real API accepts must
// deploy here too: Node's FormData names the metadata part's file "blob" (Alchemy), and nothing
// requires the metadata to come first.
func TestUploadAcceptsClientFormVariants(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	c.mustUpload("forms", defaultMeta(), testWorker("base"))
	c.enableWorkersDev("forms")
	nodeMeta := func(data []byte) part {
		return part{name: "metadata", filename: "blob", contentType: "application/json", data: data}
	}
	cases := []struct {
		name  string
		parts func(meta part, module part) []part
	}{
		{"metadata with filename blob", func(meta, module part) []part {
			return []part{nodeMeta(meta.data), module}
		}},
		{"metadata after the modules", func(meta, module part) []part {
			return []part{module, meta}
		}},
		{"blob metadata after the modules", func(meta, module part) []part {
			return []part{module, nodeMeta(meta.data)}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			version := string(rune('a' + i))
			parts := tc.parts(metaPart(t, defaultMeta()), modulePart("worker.js", testWorker(version)))
			ct, body := multipartBody(t, parts...)
			expect(t, c.do(http.MethodPut, "/workers/scripts/forms", ct, body), http.StatusOK, 0)
			expectServing(t, srv, "forms", version)
		})
	}
}

func TestSettingsPatchAcceptsBlobSettingsPart(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	c.mustUpload("settings-blob", defaultMeta(), testWorker("v1"))
	c.enableWorkersDev("settings-blob")
	settings, err := jsonMarshal(map[string]any{"bindings": []map[string]any{
		{"type": "inherit", "name": "AI"},
		{"type": "plain_text", "name": "GREETING", "text": "hello"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ct, body := multipartBody(t, part{name: "settings", filename: "blob", contentType: "application/json", data: settings})
	expect(t, c.do(http.MethodPatch, "/workers/scripts/settings-blob/settings", ct, body), http.StatusOK, 0)
	if got := c.envOf("settings-blob")["greeting"]; got != "hello" {
		t.Errorf("GREETING after the PATCH = %v, want hello", got)
	}
}

func TestUploadRefusesTwoMetadataParts(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	meta := metaPart(t, defaultMeta())
	ct, body := multipartBody(t, meta, modulePart("worker.js", testWorker("v1")), meta)
	expect(t, c.do(http.MethodPut, "/workers/scripts/twice", ct, body), http.StatusBadRequest, codeParseBody)
}
