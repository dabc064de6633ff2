package ai

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Model is a catalog entry shaped like an item of ai/models/search.
type Model struct {
	ID          string     `json:"id"`
	Source      int        `json:"source"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Task        Task       `json:"task"`
	CreatedAt   string     `json:"created_at"`
	Tags        []string   `json:"tags"`
	Properties  []Property `json:"properties"`
}

// Task is the task a model performs, e.g. "Text-to-Image".
type Task struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Property is one {property_id, value} pair of a catalog entry.
type Property struct {
	PropertyID string `json:"property_id"`
	Value      string `json:"value"`
}

// Task names as the catalog spells them.
const (
	TaskTextToImage     = "Text-to-Image"
	TaskTextGeneration  = "Text Generation"
	TaskTextEmbeddings  = "Text Embeddings"
	TaskSpeechRecognize = "Automatic Speech Recognition"
	TaskImageToText     = "Image-to-Text"
)

// imageFormat is the encoding a text-to-image model answers with.
type imageFormat int

const (
	formatPNG imageFormat = iota
	formatJPEG
)

// entry is a catalog model plus what the stand-in needs to run it.
type entry struct {
	info   Model
	schema *schema
	dims   int         // Text Embeddings only
	format imageFormat // Text-to-Image only
	images imageCache  // Text-to-Image only
}

// isExperimental reports whether the model is flagged beta, which is what
// hide_experimental filters out.
func (e *entry) isExperimental() bool {
	for _, p := range e.info.Properties {
		if p.PropertyID == "beta" && p.Value == "true" {
			return true
		}
	}
	return false
}

func (m Model) clone() Model {
	m.Tags = append([]string{}, m.Tags...)
	m.Properties = append([]Property{}, m.Properties...)
	return m
}

// modelDef is the compact form the catalog is written in.
type modelDef struct {
	name, task, description, created string
	beta                             bool
	props                            []Property
	dims                             int
	format                           imageFormat
}

func newCatalog() map[string]*entry {
	tasks := map[string]Task{
		TaskTextToImage:     newTask(TaskTextToImage, "Generates an image from a text prompt."),
		TaskTextGeneration:  newTask(TaskTextGeneration, "Continues a prompt or a chat conversation with generated text."),
		TaskTextEmbeddings:  newTask(TaskTextEmbeddings, "Turns text into a fixed-length vector of numbers for similarity search."),
		TaskSpeechRecognize: newTask(TaskSpeechRecognize, "Transcribes spoken audio into text."),
		TaskImageToText:     newTask(TaskImageToText, "Describes the content of an image in text."),
	}
	schemas := map[string]*schema{
		TaskTextToImage:     textToImageSchema(),
		TaskTextGeneration:  textGenerationSchema(),
		TaskTextEmbeddings:  embeddingsSchema(),
		TaskSpeechRecognize: speechSchema(),
		TaskImageToText:     imageToTextSchema(),
	}
	catalog := make(map[string]*entry)
	for _, d := range modelDefs() {
		catalog[d.name] = &entry{
			info:   d.model(tasks[d.task]),
			schema: schemas[d.task],
			dims:   d.dims,
			format: d.format,
		}
	}
	return catalog
}

func (d modelDef) model(task Task) Model {
	source := 1
	if strings.HasPrefix(d.name, "@hf/") {
		source = 2 // Hugging Face hosted models are a separate source in the real catalog
	}
	props := []Property{{PropertyID: "beta", Value: strconv.FormatBool(d.beta)}}
	props = append(props, d.props...)
	return Model{
		ID:          stableID(d.name),
		Source:      source,
		Name:        d.name,
		Description: d.description,
		Task:        task,
		CreatedAt:   d.created,
		Tags:        []string{},
		Properties:  props,
	}
}

func newTask(name, description string) Task {
	return Task{ID: stableID("task:" + name), Name: name, Description: description}
}

// stableID derives a UUID-shaped identifier from a name, so ids survive restarts.
func stableID(name string) string {
	sum := sha256.Sum256([]byte("flareform-localcf-ai:" + name))
	sum[6] = sum[6]&0x0f | 0x50 // version nibble 5: name-based
	sum[8] = sum[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}

func ctxWindow(n int) Property { return Property{PropertyID: "context_window", Value: strconv.Itoa(n)} }

func modelDefs() []modelDef {
	return []modelDef{
		{name: "@cf/stabilityai/stable-diffusion-xl-base-1.0", task: TaskTextToImage, created: "2023-11-10 10:54:43.694",
			description: "Stability AI's SDXL base model: draws a picture from a text prompt, optionally starting from an input image."},
		{name: "@cf/bytedance/stable-diffusion-xl-lightning", task: TaskTextToImage, created: "2024-02-27 17:41:29.578", beta: true, format: formatJPEG,
			description: "ByteDance's distilled SDXL variant that needs only a few sampling steps per picture."},
		{name: "@cf/lykon/dreamshaper-8-lcm", task: TaskTextToImage, created: "2024-02-27 17:40:38.881", beta: true,
			description: "Lykon's DreamShaper 8, a photorealism-leaning Stable Diffusion checkpoint distilled with LCM for quick sampling."},
		{name: "@cf/meta/llama-3-8b-instruct", task: TaskTextGeneration, created: "2024-04-18 20:31:47.273", props: []Property{ctxWindow(7968)},
			description: "Meta's 8B Llama 3 chat model, tuned to follow instructions."},
		{name: "@cf/meta/llama-3.1-8b-instruct", task: TaskTextGeneration, created: "2024-07-18 22:53:33.746", props: []Property{ctxWindow(7968)},
			description: "Meta's 8B Llama 3.1 chat model with multilingual instruction tuning."},
		{name: "@cf/mistral/mistral-7b-instruct-v0.1", task: TaskTextGeneration, created: "2023-11-07 11:54:20.229", props: []Property{ctxWindow(2824)},
			description: "Mistral AI's 7B model tuned for following instructions."},
		{name: "@cf/qwen/qwen1.5-7b-chat-awq", task: TaskTextGeneration, created: "2024-02-27 18:24:11.709", beta: true, props: []Property{ctxWindow(20000)},
			description: "Alibaba's Qwen 1.5 7B chat model, AWQ-quantized."},
		{name: "@hf/google/gemma-7b-it", task: TaskTextGeneration, created: "2024-04-01 23:51:35.866", beta: true, props: []Property{ctxWindow(8192)},
			description: "Google's open Gemma 7B model, instruction tuned."},
		{name: "@cf/deepseek-ai/deepseek-math-7b-instruct", task: TaskTextGeneration, created: "2024-02-27 17:54:17.459", beta: true, props: []Property{ctxWindow(4096)},
			description: "DeepSeek's 7B model tuned for working through maths problems."},
		{name: "@cf/unum/uform-gen2-qwen-500m", task: TaskImageToText, created: "2024-02-27 18:28:52.485", beta: true,
			description: "Unum's small vision-language model that captions images and answers questions about them."},
		{name: "@cf/llava-hf/llava-1.5-7b-hf", task: TaskImageToText, created: "2024-05-01 18:00:39.971", beta: true,
			description: "LLaVA 1.5 7B, a vision-language chat model that answers prompts about an image."},
		{name: "@cf/openai/whisper", task: TaskSpeechRecognize, created: "2023-09-25 19:21:11.898",
			description: "OpenAI's Whisper speech recognition model: turns audio into a transcript."},
		{name: "@cf/baai/bge-small-en-v1.5", task: TaskTextEmbeddings, created: "2023-11-07 15:43:58.042", dims: 384,
			props:       []Property{{PropertyID: "max_input_tokens", Value: "512"}, {PropertyID: "output_dimensions", Value: "384"}},
			description: "BAAI's small English embedding model; 384 dimensions per text."},
		{name: "@cf/baai/bge-base-en-v1.5", task: TaskTextEmbeddings, created: "2023-09-25 19:21:11.898", dims: 768,
			props:       []Property{{PropertyID: "max_input_tokens", Value: "512"}, {PropertyID: "output_dimensions", Value: "768"}},
			description: "BAAI's base English embedding model; 768 dimensions per text."},
		{name: "@cf/baai/bge-large-en-v1.5", task: TaskTextEmbeddings, created: "2023-11-07 15:43:58.042", dims: 1024,
			props:       []Property{{PropertyID: "max_input_tokens", Value: "512"}, {PropertyID: "output_dimensions", Value: "1024"}},
			description: "BAAI's large English embedding model; 1024 dimensions per text."},
	}
}

// SearchQuery holds the ai/models/search filters. Zero values mean "no filter";
// Page defaults to 1 and PerPage to DefaultPerPage.
type SearchQuery struct {
	Search           string // case-insensitive substring of name or description
	Task             string // task name or id, case-insensitive; "text-generation" matches "Text Generation"
	Author           string // the segment after @cf/ or @hf/, e.g. "meta"
	Source           int    // 1 = Cloudflare, 2 = Hugging Face; 0 = any
	HideExperimental bool   // drop models flagged beta
	Page             int
	PerPage          int
}

// DefaultPerPage is the page size when SearchQuery.PerPage is not set.
const DefaultPerPage = 50

func (q SearchQuery) matches(e *entry) bool {
	m := e.info
	if q.Search != "" {
		needle := strings.ToLower(q.Search)
		if !strings.Contains(strings.ToLower(m.Name), needle) && !strings.Contains(strings.ToLower(m.Description), needle) {
			return false
		}
	}
	if q.Task != "" && normalizeTask(q.Task) != normalizeTask(m.Task.Name) && !strings.EqualFold(q.Task, m.Task.ID) {
		return false
	}
	if q.Author != "" && !strings.EqualFold(q.Author, author(m.Name)) {
		return false
	}
	if q.Source != 0 && q.Source != m.Source {
		return false
	}
	return !q.HideExperimental || !e.isExperimental()
}

// normalizeTask folds case and separators so "text-generation",
// "Text Generation" and "text_generation" compare equal.
func normalizeTask(s string) string {
	return strings.NewReplacer(" ", "", "-", "", "_", "").Replace(strings.ToLower(strings.TrimSpace(s)))
}

// author returns "meta" for "@cf/meta/llama-3-8b-instruct".
func author(name string) string {
	parts := strings.SplitN(name, "/", 3)
	if len(parts) < 3 {
		return ""
	}
	return parts[1]
}

// paginate cuts one page out of models; pages are 1-based.
func paginate(models []Model, page, perPage int) []Model {
	if page < 1 {
		page = 1
	}
	if perPage < 1 {
		perPage = DefaultPerPage
	}
	start := (page - 1) * perPage
	if start >= len(models) || start < 0 {
		return []Model{}
	}
	end := min(start+perPage, len(models))
	return models[start:end]
}

func sortByName(models []Model) {
	sort.Slice(models, func(i, j int) bool { return models[i].Name < models[j].Name })
}
