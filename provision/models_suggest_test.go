package provision

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision/spec"
)

// A misspelt model is answered with the nearest catalog name (edit distance) among the names
// the catalog searches found; a name close to nothing gets no suggestion rather than an
// unrelated model.
func TestUnknownModelSuggestsTheNearestCatalogName(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct{ model, want string }{
		{"@cf/baai/bge-smal-en-v1.5", `did you mean "@cf/baai/bge-small-en-v1.5"?`},
		{"@cf/stabilityai/stable-difusion-xl-base-1.0", `did you mean "@cf/stabilityai/stable-diffusion-xl-base-1.0"?`},
		{"@cf/meta/llama-3.3-70b-instruct-fp8-fst", `did you mean "@cf/meta/llama-3.3-70b-instruct-fp8-fast"?`},
		{"@cf/nobody/no-such-model-9000", "use a model name from the Workers AI catalog"},
	} {
		w := imageWorker(t, "image-api", "")
		w.AI.Model = tc.model
		_, err := h.eng.Plan(context.Background(), specOf(w))
		var se *spec.Error
		if !errors.As(err, &se) {
			t.Fatalf("%s: err = %v, want a *spec.Error", tc.model, err)
		}
		if se.Line != 7 || se.Fix != tc.want && !strings.Contains(se.Fix, tc.want) {
			t.Errorf("%s: %q, want at line 7 with fix %q", tc.model, se.Error(), tc.want)
		}
		if strings.Contains(tc.model, "nobody") && strings.Contains(se.Fix, "@cf/") {
			t.Errorf("%s: suggests an unrelated model: %q", tc.model, se.Fix)
		}
	}
}
