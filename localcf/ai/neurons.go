package ai

import (
	"bytes"
	"encoding/json"
	"math"
)

// Usage is what one model call spent, as the stand-in estimates it. Cloudflare bills Workers AI
// in neurons and reports them only through the GraphQL Analytics API (reference 4.2-4.3), so
// localcf records this per call and answers that API from the records.
type Usage struct {
	InputTokens  int
	OutputTokens int
	Neurons      float64
}

// usdPerNeuron is Workers AI's price: $0.011 per 1,000 neurons (reference 4.1).
const usdPerNeuron = 0.011 / 1000

// neuronsPerM converts a price in USD per million tokens into neurons per million tokens.
func neuronsPerM(usd float64) float64 { return usd / usdPerNeuron }

// tokenRate is a model's price in neurons per million input and output tokens.
type tokenRate struct{ input, output float64 }

// neuronRates is the one table of per-model rates: reference 4.4. A model not listed is charged
// defaultTokenRate (text) or imageCallNeurons (Text-to-Image).
var neuronRates = map[string]tokenRate{
	"@cf/zai-org/glm-4.7-flash":               {neuronsPerM(0.06), neuronsPerM(0.40)},
	"@cf/google/gemma-4-26b-a4b-it":           {neuronsPerM(0.10), neuronsPerM(0.30)},
	"@cf/moondream/moondream3.1-9B-A2B":       {neuronsPerM(0.30), neuronsPerM(1.00)},
	"@cf/meta/llama-3.1-8b-instruct-fp8-fast": {4119, 34868}, // the older table lists neurons itself
}

// defaultTokenRate is a local choice for models without a known price (reference 4.4 has none
// for llama-3.1-8b-instruct-fast, the templates' model): the cheapest listed rates, those of
// llama-3.1-8b-instruct-fp8-fast.
var defaultTokenRate = tokenRate{4119, 34868}

// imageCallNeurons is a local choice, not Cloudflare's price: what one Text-to-Image call
// spends, whatever its size (the references give no image rates).
const imageCallNeurons = 100

// bytesPerToken turns text sizes into estimated tokens where a runner does not count them.
const bytesPerToken = 4

// estimateUsage fills in out's usage: tokens the runner counted (text generation) or an
// estimate from the sizes of the request and the answer, priced with the model's rate.
func (e *entry) estimateUsage(body []byte, out *Output) Usage {
	if e.info.Task.Name == TaskTextToImage {
		return Usage{Neurons: imageCallNeurons}
	}
	u := out.Usage
	if u.InputTokens == 0 && u.OutputTokens == 0 {
		u.InputTokens = estimateTokens(len(bytes.TrimSpace(body)))
		u.OutputTokens = estimateTokens(outputSize(out))
	}
	rate, ok := neuronRates[e.info.Name]
	if !ok {
		rate = defaultTokenRate
	}
	u.Neurons = (float64(u.InputTokens)*rate.input + float64(u.OutputTokens)*rate.output) / 1e6
	return u
}

func estimateTokens(size int) int {
	return int(math.Ceil(float64(size) / bytesPerToken))
}

// outputSize is the size of the answer as the caller receives it.
func outputSize(out *Output) int {
	if out.JSON == nil {
		return len(out.Body)
	}
	data, err := json.Marshal(out.JSON)
	if err != nil {
		return 0
	}
	return len(data)
}

// NeuronRate returns the rate the stand-in charges model, in neurons per million input and
// output tokens, and whether the reference lists it (false: the default rate).
func NeuronRate(model string) (input, output float64, known bool) {
	rate, known := neuronRates[model]
	if !known {
		rate = defaultTokenRate
	}
	return rate.input, rate.output, known
}
