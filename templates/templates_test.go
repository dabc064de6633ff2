package templates

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flareform/flareform/bundler"
	"github.com/flareform/flareform/provision/spec"
)

const testAccountID = "0123456789abcdef0123456789abcdef"

func testEnv(name string) string {
	if name == "CLOUDFLARE_ACCOUNT_ID" {
		return testAccountID
	}
	return ""
}

func TestNames(t *testing.T) {
	want := []string{"text-generation", "text-to-image"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v; want %v", got, want)
	}
}

func TestWriteProducesLoadableSpecAndBundlableWorker(t *testing.T) {
	cases := []struct {
		opts       Options
		wantName   string
		wantModel  string
		wantExpect string
	}{
		{Options{}, "image-api", "@cf/stabilityai/stable-diffusion-xl-base-1.0", "image/png"},
		{Options{Template: "text-generation", WorkerName: "chat-api", CompatibilityDate: "2025-09-15"}, "chat-api", "@cf/meta/llama-3.1-8b-instruct", "application/json"},
	}
	for _, tc := range cases {
		t.Run(tc.wantName, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "project")
			written, err := Write(dir, tc.opts)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			want := []string{filepath.Join(dir, ".gitignore"), filepath.Join(dir, "flareform.yaml")}
			for _, lib := range []string{"ai.js", "auth.js", "http.js"} {
				want = append(want, filepath.Join(dir, "src", "lib", lib))
			}
			want = append(want, filepath.Join(dir, "src", "worker.js"))
			if !slices.Equal(written, want) {
				t.Errorf("wrote %v; want %v", written, want)
			}

			s, err := spec.Load(filepath.Join(dir, "flareform.yaml"), "", testEnv)
			if err != nil {
				t.Fatalf("spec.Load rejects the template's spec:\n%v", err)
			}
			if s.Project != tc.wantName {
				t.Errorf("project %q, want the worker's name %q: init must give every project a stable identity", s.Project, tc.wantName)
			}
			if b, err := os.ReadFile(filepath.Join(dir, ".gitignore")); err != nil || !strings.Contains(string(b), ".flareform/") {
				t.Errorf(".gitignore does not keep .flareform/ (keys, lock) out of git: %q, %v", b, err)
			}
			if s.AccountID != testAccountID || len(s.Workers) != 1 {
				t.Fatalf("spec = %+v; want one worker and the account from CLOUDFLARE_ACCOUNT_ID", s)
			}
			w := s.Workers[0]
			wantDate := tc.opts.CompatibilityDate
			if wantDate == "" {
				wantDate = DefaultCompatibilityDate
			}
			if w.Name != tc.wantName || w.CompatibilityDate != wantDate || w.AI == nil || w.AI.Model != tc.wantModel ||
				w.APIKey == nil || w.APIKey.Binding != "API_KEY" || w.APIKey.From != "generate" ||
				w.Smoke == nil || w.Smoke.Expect != tc.wantExpect || !w.WorkersDev {
				t.Errorf("worker = %+v (ai %+v, key %+v, smoke %+v)", w, w.AI, w.APIKey, w.Smoke)
			}

			res, err := bundler.Bundle(context.Background(), bundler.Options{Entry: w.Main, NodeCompat: w.NodeCompat()})
			if err != nil {
				t.Fatalf("template worker does not bundle: %v", err)
			}
			if !strings.Contains(string(res.Code), "Bearer") {
				t.Errorf("bundle lacks the key check")
			}
		})
	}
}

func TestWriteRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "src", "worker.js")
	if err := os.WriteFile(existing, []byte("// mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	written, err := Write(dir, Options{})
	if err == nil {
		t.Fatalf("Write over an existing worker.js succeeded, wrote %v", written)
	}
	if !strings.Contains(err.Error(), existing) || !strings.Contains(err.Error(), "another directory") {
		t.Errorf("error %q should name %s and suggest another directory", err, existing)
	}
	if got, _ := os.ReadFile(existing); string(got) != "// mine\n" {
		t.Errorf("existing file was changed to %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "flareform.yaml")); !os.IsNotExist(err) {
		t.Errorf("flareform.yaml was written although the project was refused (stat err %v)", err)
	}
}

func TestWriteRejectsBadOptions(t *testing.T) {
	cases := map[string]struct {
		opts Options
		want string
	}{
		"unknown template": {Options{Template: "video"}, "text-generation, text-to-image"},
		"bad worker name":  {Options{WorkerName: "Image API"}, `"image-api"`},
		"bad date":         {Options{CompatibilityDate: "2025-13-01"}, "YYYY-MM-DD"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Write(dir, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v; want one containing %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("files written despite the error: %v", entries)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
