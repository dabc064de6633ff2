package templates

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/flareform/flareform/provision/spec"
)

var update = flag.Bool("update", false, "rewrite examples/ from the templates")

const exampleDir = "../examples/text-to-image"

// TestExampleMatchesTemplate keeps examples/text-to-image from drifting: its worker and its
// src/lib modules (a link to templates/shared/src/lib, so they are the shared modules themselves)
// are what `init` writes, byte for byte, and its spec starts with the rendered
// template spec.
// Run `go test ./templates -run TestExample -update` after changing the template.
func TestExampleMatchesTemplate(t *testing.T) {
	rendered, err := render(Options{Template: "text-to-image", WorkerName: "image-api", CompatibilityDate: DefaultCompatibilityDate})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rendered {
		path := filepath.Join(exampleDir, filepath.FromSlash(f.name))
		got, err := os.ReadFile(path)
		if err != nil && !(*update && os.IsNotExist(err)) {
			t.Fatalf("example file missing (go test ./templates -run TestExample -update writes it): %v", err)
		}
		isSpec := f.name == "flareform.yaml"
		matches := bytes.Equal(got, f.content) || (isSpec && bytes.HasPrefix(got, f.content))
		if matches {
			continue
		}
		if *update {
			if isSpec {
				// Keep the example's additions (everything after the template's last line).
				t.Fatalf("%s has diverged from the template spec; merge by hand", path)
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, f.content, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s differs from template text-to-image/%s; run go test ./templates -run TestExample -update", path, f.name)
	}
}

func TestExampleLoads(t *testing.T) {
	for _, env := range []string{"", "staging"} {
		s, err := spec.Load(filepath.Join(exampleDir, "flareform.yaml"), env, testEnv)
		if err != nil {
			t.Fatalf("env %q: %v", env, err)
		}
		want := map[string]string{"": "image-api", "staging": "image-api-staging"}[env]
		if len(s.Workers) != 1 || s.Workers[0].Name != want {
			t.Errorf("env %q: workers %+v; want one named %s", env, s.Workers, want)
		}
	}
}
