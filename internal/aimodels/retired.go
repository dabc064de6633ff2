// Package aimodels holds what flareform ships about the Workers AI catalog: a snapshot of the
// models Cloudflare retired, with the replacement to suggest for each. The live catalog
// (GET /accounts/{id}/ai/models/search, its planned_deprecation_date property) is the truth
// whenever flareform can ask it; this snapshot serves the offline commands (validate) and the
// local Cloudflare's catalog, and says that it is a snapshot.
package aimodels

import "time"

// SnapshotDate is the day this table was last checked against Cloudflare's changelog.
const SnapshotDate = "2026-12-06"

// Retired is one model with a planned_deprecation_date.
type Retired struct {
	Name string
	// Date is the planned_deprecation_date, YYYY-MM-DD: inference fails from that day on.
	Date string
	// Replacement is the model to suggest: the -fast variant of the same model where one
	// exists (same inputs and outputs), else the changelog's recommendation for the task.
	Replacement string
	// SameShape is true when Replacement takes the same inputs and gives the same outputs.
	SameShape bool
	// Task is the catalog's task name, e.g. "Text Generation".
	Task string
}

// The changelog's recommendations (2026-05-08 planned model deprecations): for text
// generation and for vision, also for retired models this snapshot does not list.
const (
	ChatReplacement   = "@cf/zai-org/glm-4.7-flash"
	VisionReplacement = "@cf/google/gemma-4-26b-a4b-it"
	fastLlama8B       = "@cf/meta/llama-3.1-8b-instruct-fast"
)

const (
	taskTextGeneration = "Text Generation"
	taskImageToText    = "Image-to-Text"
	taskSummarization  = "Summarization"
)

const may2026 = "2026-05-30"

// retired is the snapshot: the 18 models retired on 2026-05-30.
var retired = []Retired{
	{"@cf/moonshotai/kimi-k2.5", may2026, "@cf/moonshotai/kimi-k2.6", false, taskTextGeneration},
	{"@hf/meta-llama/meta-llama-3-8b-instruct", may2026, fastLlama8B, false, taskTextGeneration},
	{"@cf/meta/llama-3-8b-instruct", may2026, fastLlama8B, false, taskTextGeneration},
	{"@cf/meta/llama-3-8b-instruct-awq", may2026, fastLlama8B, false, taskTextGeneration},
	{"@cf/meta/llama-3.1-8b-instruct", may2026, fastLlama8B, true, taskTextGeneration},
	{"@cf/meta/llama-3.1-8b-instruct-awq", may2026, fastLlama8B, true, taskTextGeneration},
	{"@cf/meta/llama-3.1-70b-instruct", may2026, "@cf/meta/llama-3.3-70b-instruct-fp8-fast", false, taskTextGeneration},
	{"@cf/meta/llama-2-7b-chat-int8", may2026, ChatReplacement, false, taskTextGeneration},
	{"@cf/meta/llama-2-7b-chat-fp16", may2026, ChatReplacement, false, taskTextGeneration},
	{"@cf/mistral/mistral-7b-instruct-v0.1", may2026, ChatReplacement, false, taskTextGeneration},
	{"@hf/mistral/mistral-7b-instruct-v0.2", may2026, ChatReplacement, false, taskTextGeneration},
	{"@hf/google/gemma-7b-it", may2026, VisionReplacement, false, taskTextGeneration},
	{"@cf/google/gemma-3-12b-it", may2026, VisionReplacement, false, taskTextGeneration},
	{"@hf/nousresearch/hermes-2-pro-mistral-7b", may2026, ChatReplacement, false, taskTextGeneration},
	{"@cf/microsoft/phi-2", may2026, ChatReplacement, false, taskTextGeneration},
	{"@cf/defog/sqlcoder-7b-2", may2026, ChatReplacement, false, taskTextGeneration},
	{"@cf/unum/uform-gen2-qwen-500m", may2026, VisionReplacement, false, taskImageToText},
	{"@cf/facebook/bart-large-cnn", may2026, ChatReplacement, false, taskSummarization},
}

// RetiredModels lists the snapshot, in the changelog's order.
func RetiredModels() []Retired {
	return append([]Retired(nil), retired...)
}

// LookupRetired returns the snapshot's entry for name.
func LookupRetired(name string) (Retired, bool) {
	for _, r := range retired {
		if r.Name == name {
			return r, true
		}
	}
	return Retired{}, false
}

// PastDate reports whether the deprecation date has passed on day now (UTC): from that day
// on the model answers no inference.
func PastDate(date string, now time.Time) bool {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return false
	}
	return !now.UTC().Before(d)
}

// Advice is what to tell a user about a retired model: the replacement and whether it takes
// the same inputs and outputs.
func (r Retired) Advice() string {
	if r.SameShape {
		return "use " + r.Replacement + " (same inputs and outputs)"
	}
	return "use " + r.Replacement + " (check its inputs and outputs: they differ)"
}
