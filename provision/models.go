package provision

import (
	"context"
	"fmt"
	"strings"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/ai"
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

// modelExists asks ai/models/search whether model is in the account's catalog.
func (e *Engine) modelExists(ctx context.Context, accountID, model string) (bool, error) {
	if wellKnownModels[model] {
		return true, nil
	}
	// Search on the last path segment: it is the part a fuzzy search matches most reliably,
	// and the exact comparison below decides.
	term := model[strings.LastIndex(model, "/")+1:]
	// Pages are walked by hand: the SDK's auto-pager drops the context and always asks for
	// one page more than needed.
	for page := int64(1); page <= maxModelSearchPages; page++ {
		res, err := e.ai.Models.List(ctx, ai.ModelListParams{
			AccountID: cloudflare.F(accountID),
			Search:    cloudflare.F(term),
			Page:      cloudflare.F(page),
			PerPage:   cloudflare.F(int64(modelSearchPageSize)),
		})
		if err != nil {
			return false, fmt.Errorf("search models for %s: %w", model, cleanAPIError(err))
		}
		for _, item := range res.Result {
			if m, ok := item.(map[string]any); ok && m["name"] == model {
				return true, nil
			}
		}
		if len(res.Result) < modelSearchPageSize {
			break
		}
	}
	return false, nil
}

const (
	modelSearchPageSize = 50
	maxModelSearchPages = 10
)
