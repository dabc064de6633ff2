package templates

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

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
	want := []string{"chat", "embeddings", "image-to-text", "semantic-search", "speech-to-text", "text-to-image"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v; want %v", got, want)
	}
}

func TestEveryTemplateHasASummary(t *testing.T) {
	for _, name := range Names() {
		if s := Summary(name); s == "" || strings.Contains(s, "\n") {
			t.Errorf("template %s has summary %q; want one line for init --list", name, s)
		}
	}
	if len(summaries) != len(Names()) {
		t.Errorf("summaries name %d templates, there are %d: %v", len(summaries), len(Names()), Names())
	}
}

// TestTextGenerationIsAnAliasOfChat: projects and scripts written before the rename keep
// working, and get the chat template.
func TestTextGenerationIsAnAliasOfChat(t *testing.T) {
	viaAlias, aliasFiles := writeTemplate(t, "text-generation", "chat-api")
	direct, directFiles := writeTemplate(t, "chat", "chat-api")
	if len(aliasFiles) != len(directFiles) {
		t.Fatalf("text-generation wrote %d files, chat %d", len(aliasFiles), len(directFiles))
	}
	for _, f := range directFiles {
		rel, _ := filepath.Rel(direct, f)
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join(viaAlias, rel))
		if err != nil || string(got) != string(want) {
			t.Errorf("text-generation's %s differs from chat's (%v)", rel, err)
		}
	}
	if Summary("text-generation") != Summary("chat") || slices.Contains(Names(), "text-generation") {
		t.Errorf("the alias should resolve to chat and stay out of the list")
	}
}

// templateCase is what each template's spec must say.
type templateCase struct {
	name, model, expect string
	// files the project gets besides the spec, the worker and src/lib.
	extra []string
}

var templateCases = []templateCase{
	{"text-to-image", "@cf/stabilityai/stable-diffusion-xl-base-1.0", "image/", nil},
	{"chat", "@cf/meta/llama-3.1-8b-instruct-fast", "text/event-stream", nil},
	{"embeddings", "@cf/baai/bge-small-en-v1.5", "application/json", nil},
	{"speech-to-text", "@cf/openai/whisper", "application/json", []string{"smoke/silence.wav"}},
	{"image-to-text", "@cf/llava-hf/llava-1.5-7b-hf", "application/json", []string{"smoke/gradient.png"}},
	{"semantic-search", "@cf/baai/bge-small-en-v1.5", "application/json", nil},
}

func TestTemplateCasesCoverEveryTemplate(t *testing.T) {
	var names []string
	for _, tc := range templateCases {
		names = append(names, tc.name)
	}
	slices.Sort(names)
	if !slices.Equal(names, Names()) {
		t.Errorf("templateCases cover %v; templates are %v", names, Names())
	}
}

// writeTemplate writes template name as worker name into a fresh directory.
func writeTemplate(t *testing.T, name, worker string) (dir string, written []string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "project")
	written, err := Write(dir, Options{Template: name, WorkerName: worker})
	if err != nil {
		t.Fatalf("Write %s: %v", name, err)
	}
	return dir, written
}

func TestWriteProducesBundlableWorker(t *testing.T) {
	for _, tc := range templateCases {
		t.Run(tc.name, func(t *testing.T) {
			dir, written := writeTemplate(t, tc.name, "my-api")
			want := []string{filepath.Join(dir, ".gitignore"), filepath.Join(dir, "flareform.yaml")}
			for _, extra := range tc.extra {
				want = append(want, filepath.Join(dir, filepath.FromSlash(extra)))
			}
			for _, lib := range []string{"ai.js", "auth.js", "http.js", "storage.js", "usage.js"} {
				want = append(want, filepath.Join(dir, "src", "lib", lib))
			}
			want = append(want, filepath.Join(dir, "src", "worker.js"))
			slices.Sort(want)
			if !slices.Equal(written, want) {
				t.Errorf("wrote %v; want %v", written, want)
			}
			if b, err := os.ReadFile(filepath.Join(dir, ".gitignore")); err != nil || !strings.Contains(string(b), ".flareform/") {
				t.Errorf(".gitignore does not keep .flareform/ (keys, lock) out of git: %q, %v", b, err)
			}
			res, err := bundler.Bundle(context.Background(), bundler.Options{Entry: filepath.Join(dir, "src", "worker.js")})
			if err != nil {
				t.Fatalf("template worker does not bundle: %v", err)
			}
			for _, fragment := range []string{"Bearer", "RATE_LIMITER", "AI_GATEWAY_ID"} {
				if !strings.Contains(string(res.Code), fragment) {
					t.Errorf("bundle lacks %s", fragment)
				}
			}
		})
	}
}

// rawSpec is the part of a template spec this package checks without the spec loader, so the
// checks hold whichever keys the loader knows.
type rawSpec struct {
	Project string `yaml:"project"`
	Workers map[string]struct {
		Main string `yaml:"main"`
		AI   struct {
			Model string `yaml:"model"`
		} `yaml:"ai"`
		APIKey struct {
			From string `yaml:"from"`
		} `yaml:"api_key"`
		RateLimit *struct {
			Limit  int `yaml:"limit"`
			Period int `yaml:"period"`
		} `yaml:"rate_limit"`
		Vectorize *struct {
			Index      string `yaml:"index"`
			Dimensions int    `yaml:"dimensions"`
			Metric     string `yaml:"metric"`
		} `yaml:"vectorize"`
		Vars  map[string]string `yaml:"vars"`
		Smoke struct {
			Expect       string   `yaml:"expect"`
			BodyFile     string   `yaml:"body_file"`
			ExpectFields []string `yaml:"expect_fields"`
		} `yaml:"smoke"`
	} `yaml:"workers"`
}

// TestTemplateSpecsSayWhatTheWorkersNeed reads each rendered spec as plain YAML: one keyed
// worker on the template's model, a rate limit whose period the worker can tell callers
// (RATE_LIMIT_PERIOD, sent as Retry-After), a smoke check of the real output whose body file
// ships with the template, and for semantic-search an index sized for its embedding model.
func TestTemplateSpecsSayWhatTheWorkersNeed(t *testing.T) {
	for _, tc := range templateCases {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := writeTemplate(t, tc.name, "my-api")
			b, err := os.ReadFile(filepath.Join(dir, "flareform.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var s rawSpec
			if err := yaml.Unmarshal(b, &s); err != nil {
				t.Fatalf("spec is not YAML: %v", err)
			}
			w, ok := s.Workers["my-api"]
			if s.Project != "my-api" || len(s.Workers) != 1 || !ok {
				t.Fatalf("project %q, workers %v; want project and one worker named my-api", s.Project, s.Workers)
			}
			if w.Main != "./src/worker.js" || w.AI.Model != tc.model || w.APIKey.From != "generate" {
				t.Errorf("main %q, model %q, api_key.from %q", w.Main, w.AI.Model, w.APIKey.From)
			}
			if w.RateLimit == nil || w.RateLimit.Limit < 1 || (w.RateLimit.Period != 10 && w.RateLimit.Period != 60) {
				t.Errorf("rate_limit %+v; want a positive limit per 10 or 60 seconds", w.RateLimit)
			} else if got := w.Vars["RATE_LIMIT_PERIOD"]; got != strconv.Itoa(w.RateLimit.Period) {
				t.Errorf("vars.RATE_LIMIT_PERIOD %q, want %d: the worker's Retry-After must match rate_limit.period", got, w.RateLimit.Period)
			}
			if w.Smoke.Expect != tc.expect {
				t.Errorf("smoke.expect %q, want %q", w.Smoke.Expect, tc.expect)
			}
			if tc.expect == "application/json" && len(w.Smoke.ExpectFields) == 0 {
				t.Errorf("smoke checks a JSON answer without expect_fields: it would pass on any JSON")
			}
			if w.Smoke.BodyFile != "" {
				if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(w.Smoke.BodyFile))); err != nil {
					t.Errorf("smoke.body_file %s is not in the project: %v", w.Smoke.BodyFile, err)
				}
			}
			if tc.name == "semantic-search" {
				want := struct {
					Index      string `yaml:"index"`
					Dimensions int    `yaml:"dimensions"`
					Metric     string `yaml:"metric"`
				}{"my-api-docs", 384, "cosine"}
				if w.Vectorize == nil || *w.Vectorize != want {
					t.Errorf("vectorize %+v, want %+v (bge-small has 384 dimensions)", w.Vectorize, want)
				}
			}
		})
	}
}

// TestTemplateSpecsLoad runs the real spec loader over every template.
func TestTemplateSpecsLoad(t *testing.T) {
	for _, tc := range templateCases {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := writeTemplate(t, tc.name, "my-api")
			s, err := spec.Load(filepath.Join(dir, "flareform.yaml"), "", testEnv)
			if err != nil {
				t.Fatalf("spec.Load rejects the template's spec:\n%v", err)
			}
			if s.Project != "my-api" || s.AccountID != testAccountID || len(s.Workers) != 1 {
				t.Fatalf("spec = %+v; want project my-api, one worker and the account from CLOUDFLARE_ACCOUNT_ID", s)
			}
			w := s.Workers[0]
			if w.Name != "my-api" || w.CompatibilityDate != DefaultCompatibilityDate || w.AI == nil || w.AI.Model != tc.model ||
				w.APIKey == nil || w.APIKey.Binding != "API_KEY" || w.APIKey.From != "generate" ||
				w.Smoke == nil || w.Smoke.Expect != tc.expect || !w.WorkersDev {
				t.Errorf("worker = %+v (ai %+v, key %+v, smoke %+v)", w, w.AI, w.APIKey, w.Smoke)
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
		"unknown template": {Options{Template: "video"}, "chat, embeddings, image-to-text, semantic-search, speech-to-text, text-to-image"},
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

// TestIndexNameFitsVectorize: semantic-search names its index after the worker; any valid
// worker name must give a spec the loader accepts (index names: 32 characters, a letter first).
func TestIndexNameFitsVectorize(t *testing.T) {
	long := strings.Repeat("a", 30) + "-" + strings.Repeat("b", 32)
	cases := map[string]string{
		"search":   "search-docs",
		long:       strings.Repeat("a", 27) + "-docs",
		"9lives":   "i-9lives-docs",
		"my_index": "my-index-docs",
	}
	for worker, want := range cases {
		if got := (Options{WorkerName: worker}).IndexName(); got != want {
			t.Errorf("IndexName(%q) = %q, want %q", worker, got, want)
		}
		dir, _ := writeTemplate(t, "semantic-search", worker)
		s, err := spec.Load(filepath.Join(dir, "flareform.yaml"), "", testEnv)
		if err != nil && strings.Contains(err.Error(), "vectorize") {
			t.Errorf("worker %q: the spec's index is refused: %v", worker, err)
		}
		if err == nil && (s.Workers[0].Vectorize == nil || s.Workers[0].Vectorize.Index != want) {
			t.Errorf("worker %q: vectorize %+v, want index %s", worker, s.Workers[0].Vectorize, want)
		}
	}
}
