package provision

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision/spec"
)

// A worker that throws while starting is refused by the API (10021) with workerd's message,
// which names the bundle (worker.js:L:C). The engine's error names the user's file and line.
func TestStartupErrorNamesTheSourceLine(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"src/worker.js": `import { ready } from "./lib/boot.js";
export default { async fetch() { return new Response(String(ready)); } };
`,
		// Line 60 throws while the module loads.
		"src/lib/boot.js": strings.Repeat("// setup\n", 59) + "export const ready = (() => { throw new Error(\"boot failed\"); })();\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := newHarness(t)
	w := spec.Worker{Key: "boot", Name: "boot", Main: filepath.Join(dir, "src/worker.js"), CompatibilityDate: "2025-06-01",
		Pos: map[string]spec.Position{"main": {Line: 3, Col: 11}}}
	s := specOf(w)
	s.File = filepath.Join(dir, "flareform.yaml") // the project's spec: its tree holds src/
	p := h.plan(t, s)
	_, err := h.eng.Apply(context.Background(), p, ApplyOptions{SkipSmoke: true})
	if err == nil {
		t.Fatal("apply of a worker that throws at start-up succeeded")
	}
	msg := err.Error()
	if !regexp.MustCompile(`src/lib/boot\.js:60:\d+`).MatchString(msg) {
		t.Errorf("error does not name src/lib/boot.js:60:\n%s", msg)
	}
	if regexp.MustCompile(`worker\.js:\d+`).MatchString(msg) {
		t.Errorf("error still names a bundle location:\n%s", msg)
	}
}
