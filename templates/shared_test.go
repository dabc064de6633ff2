package templates

import (
	"io/fs"
	"path"
	"strings"
	"testing"
)

// TestTemplatesUseSharedModules fails when a template grows its own copy of what src/lib
// provides: the key check must exist once, so a fix to it reaches every template.
func TestTemplatesUseSharedModules(t *testing.T) {
	// Fragments that only the shared modules may contain.
	owned := map[string]string{
		"crypto.subtle":          "lib/auth.js",
		"function sameSecret":    "lib/auth.js",
		"function authorized":    "lib/auth.js",
		"Bearer\\s":              "lib/auth.js",
		"getReader(":             "lib/http.js",
		"content-length":         "lib/http.js",
		"INPUT_ERROR_CODES":      "lib/ai.js",
		"flareform consumer key": "lib/auth.js",
		"writeDataPoint":         "lib/usage.js",
	}
	for _, name := range Names() {
		err := fs.WalkDir(files, name, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || path.Ext(p) != ".js" {
				return err
			}
			src, err := files.ReadFile(p)
			if err != nil {
				return err
			}
			for fragment, home := range owned {
				if strings.Contains(string(src), fragment) {
					t.Errorf("%s contains %q; use the shared %s instead", p, fragment, home)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		worker, err := files.ReadFile(name + "/src/worker.js")
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range []string{`from "./lib/auth.js"`, `from "./lib/http.js"`, `from "./lib/ai.js"`, `from "./lib/usage.js"`} {
			if !strings.Contains(string(worker), imp) {
				t.Errorf("%s/src/worker.js does not import %s", name, imp)
			}
		}
	}
}

// TestSharedModulesHoldTheKeyCheck keeps the previous test honest: the fragments it bans from
// the templates must really be in the shared modules.
func TestSharedModulesHoldTheKeyCheck(t *testing.T) {
	auth, err := files.ReadFile(sharedDir + "/src/lib/auth.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, fragment := range []string{"crypto.subtle", "function sameSecret", "API_KEY_PREVIOUS_EXPIRES", "Bearer\\s", "flareform consumer key"} {
		if !strings.Contains(string(auth), fragment) {
			t.Errorf("shared lib/auth.js lacks %q", fragment)
		}
	}
	usage, err := files.ReadFile(sharedDir + "/src/lib/usage.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(usage), "writeDataPoint") {
		t.Error("shared lib/usage.js lacks writeDataPoint")
	}
}
