package ai

import (
	"net/url"
	"regexp"
	"slices"
	"sort"
	"testing"

	"github.com/flareform/flareform/internal/aimodels"
)

func names(models []Model) []string {
	out := make([]string, len(models))
	for i, m := range models {
		out[i] = m.Name
	}
	return out
}

func property(m Model, id string) (string, bool) {
	for _, p := range m.Properties {
		if p.PropertyID == id {
			return p.Value, true
		}
	}
	return "", false
}

// liveModels are the models the templates, docs and examples suggest, and the replacements
// Cloudflare names for the models retired on 2026-05-30, each with its task.
var liveModels = map[string]string{
	sdxl:                                     TaskTextToImage,
	lightning:                                TaskTextToImage,
	"@cf/lykon/dreamshaper-8-lcm":            TaskTextToImage,
	flux:                                     TaskTextToImage,
	llamaFast:                                TaskTextGeneration,
	llama70B:                                 TaskTextGeneration,
	"@cf/meta/llama-3.2-11b-vision-instruct": TaskTextGeneration,
	glm:                                      TaskTextGeneration,
	gemma:                                    TaskTextGeneration,
	"@cf/moonshotai/kimi-k2.6":               TaskTextGeneration,
	llava:                                    TaskImageToText,
	moondream:                                TaskImageToText,
	whisper:                                  TaskSpeechRecognize,
	bgeSmall:                                 TaskTextEmbeddings,
	"@cf/baai/bge-base-en-v1.5":              TaskTextEmbeddings,
	"@cf/baai/bge-large-en-v1.5":             TaskTextEmbeddings,
}

func TestCatalogEntries(t *testing.T) {
	models := NewService().Models()
	if !sort.SliceIsSorted(models, func(i, j int) bool { return models[i].Name < models[j].Name }) {
		t.Errorf("Models() not sorted by name: %v", names(models))
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	ids := map[string]bool{}
	seen := map[string]Model{}
	for _, m := range models {
		seen[m.Name] = m
		if task, ok := liveModels[m.Name]; ok && m.Task.Name != task {
			t.Errorf("%s: task %q, want %q", m.Name, m.Task.Name, task)
		}
		if !uuid.MatchString(m.ID) || !uuid.MatchString(m.Task.ID) || ids[m.ID] {
			t.Errorf("%s: id %q / task id %q not a unique uuid", m.Name, m.ID, m.Task.ID)
		}
		ids[m.ID] = true
		if m.Description == "" || m.CreatedAt == "" || m.Tags == nil || len(m.Properties) == 0 || m.Source < 1 {
			t.Errorf("%s: incomplete catalog entry %+v", m.Name, m)
		}
	}
	for name := range liveModels {
		m, ok := seen[name]
		if !ok {
			t.Errorf("catalog lacks %s", name)
			continue
		}
		if date, retired := property(m, PropertyDeprecationDate); retired {
			t.Errorf("%s is a live model but carries %s %s", name, PropertyDeprecationDate, date)
		}
	}
	again := NewService().Models()
	for i := range models {
		if models[i].ID != again[i].ID {
			t.Errorf("%s: id not stable across services", models[i].Name)
		}
	}
}

// TestRetiredModelsCarryTheirDate: every model of the 2026-05-30 retirement is in the
// catalog, as on Cloudflare, with the planned_deprecation_date property in the search API's
// form, its task, and a replacement that is itself live.
func TestRetiredModelsCarryTheirDate(t *testing.T) {
	s := NewService()
	retired := aimodels.RetiredModels()
	if len(retired) != 18 {
		t.Fatalf("aimodels lists %d retired models, want the 18 of 2026-05-30", len(retired))
	}
	for _, r := range retired {
		m, ok := s.Model(r.Name)
		if !ok {
			t.Errorf("catalog lacks the retired %s", r.Name)
			continue
		}
		if date, _ := property(m, PropertyDeprecationDate); date != r.Date {
			t.Errorf("%s: %s %q, want %q (properties %v)", r.Name, PropertyDeprecationDate, date, r.Date, m.Properties)
		}
		if m.Task.Name != r.Task {
			t.Errorf("%s: task %q, want %q", r.Name, m.Task.Name, r.Task)
		}
		repl, ok := s.Model(r.Replacement)
		if _, replRetired := property(repl, PropertyDeprecationDate); !ok || replRetired {
			t.Errorf("%s: replacement %s is not a live catalog model", r.Name, r.Replacement)
		}
	}
	// The models Workers AI removed on 2025-10-01 that this catalog used to serve as live.
	for _, name := range []string{"@cf/qwen/qwen1.5-7b-chat-awq", "@cf/deepseek-ai/deepseek-math-7b-instruct"} {
		m, _ := s.Model(name)
		if date, _ := property(m, PropertyDeprecationDate); date != "2025-10-01" {
			t.Errorf("%s: %s %q, want 2025-10-01", name, PropertyDeprecationDate, date)
		}
	}
}

func TestModelsReturnsCopies(t *testing.T) {
	s := NewService()
	first := s.Models()
	first[0].Name = "mutated"
	first[0].Properties[0].Value = "mutated"
	second := s.Models()
	if second[0].Name == "mutated" || second[0].Properties[0].Value == "mutated" {
		t.Fatal("mutating the result of Models() changed the catalog")
	}
}

func TestSearchFilters(t *testing.T) {
	s := NewService()
	cases := []struct {
		name  string
		query SearchQuery
		want  []string
	}{
		{"search substring in name", SearchQuery{Search: "BGE-"}, []string{
			"@cf/baai/bge-base-en-v1.5", "@cf/baai/bge-large-en-v1.5", "@cf/baai/bge-small-en-v1.5"}},
		{"search substring in description", SearchQuery{Search: "transcript"}, []string{"@cf/openai/whisper"}},
		{"task with space", SearchQuery{Task: "text-to-image"}, []string{
			flux, "@cf/bytedance/stable-diffusion-xl-lightning", "@cf/lykon/dreamshaper-8-lcm", "@cf/stabilityai/stable-diffusion-xl-base-1.0"}},
		{"task Text-to-Image", SearchQuery{Task: "Text-to-Image", HideExperimental: true}, []string{
			flux, "@cf/stabilityai/stable-diffusion-xl-base-1.0"}},
		{"task Image-to-Text", SearchQuery{Task: "Image-to-Text"}, []string{
			llava, moondream, "@cf/unum/uform-gen2-qwen-500m"}},
		{"task Text Generation + author", SearchQuery{Task: "Text Generation", Author: "GOOGLE"}, []string{
			"@cf/google/gemma-3-12b-it", gemma, "@hf/google/gemma-7b-it"}},
		{"hf source", SearchQuery{Source: 2, Author: "mistral"}, []string{"@hf/mistral/mistral-7b-instruct-v0.2"}},
		{"summarization", SearchQuery{Task: "summarization"}, []string{"@cf/facebook/bart-large-cnn"}},
		{"task by id", SearchQuery{Task: stableID("task:" + TaskSpeechRecognize)}, []string{"@cf/openai/whisper"}},
		{"no match", SearchQuery{Search: "no such thing"}, []string{}},
	}
	for _, c := range cases {
		got := names(s.Search(c.query))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSearchPaging(t *testing.T) {
	s := NewService()
	all := names(s.Models())
	var paged []string
	for page := 1; ; page++ {
		got, total := s.SearchPage(SearchQuery{Page: page, PerPage: 4})
		if total != len(all) {
			t.Fatalf("page %d: total %d, want %d", page, total, len(all))
		}
		if len(got) == 0 {
			break
		}
		if len(got) > 4 {
			t.Fatalf("page %d has %d models, per_page 4", page, len(got))
		}
		paged = append(paged, names(got)...)
	}
	if !slices.Equal(paged, all) {
		t.Errorf("pages joined %v, want %v", paged, all)
	}
	got, total := s.SearchPage(SearchQuery{Task: "Text Embeddings", Page: 2, PerPage: 2})
	if total != 3 || !slices.Equal(names(got), []string{"@cf/baai/bge-small-en-v1.5"}) {
		t.Errorf("filtered page 2: %v total %d", names(got), total)
	}
}

func TestParseSearchQuery(t *testing.T) {
	v, _ := url.ParseQuery("search=llama&task=Text+Generation&author=meta&source=1&hide_experimental=true&page=2&per_page=5")
	q, err := ParseSearchQuery(v)
	want := SearchQuery{Search: "llama", Task: "Text Generation", Author: "meta", Source: 1, HideExperimental: true, Page: 2, PerPage: 5}
	if err != nil || q != want {
		t.Fatalf("got %+v, %v; want %+v", q, err, want)
	}
	for _, bad := range []string{"page=x", "per_page=-1", "hide_experimental=maybe", "source=one"} {
		v, _ := url.ParseQuery(bad)
		if _, err := ParseSearchQuery(v); err == nil {
			t.Errorf("%s: parsed without error", bad)
		}
	}
}

// schemaAt walks a published schema by keys ("properties", "width", ...).
func schemaAt(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, k := range path {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: %v is not an object", k, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at %d: %v is not a long enough list", k, v)
			}
			v = l[k]
		}
	}
	return v
}

func TestSchemaMatchesThePublishedOne(t *testing.T) {
	s := NewService()
	got, ok := s.Schema(sdxl)
	if !ok {
		t.Fatal("no schema for SDXL")
	}
	width := schemaAt(t, got, "input", "properties", "width").(map[string]any)
	if width["type"] != "integer" || width["minimum"] != float64(minImageSide) || width["maximum"] != float64(maxImageSide) {
		t.Errorf("width schema %v", width)
	}
	steps := schemaAt(t, got, "input", "properties", "num_steps").(map[string]any)
	if _, hasMin := steps["minimum"]; hasMin || steps["maximum"] != float64(20) {
		t.Errorf("num_steps schema %v: the catalog publishes a maximum of 20 and no minimum", steps)
	}
	if req := schemaAt(t, got, "input", "required").([]string); !slices.Equal(req, []string{"prompt"}) {
		t.Errorf("required %v, want [prompt]", req)
	}
	if out := got["output"].(map[string]any); out["contentType"] != "image/png" || out["format"] != "binary" {
		t.Errorf("output schema %v", out)
	}

	fast, _ := s.Schema(llamaFast)
	for _, penalty := range []string{"frequency_penalty", "presence_penalty", "repetition_penalty"} {
		for branch := range 2 {
			p := schemaAt(t, fast, "input", "oneOf", branch, "properties", penalty).(map[string]any)
			if p["minimum"] != float64(0) || p["maximum"] != float64(2) {
				t.Errorf("llama fast %s in branch %d: %v, want 0..2", penalty, branch, p)
			}
		}
	}
	llavaSchema, _ := s.Schema(llava)
	object := schemaAt(t, llavaSchema, "input", "oneOf", 1).(map[string]any)
	if _, ok := object["properties"].(map[string]any)["messages"]; ok {
		t.Errorf("llava input lists messages: %v", object)
	}
	chat, _ := s.Schema(glm)
	if req := schemaAt(t, chat, "output", "oneOf", 0, "required").([]string); !slices.Equal(req, []string{"id", "object", "created", "model", "choices"}) {
		t.Errorf("glm output required %v", req)
	}
	if _, ok := s.Schema("@cf/nobody/nothing"); ok {
		t.Error("schema for an unknown model")
	}
}
