package templates

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flareform/flareform/internal/aimodels"
)

// shippedRoots are the parts of the repository users read or run: what they copy a model name
// from must name one that still answers.
var shippedRoots = []string{"templates/", "examples/", "docs/", "README.md", "provision/", "cmd/"}

// exempt reports files that may name retired models: tests and their fixtures, and the
// tables of retired models themselves.
func exempt(path string) bool {
	return strings.HasSuffix(path, "_test.go") || strings.Contains(path, "/testdata/") ||
		strings.Contains(path, "/node_modules/") || strings.HasPrefix(path, "internal/aimodels/") ||
		path == "localcf/ai/catalog.go"
}

// shippedFiles lists the tracked files under shippedRoots (git ls-files), or walks the tree
// when there is no git checkout.
func shippedFiles(t *testing.T, repo string) []string {
	t.Helper()
	var files []string
	if out, err := exec.Command("git", "-C", repo, "ls-files", "-z", "--").Output(); err == nil {
		files = strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	} else {
		err := filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				rel, _ := filepath.Rel(repo, p)
				files = append(files, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var shipped []string
	for _, f := range files {
		for _, root := range shippedRoots {
			if (f == root || strings.HasPrefix(f, root)) && !exempt(f) {
				shipped = append(shipped, f)
				break
			}
		}
	}
	return shipped
}

// retiredPatterns match a retired model's name as a whole name: "@cf/meta/llama-3.1-8b-instruct"
// but not "@cf/meta/llama-3.1-8b-instruct-fast" (a sentence's full stop after it still counts).
func retiredPatterns() map[string]*regexp.Regexp {
	out := map[string]*regexp.Regexp{}
	for _, r := range aimodels.RetiredModels() {
		out[r.Name] = regexp.MustCompile(regexp.QuoteMeta(r.Name) + `(?:$|[^A-Za-z0-9_.\-]|\.(?:$|[^A-Za-z0-9_\-]))`)
	}
	return out
}

// TestNothingShippedSuggestsARetiredModel: no template, example, doc, comment or code users
// read names a model Workers AI retired (internal/aimodels): a project started from it would
// deploy a worker whose every model call fails.
func TestNothingShippedSuggestsARetiredModel(t *testing.T) {
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := shippedFiles(t, repo)
	if len(files) < 20 {
		t.Fatalf("found only %d shipped files under %s: %v", len(files), repo, files)
	}
	patterns := retiredPatterns()
	for _, f := range files {
		path := filepath.Join(repo, filepath.FromSlash(f))
		if info, err := os.Lstat(path); err != nil || !info.Mode().IsRegular() {
			continue // deleted in the work tree, or a link (examples' src/lib: the shared modules, scanned themselves)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.IndexByte(data, 0) >= 0 {
			continue // binary
		}
		for i, line := range strings.Split(string(data), "\n") {
			for name, re := range patterns {
				if re.MatchString(line) {
					r, _ := aimodels.LookupRetired(name)
					t.Errorf("%s:%d names %s, retired on %s: %s", f, i+1, name, r.Date, r.Advice())
				}
			}
		}
	}
}

// TestRetiredPatternsMatchWholeNames keeps the scan honest: a live model whose name starts
// with a retired one is not flagged, the retired one is, wherever it stands.
func TestRetiredPatternsMatchWholeNames(t *testing.T) {
	re := retiredPatterns()["@cf/meta/llama-3.1-8b-instruct"]
	for line, want := range map[string]bool{
		`model: "@cf/meta/llama-3.1-8b-instruct"`:            true,
		`use @cf/meta/llama-3.1-8b-instruct.`:                true,
		`@cf/meta/llama-3.1-8b-instruct`:                     true,
		"`@cf/meta/llama-3.1-8b-instruct`, or":               true,
		`model: "@cf/meta/llama-3.1-8b-instruct-fast"`:       false,
		`@cf/meta/llama-3.1-8b-instruct-awq is retired too`:  false,
		`@cf/meta/llama-3.1-8b-instruct.v2 (a made-up name)`: false,
	} {
		if got := re.MatchString(line); got != want {
			t.Errorf("%s: matched %v, want %v", line, got, want)
		}
	}
	if len(retiredPatterns()) != len(aimodels.RetiredModels()) {
		t.Errorf("patterns for %d models, aimodels lists %d", len(retiredPatterns()), len(aimodels.RetiredModels()))
	}
}
