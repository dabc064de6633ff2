package ai

import (
	"net/url"
	"regexp"
	"slices"
	"sort"
	"testing"
)

func names(models []Model) []string {
	out := make([]string, len(models))
	for i, m := range models {
		out[i] = m.Name
	}
	return out
}

func TestCatalogEntries(t *testing.T) {
	want := map[string]string{
		"@cf/stabilityai/stable-diffusion-xl-base-1.0": TaskTextToImage,
		"@cf/bytedance/stable-diffusion-xl-lightning":  TaskTextToImage,
		"@cf/lykon/dreamshaper-8-lcm":                  TaskTextToImage,
		"@cf/meta/llama-3-8b-instruct":                 TaskTextGeneration,
		"@cf/meta/llama-3.1-8b-instruct":               TaskTextGeneration,
		"@cf/mistral/mistral-7b-instruct-v0.1":         TaskTextGeneration,
		"@cf/qwen/qwen1.5-7b-chat-awq":                 TaskTextGeneration,
		"@hf/google/gemma-7b-it":                       TaskTextGeneration,
		"@cf/deepseek-ai/deepseek-math-7b-instruct":    TaskTextGeneration,
		"@cf/unum/uform-gen2-qwen-500m":                TaskImageToText,
		"@cf/llava-hf/llava-1.5-7b-hf":                 TaskImageToText,
		"@cf/openai/whisper":                           TaskSpeechRecognize,
		"@cf/baai/bge-small-en-v1.5":                   TaskTextEmbeddings,
		"@cf/baai/bge-base-en-v1.5":                    TaskTextEmbeddings,
		"@cf/baai/bge-large-en-v1.5":                   TaskTextEmbeddings,
	}
	models := NewService().Models()
	if !sort.SliceIsSorted(models, func(i, j int) bool { return models[i].Name < models[j].Name }) {
		t.Errorf("Models() not sorted by name: %v", names(models))
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	ids := map[string]bool{}
	seen := map[string]bool{}
	for _, m := range models {
		seen[m.Name] = true
		if task, ok := want[m.Name]; ok && m.Task.Name != task {
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
	for name := range want {
		if !seen[name] {
			t.Errorf("catalog lacks %s", name)
		}
	}
	again := NewService().Models()
	for i := range models {
		if models[i].ID != again[i].ID {
			t.Errorf("%s: id not stable across services", models[i].Name)
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
			"@cf/bytedance/stable-diffusion-xl-lightning", "@cf/lykon/dreamshaper-8-lcm", "@cf/stabilityai/stable-diffusion-xl-base-1.0"}},
		{"task Text-to-Image", SearchQuery{Task: "Text-to-Image", HideExperimental: true}, []string{
			"@cf/stabilityai/stable-diffusion-xl-base-1.0"}},
		{"task Text Generation + author", SearchQuery{Task: "Text Generation", Author: "META"}, []string{
			"@cf/meta/llama-3-8b-instruct", "@cf/meta/llama-3.1-8b-instruct"}},
		{"hf author", SearchQuery{Author: "google"}, []string{"@hf/google/gemma-7b-it"}},
		{"source 2", SearchQuery{Source: 2}, []string{"@hf/google/gemma-7b-it"}},
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

func TestSchemaMatchesValidator(t *testing.T) {
	s := NewService()
	got, ok := s.Schema(sdxl)
	if !ok {
		t.Fatal("no schema for SDXL")
	}
	input := got["input"].(map[string]any)
	width := input["properties"].(map[string]any)["width"].(map[string]any)
	if width["type"] != "integer" || width["minimum"] != float64(minImageSide) || width["maximum"] != float64(maxImageSide) {
		t.Errorf("width schema %v", width)
	}
	if req := input["required"].([]string); !slices.Equal(req, []string{"prompt"}) {
		t.Errorf("required %v, want [prompt]", req)
	}
	if out := got["output"].(map[string]any); out["contentType"] != "image/png" {
		t.Errorf("output schema %v", out)
	}
	if _, ok := s.Schema("@cf/nobody/nothing"); ok {
		t.Error("schema for an unknown model")
	}
}
