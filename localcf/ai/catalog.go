package ai

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flareform/flareform/internal/aimodels"
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

// PropertyDeprecationDate is the property the catalog marks retiring models with; its value
// is the day (YYYY-MM-DD) from which the model answers no inference.
const PropertyDeprecationDate = "planned_deprecation_date"

// Task names as the catalog spells them.
const (
	TaskTextToImage     = "Text-to-Image"
	TaskTextGeneration  = "Text Generation"
	TaskTextEmbeddings  = "Text Embeddings"
	TaskSpeechRecognize = "Automatic Speech Recognition"
	TaskImageToText     = "Image-to-Text"
	TaskSummarization   = "Summarization"
)

// imageFormat is the encoding a text-to-image model answers with.
type imageFormat int

const (
	formatPNG imageFormat = iota
	formatJPEG
)

// runner is how the stand-in answers a model.
type runner int

const (
	runImage      runner = iota // raw image bytes (SDXL family)
	runFlux                     // {"image": base64 JPEG}
	runLegacyChat               // {"response"} or SSE of {"response": token}
	runOpenAIChat               // Chat Completions object or SSE of chat.completion.chunk
	runEmbeddings
	runSpeech
	runCaption   // {"description"}
	runMoondream // {"answer" | "caption" | "points" | "objects", "metrics", ...}
	runSummary   // {"summary"}
)

// entry is a catalog model plus what the stand-in needs to run it.
type entry struct {
	info   Model
	input  *node
	output *node
	runner runner
	dims   int         // Text Embeddings only
	format imageFormat // Text-to-Image only
	usage  bool        // legacy text generation: the output carries usage
	images imageCache  // Text-to-Image only
	// binaryField is the input a raw (non-JSON) body fills, for models whose schema takes one.
	binaryField string
	// retiredOn is the planned_deprecation_date; from that day inference fails, or, with
	// aliasOf, goes to that model instead.
	retiredOn string
	aliasOf   string
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

// retired reports whether the model's planned_deprecation_date has passed on day now.
func (e *entry) retired(now time.Time) bool {
	return e.retiredOn != "" && aimodels.PastDate(e.retiredOn, now)
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
	runner                           runner
	input, output                    *node
	dims                             int
	format                           imageFormat
	usage                            bool
	retiredOn, aliasOf               string
}

var tasks = map[string]Task{
	TaskTextToImage:     newTask(TaskTextToImage, "Generates an image from a text prompt."),
	TaskTextGeneration:  newTask(TaskTextGeneration, "Continues a prompt or a chat conversation with generated text."),
	TaskTextEmbeddings:  newTask(TaskTextEmbeddings, "Turns text into a fixed-length vector of numbers for similarity search."),
	TaskSpeechRecognize: newTask(TaskSpeechRecognize, "Transcribes spoken audio into text."),
	TaskImageToText:     newTask(TaskImageToText, "Describes the content of an image in text."),
	TaskSummarization:   newTask(TaskSummarization, "Writes a shorter version of a text that keeps its main points."),
}

// allDefs is built once: the schemas are read-only, so every Service shares them.
var allDefs = sync.OnceValue(func() []modelDef { return append(modelDefs(), retiredDefs()...) })

func newCatalog() map[string]*entry {
	catalog := make(map[string]*entry)
	for _, d := range allDefs() {
		e := &entry{
			info:      d.model(tasks[d.task]),
			input:     d.input,
			output:    d.output,
			runner:    d.runner,
			dims:      d.dims,
			format:    d.format,
			usage:     d.usage,
			retiredOn: d.retiredOn,
			aliasOf:   d.aliasOf,
		}
		if d.input.acceptsBinary() {
			e.binaryField = map[runner]string{runSpeech: "audio", runCaption: "image"}[d.runner]
		}
		catalog[d.name] = e
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
	if d.retiredOn != "" {
		// The form the real catalog uses (reference 5.1): a property, value a date string.
		props = append(props, Property{PropertyID: PropertyDeprecationDate, Value: d.retiredOn})
	}
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
func flag(id string) Property  { return Property{PropertyID: id, Value: "true"} }

// The live models: every model a template, doc or example suggests, and the replacements
// Cloudflare recommends for the models retired on 2026-05-30.
func modelDefs() []modelDef {
	textToImage := func(name, created, description string, beta bool, format imageFormat) modelDef {
		return modelDef{name: name, task: TaskTextToImage, created: created, beta: beta, format: format, description: description,
			runner: runImage, input: textToImageInput(), output: imageOutput()}
	}
	legacy := func(name, created, description string, c legacyChat, props ...Property) modelDef {
		return modelDef{name: name, task: TaskTextGeneration, created: created, description: description, props: props,
			runner: runLegacyChat, input: c.input(), output: c.output(), usage: c.usage}
	}
	chat := func(name, created, description string, c openAIChat, props ...Property) modelDef {
		return modelDef{name: name, task: TaskTextGeneration, created: created, description: description, props: props,
			runner: runOpenAIChat, input: c.input(), output: c.output()}
	}
	embedding := func(name, created, description string, dims int) modelDef {
		return modelDef{name: name, task: TaskTextEmbeddings, created: created, dims: dims, description: description,
			props:  []Property{{PropertyID: "max_input_tokens", Value: "512"}, {PropertyID: "output_dimensions", Value: strconv.Itoa(dims)}},
			runner: runEmbeddings, input: embeddingsInput(), output: embeddingsOutput()}
	}
	return []modelDef{
		textToImage("@cf/stabilityai/stable-diffusion-xl-base-1.0", "2023-11-10 10:54:43.694",
			"Stability AI's SDXL base model: draws a picture from a text prompt, optionally starting from an input image.", false, formatPNG),
		textToImage("@cf/bytedance/stable-diffusion-xl-lightning", "2024-02-27 17:41:29.578",
			"ByteDance's distilled SDXL variant that needs only a few sampling steps per picture.", true, formatJPEG),
		textToImage("@cf/lykon/dreamshaper-8-lcm", "2024-02-27 17:40:38.881",
			"Lykon's DreamShaper 8, a photorealism-leaning Stable Diffusion checkpoint distilled with LCM for quick sampling.", true, formatPNG),
		{name: "@cf/black-forest-labs/flux-1-schnell", task: TaskTextToImage, created: "2024-08-29 16:37:39.541",
			description: "Black Forest Labs' 12B FLUX.1 [schnell]: a picture from a prompt in at most 8 steps, as base64 JPEG.",
			runner:      runFlux, input: fluxInput(), output: fluxOutput(), format: formatJPEG},

		legacy("@cf/meta/llama-3.1-8b-instruct-fast", "2024-07-23 12:00:00.000",
			"Meta's 8B Llama 3.1 chat model on faster serving; the same inputs and outputs as Llama 3.1 8B.", fastLlamaChat, ctxWindow(128000)),
		legacy("@cf/meta/llama-3.3-70b-instruct-fp8-fast", "2024-12-06 17:09:18.338",
			"Meta's 70B Llama 3.3, quantized to fp8 for faster answers; JSON mode and tool calling.", llama70BChat,
			ctxWindow(24000), flag("function_calling")),
		legacy("@cf/meta/llama-3.2-11b-vision-instruct", "2024-09-25 05:36:04.547",
			"Meta's 11B Llama 3.2 Vision: answers questions about an image sent with the prompt.", fastLlamaChat, flag("lora")),
		chat("@cf/zai-org/glm-4.7-flash", "2026-01-28 16:04:39.346",
			"Z.ai's fast multilingual GLM-4.7-Flash for dialogue and multi-turn tool calling, in the OpenAI chat format.", glmChat,
			ctxWindow(131072), flag("function_calling"), flag("reasoning")),
		chat("@cf/google/gemma-4-26b-a4b-it", "2026-04-02 15:05:22.642",
			"Google's Gemma 4 mixture-of-experts model with vision and tool calling, in the OpenAI chat format.", gemmaChat,
			flag("async_queue"), ctxWindow(256000), flag("function_calling"), flag("reasoning"), flag("vision")),
		chat("@cf/moonshotai/kimi-k2.6", "2026-04-20 01:40:35.001",
			"Moonshot AI's 1T-parameter Kimi K2.6 for agentic work: tool calling, vision and structured outputs.", kimiChat,
			flag("async_queue"), flag("require_workers_paid"), ctxWindow(262144), flag("function_calling"), flag("reasoning"), flag("vision")),

		{name: "@cf/llava-hf/llava-1.5-7b-hf", task: TaskImageToText, created: "2024-05-01 18:00:39.971", beta: true,
			description: "LLaVA 1.5 7B, a vision-language chat model that answers prompts about an image.",
			runner:      runCaption, input: captionInput(), output: captionOutput()},
		{name: "@cf/moondream/moondream3.1-9B-A2B", task: TaskImageToText, created: "2026-07-07 14:39:02.726",
			description: "Moondream 3, a small mixture-of-experts vision model: answers, captions, points at and boxes what is in an image.",
			props:       []Property{flag("vision")}, runner: runMoondream, input: moondreamInput(), output: moondreamOutput()},

		{name: "@cf/openai/whisper", task: TaskSpeechRecognize, created: "2023-09-25 19:21:11.898",
			description: "OpenAI's Whisper speech recognition model: turns audio into a transcript.",
			runner:      runSpeech, input: speechInput(), output: speechOutput()},

		embedding("@cf/baai/bge-small-en-v1.5", "2023-11-07 15:43:58.042", "BAAI's small English embedding model; 384 dimensions per text.", 384),
		embedding("@cf/baai/bge-base-en-v1.5", "2023-09-25 19:21:11.898", "BAAI's base English embedding model; 768 dimensions per text.", 768),
		embedding("@cf/baai/bge-large-en-v1.5", "2023-11-07 15:43:58.042", "BAAI's large English embedding model; 1024 dimensions per text.", 1024),
	}
}

// aliases are retired models whose name keeps working for another model (reference 5.2:
// kimi-k2.5 is aliased to kimi-k2.6 from its deprecation date).
var aliases = map[string]string{"@cf/moonshotai/kimi-k2.5": "@cf/moonshotai/kimi-k2.6"}

// retiredDefs lists the retired models, still in the catalog with their
// planned_deprecation_date: the snapshot of internal/aimodels, plus two models of the
// 2025-10-01 removal (docs src/util/deprecated-models.ts) that earlier versions of this
// catalog served as live.
func retiredDefs() []modelDef {
	var defs []modelDef
	for _, r := range aimodels.RetiredModels() {
		d := modelDef{name: r.Name, task: r.Task, created: "2024-01-01 00:00:00.000", retiredOn: r.Date, aliasOf: aliases[r.Name],
			description: fmt.Sprintf("Retired on %s; Cloudflare suggests %s instead.", r.Date, r.Replacement)}
		switch {
		case d.aliasOf != "":
			d.runner, d.input, d.output = runOpenAIChat, kimiChat.input(), kimiChat.output()
		case r.Task == TaskImageToText:
			d.runner, d.input, d.output = runCaption, captionInput(), captionOutput()
		case r.Task == TaskSummarization:
			d.runner, d.input, d.output = runSummary, summaryInput(), summaryOutput()
		default:
			d.runner, d.input, d.output = runLegacyChat, oldLegacyChat.input(), oldLegacyChat.output()
		}
		defs = append(defs, d)
	}
	for _, name := range []string{"@cf/qwen/qwen1.5-7b-chat-awq", "@cf/deepseek-ai/deepseek-math-7b-instruct"} {
		defs = append(defs, modelDef{name: name, task: TaskTextGeneration, created: "2024-02-27 18:24:11.709", beta: true,
			retiredOn: "2025-10-01", description: "Retired on 2025-10-01.",
			runner: runLegacyChat, input: oldLegacyChat.input(), output: oldLegacyChat.output()})
	}
	return defs
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
