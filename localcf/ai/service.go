package ai

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Service is the local Workers AI: a read-only catalog plus the stand-in
// runners. It is safe for concurrent use.
type Service struct {
	catalog map[string]*entry
	sorted  []Model // the catalog sorted by name
}

// Output is a model result. Images and SSE streams are raw bytes in Body;
// JSON results are in JSON (bare, not enveloped).
type Output struct {
	ContentType string // "image/png", "image/jpeg", "application/json", "text/event-stream"
	Body        []byte // raw bytes for images and SSE
	JSON        any    // result object for JSON outputs (REST wraps it in the envelope)
}

// NewService builds the catalog.
func NewService() *Service {
	catalog := newCatalog()
	sorted := make([]Model, 0, len(catalog))
	for _, e := range catalog {
		sorted = append(sorted, e.info)
	}
	sortByName(sorted)
	return &Service{catalog: catalog, sorted: sorted}
}

// Models returns the whole catalog, sorted by name.
func (s *Service) Models() []Model { return cloneModels(s.sorted) }

// Model returns the catalog entry for name.
func (s *Service) Model(name string) (Model, bool) {
	e, ok := s.catalog[name]
	if !ok {
		return Model{}, false
	}
	return e.info.clone(), true
}

// Search returns the page of models that match q, sorted by name.
func (s *Service) Search(q SearchQuery) []Model {
	page, _ := s.SearchPage(q)
	return page
}

// SearchPage is Search plus the number of matches across all pages, which
// the REST layer needs for result_info.
func (s *Service) SearchPage(q SearchQuery) (page []Model, total int) {
	var matches []Model
	for _, m := range s.sorted {
		if q.matches(s.catalog[m.Name]) {
			matches = append(matches, m)
		}
	}
	return cloneModels(paginate(matches, q.Page, q.PerPage)), len(matches)
}

func cloneModels(models []Model) []Model {
	out := make([]Model, len(models))
	for i, m := range models {
		out[i] = m.clone()
	}
	return out
}

// Run validates input (a JSON object) for model and produces the stand-in
// output. Every failure a caller can cause is an *Error with its Workers AI
// code and HTTP status; see the package comment for the codes.
func (s *Service) Run(ctx context.Context, model string, input []byte) (*Output, error) {
	e, ok := s.catalog[model]
	if !ok {
		return nil, noSuchModel(model)
	}
	if len(input) > MaxInputBytes {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
			Message: fmt.Sprintf("Request is too large: %d bytes, limit %d", len(input), MaxInputBytes)}
	}
	if err := ctx.Err(); err != nil {
		return nil, contextError(err)
	}
	in, verr := e.schema.validate(input)
	if verr != nil {
		return nil, verr
	}
	out, err := e.run(ctx, in)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, contextError(err)
		}
		return nil, fmt.Errorf("run %s: %w", model, err)
	}
	return out, nil
}

func (e *entry) run(ctx context.Context, in inputs) (*Output, error) {
	switch e.info.Task.Name {
	case TaskTextToImage:
		return e.runTextToImage(ctx, in)
	case TaskTextGeneration:
		return e.runTextGeneration(in)
	case TaskTextEmbeddings:
		return e.runEmbeddings(in), nil
	case TaskSpeechRecognize:
		return jsonOutput(transcribe(in.bytes("audio"))), nil
	case TaskImageToText:
		desc := describeImage(in.bytes("image"), in.str("image", ""), promptText(in))
		return jsonOutput(map[string]string{"description": desc}), nil
	}
	return nil, fmt.Errorf("no runner for task %q", e.info.Task.Name)
}

func jsonOutput(v any) *Output { return &Output{ContentType: "application/json", JSON: v} }

func (e *entry) runTextToImage(ctx context.Context, in inputs) (*Output, error) {
	if b64 := in.str("image_b64", ""); b64 != "" {
		if _, err := base64.StdEncoding.DecodeString(b64); err != nil {
			return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidBase64,
				Message: "Invalid data for base64 input: /image_b64 is not valid base64"}
		}
	}
	seed := newImageSeed(e.info.Name, in.str("prompt", ""), in.str("negative_prompt", ""), in.integer("seed", 0))
	width := int(in.integer("width", defaultImageSide))
	height := int(in.integer("height", defaultImageSide))
	key := imageKey{seed: seed, width: width, height: height}
	if img, ok := e.images.get(key); ok {
		return &Output{ContentType: img.contentType, Body: img.body}, nil
	}
	body, contentType, err := generateImage(ctx, seed, width, height, e.format)
	if err != nil {
		return nil, err
	}
	e.images.put(key, cachedImage{body: body, contentType: contentType})
	return &Output{ContentType: contentType, Body: body}, nil
}

func (e *entry) runTextGeneration(in inputs) (*Output, error) {
	prompt := promptText(in)
	tokens := generateTokens(e.info.Name, prompt, int(in.integer("max_tokens", defaultMaxTokens)))
	if in.boolean("stream", false) {
		body, err := sseStream(tokens)
		if err != nil {
			return nil, err
		}
		return &Output{ContentType: "text/event-stream", Body: body}, nil
	}
	return jsonOutput(textResult{Response: strings.Join(tokens, ""), Usage: newUsage(prompt, len(tokens))}), nil
}

func (e *entry) runEmbeddings(in inputs) *Output {
	texts := in.strings("text")
	data := make([][]float64, len(texts))
	for i, t := range texts {
		data[i] = embed(e.info.Name, t, e.dims)
	}
	return jsonOutput(embeddingResult{Shape: [2]int{len(texts), e.dims}, Data: data, Pooling: in.str("pooling", "")})
}
