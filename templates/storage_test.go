package templates

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision/spec"
)

// TestTextToImageR2LineUncomments: text-to-image's spec offers the IMAGES bucket commented out
// (off by default: the spec binds no bucket), and uncommenting its two lines gives a spec that
// loads and binds a valid bucket, whatever the worker's name.
func TestTextToImageR2LineUncomments(t *testing.T) {
	for _, worker := range []string{"my-api", "img2", strings.Repeat("a", 60)} {
		dir, _ := writeTemplate(t, "text-to-image", worker)
		path := filepath.Join(dir, "flareform.yaml")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := spec.Load(path, "", testEnv)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Workers[0].R2) != 0 {
			t.Fatalf("%s: the template binds a bucket by default: %v", worker, s.Workers[0].R2)
		}
		bucket := Options{WorkerName: worker}.ImagesBucket()
		commented := "    # r2:\n    #   IMAGES: " + bucket + "\n"
		if !strings.Contains(string(b), commented) {
			t.Fatalf("%s: spec lacks the commented r2 lines\n%s\nin\n%s", worker, commented, b)
		}
		uncommented := strings.Replace(string(b), commented, "    r2:\n      IMAGES: "+bucket+"\n", 1)
		if err := os.WriteFile(path, []byte(uncommented), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err = spec.Load(path, "", testEnv)
		if err != nil {
			t.Fatalf("%s: the spec with r2 uncommented does not load: %v", worker, err)
		}
		if r2 := s.Workers[0].R2; len(r2) != 1 || r2[0].Binding != "IMAGES" || r2[0].Name != bucket {
			t.Errorf("%s: r2 = %v, want IMAGES -> %s", worker, r2, bucket)
		}
	}
}
