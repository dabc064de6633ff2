package templates

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTemplateWorkersBehave runs each template's worker under Node with a fake env (fake
// Workers AI, rate limiter and Vectorize) and checks every documented answer: the checks all
// templates share (testdata/checks/common.mjs) and the template's own
// (testdata/checks/<template>.mjs).
func TestTemplateWorkersBehave(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed to run the template workers (install Node.js 20+): %v", err)
	}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Write(dir, Options{Template: name}); err != nil {
				t.Fatal(err)
			}
			// The harness imports the worker as an ES module; a package.json marks .js as ESM.
			writeFile(t, filepath.Join(dir, "package.json"), `{"type":"module"}`)
			cmd := exec.Command(node, filepath.Join("testdata", "worker_harness.mjs"), dir, name)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("worker checks failed (%v):\n%s", err, out)
			}
			if !strings.Contains(string(out), "checks passed") {
				t.Fatalf("harness output unexpected:\n%s", out)
			}
		})
	}
}
