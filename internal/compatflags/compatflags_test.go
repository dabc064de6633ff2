package compatflags

import (
	"os"
	"slices"
	"testing"

	"github.com/flareform/flareform/localcf/workerd"
)

// TestGeneratedListMatchesInstalledWorkerd fails when flags_gen.go no longer lists what the
// pinned workerd knows: run `go generate ./internal/compatflags`.
func TestGeneratedListMatchesInstalledWorkerd(t *testing.T) {
	bin, err := workerd.FindBinary()
	if err != nil {
		t.Fatalf("find workerd (npm install first): %v", err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Extract(data)
	if err != nil {
		t.Fatal(err)
	}
	if generatedFrom != workerd.PinnedVersion {
		t.Errorf("flags_gen.go is from workerd %s, the pinned one is %s: run go generate ./internal/compatflags", generatedFrom, workerd.PinnedVersion)
	}
	if !slices.Equal(got, knownFlags) {
		t.Errorf("flags_gen.go has %d flags, the installed workerd %d: run go generate ./internal/compatflags", len(knownFlags), len(got))
	}
}

func TestKnown(t *testing.T) {
	for _, f := range []string{"nodejs_compat", "nodejs_compat_v2", "no_nodejs_compat", "url_standard", "rpc"} {
		if !Known(f) {
			t.Errorf("Known(%q) = false", f)
		}
	}
	for _, f := range []string{"nodejs_compt", "experimental", "obsolete3", "compatEnableFlag", "2021-11-03", ""} {
		if Known(f) {
			t.Errorf("Known(%q) = true", f)
		}
	}
}

func TestExtractRefusesOtherBinaries(t *testing.T) {
	if _, err := Extract([]byte("not workerd")); err == nil {
		t.Fatal("Extract of a non-workerd binary succeeded")
	}
}
