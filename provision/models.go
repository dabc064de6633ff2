package provision

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cloudflare/cloudflare-go/v6/ai"

	"github.com/flareform/flareform/provision/spec"
)

// wellKnownModels are Workers AI models the engine accepts without asking the API, so the
// usual specs plan without an extra call.
var wellKnownModels = map[string]bool{
	"@cf/stabilityai/stable-diffusion-xl-base-1.0":  true,
	"@cf/bytedance/stable-diffusion-xl-lightning":   true,
	"@cf/lykon/dreamshaper-8-lcm":                   true,
	"@cf/runwayml/stable-diffusion-v1-5-img2img":    true,
	"@cf/runwayml/stable-diffusion-v1-5-inpainting": true,
	"@cf/black-forest-labs/flux-1-schnell":          true,
	"@cf/meta/llama-3.1-8b-instruct":                true,
	"@cf/meta/llama-3.3-70b-instruct-fp8-fast":      true,
	"@cf/meta/llama-3-8b-instruct":                  true,
	"@cf/mistral/mistral-7b-instruct-v0.1":          true,
	"@cf/baai/bge-base-en-v1.5":                     true,
	"@cf/baai/bge-small-en-v1.5":                    true,
	"@cf/baai/bge-large-en-v1.5":                    true,
	"@cf/openai/whisper":                            true,
	"@cf/microsoft/resnet-50":                       true,
	"@cf/huggingface/distilbert-sst-2-int8":         true,
	"@cf/meta/m2m100-1.2b":                          true,
	"@cf/facebook/bart-large-cnn":                   true,
	"@cf/llava-hf/llava-1.5-7b-hf":                  true,
	"@cf/unum/uform-gen2-qwen-500m":                 true,
}

// modelExists asks ai/models/search whether model is in the account's catalog. When it is
// not, near lists the catalog names seen while looking (and, with one more search on the
// start of the name, names like it), for suggestModel.
func (e *Engine) modelExists(ctx context.Context, accountID, model string) (ok bool, near []string, err error) {
	if wellKnownModels[model] {
		return true, nil, nil
	}
	// Search on the last path segment: it is the part a fuzzy search matches most reliably,
	// and the exact comparison below decides.
	term := model[strings.LastIndex(model, "/")+1:]
	if near, err = e.searchModels(ctx, accountID, term, model); err != nil || slices.Contains(near, model) {
		return err == nil, nil, err
	}
	// A typo defeats that search; the name's first word ("llama", "stable") finds its family.
	if prefix := familyOf(term); prefix != "" && prefix != term {
		more, err := e.searchModels(ctx, accountID, prefix, model)
		if err != nil {
			return false, nil, err
		}
		near = append(near, more...)
	}
	return false, near, nil
}

// searchModels lists the catalog names a search for term finds, stopping early at model.
func (e *Engine) searchModels(ctx context.Context, accountID, term, model string) ([]string, error) {
	var names []string
	// Pages are walked by hand: the SDK's auto-pager drops the context and always asks for
	// one page more than needed.
	for page := int64(1); page <= maxModelSearchPages; page++ {
		res, err := e.ai.Models.List(ctx, sdkParams(func(p *ai.ModelListParams) {
			setParam(&p.AccountID, accountID)
			setParam(&p.Search, term)
			setParam(&p.Page, page)
			setParam(&p.PerPage, int64(modelSearchPageSize))
		}))
		if err != nil {
			return nil, fmt.Errorf("search models for %s: %w", model, cleanAPIError(err))
		}
		for _, item := range res.Result {
			if m, ok := item.(map[string]any); ok {
				if name, ok := m["name"].(string); ok {
					names = append(names, name)
					if name == model {
						return names, nil
					}
				}
			}
		}
		if len(res.Result) < modelSearchPageSize {
			break
		}
	}
	return names, nil
}

// familyOf is the first word of a model's last segment ("llama" of "llama-3.1-8b-instruct").
func familyOf(term string) string {
	if i := strings.IndexAny(term, "-_."); i >= 3 {
		return term[:i]
	}
	return ""
}

// suggestModel is the catalog name nearest to model by edit distance, among the built-in
// list and near; "" when none is close enough (a quarter of the name's length) to be what
// was meant, since suggesting an unrelated model helps nobody.
func suggestModel(model string, near []string) string {
	best, bestDist := "", len(model)/4+1
	for _, c := range append(slices.Sorted(maps.Keys(wellKnownModels)), near...) {
		if d := spec.EditDistance(strings.ToLower(model), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

const (
	modelSearchPageSize = 50
	maxModelSearchPages = 10
)
