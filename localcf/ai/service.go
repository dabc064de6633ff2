package ai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"
)

// Service is the local Workers AI: a read-only catalog plus the stand-in
// runners. It is safe for concurrent use.
type Service struct {
	catalog map[string]*entry
	sorted  []Model // the catalog sorted by name
	now     func() time.Time
}

// Options configures a Service.
type Options struct {
	// Now is the clock that decides whether a model's planned_deprecation_date has passed
	// (nil: time.Now). Tests set it to run a retired model before its date, or after.
	Now func() time.Time
}

// Output is a model result. Images and SSE streams are raw bytes in Body;
// JSON results are in JSON (bare, not enveloped).
type Output struct {
	ContentType string // "image/png", "image/jpeg", "application/json", "text/event-stream"
	Body        []byte // raw bytes for images and SSE
	JSON        any    // result object for JSON outputs (REST wraps it in the envelope)
	// Usage is the call's estimated tokens and neurons (neurons.go); text generation runners
	// set the tokens they counted, RunRequest the rest.
	Usage Usage
}

// NewService builds the catalog, on the real clock.
func NewService() *Service { return NewServiceWith(Options{}) }

// NewServiceWith builds the catalog with opts.
func NewServiceWith(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	catalog := newCatalog()
	sorted := make([]Model, 0, len(catalog))
	for _, e := range catalog {
		sorted = append(sorted, e.info)
	}
	sortByName(sorted)
	return &Service{catalog: catalog, sorted: sorted, now: opts.Now}
}

// Models returns the whole catalog, sorted by name, retired models included (with their
// planned_deprecation_date property, as the real catalog lists them).
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

// Run runs model on input as the AI binding sends it (JSON; a body that is not JSON is taken
// as the raw input by models whose schema allows that). Every failure a caller can cause is
// an *Error with its Workers AI code and HTTP status; see the package comment for the codes.
func (s *Service) Run(ctx context.Context, model string, input []byte) (*Output, error) {
	return s.RunRequest(ctx, model, "", input)
}

// RunRequest runs model on a request body sent with contentType ("" when unknown).
//
// A body sent as application/json (exactly that media type; a charset=utf-8 parameter is
// allowed) is JSON. Any other type makes the body the raw input of a model whose schema takes
// one (Whisper's audio, LLaVA's image: `curl --data-binary @talk.wav`); models that only take
// a JSON object read it as JSON whatever its label, as Cloudflare's own REST examples
// (`curl -d '{...}'`, sent as application/x-www-form-urlencoded) require. UNCONFIRMED: which
// media types Cloudflare counts as JSON; this takes the strict reading for the models where
// it matters. With no Content-Type a body that parses as JSON is JSON.
func (s *Service) RunRequest(ctx context.Context, model, contentType string, body []byte) (*Output, error) {
	e, ok := s.catalog[model]
	if !ok {
		return nil, noSuchModel(model)
	}
	if e.retired(s.now()) {
		target, aliased := s.catalog[e.aliasOf]
		if !aliased {
			// UNCONFIRMED (reference 5.2): what a retired model answers. The strictest of the
			// candidates, the answer for a model that does not exist: 400, code 5007.
			return nil, noSuchModel(model)
		}
		e = target
	}
	if len(body) > MaxInputBytes {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
			Message: fmt.Sprintf("Request is too large: %d bytes, limit %d", len(body), MaxInputBytes)}
	}
	if err := ctx.Err(); err != nil {
		return nil, contextError(err)
	}
	in, verr := e.decode(contentType, body)
	if verr != nil {
		return nil, verr
	}
	out, err := s.run(ctx, e, in)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, contextError(err)
		}
		var aiErr *Error
		if errors.As(err, &aiErr) {
			return nil, aiErr
		}
		return nil, fmt.Errorf("run %s: %w", model, err)
	}
	out.Usage = e.estimateUsage(body, out)
	return out, nil
}

// isJSONType: application/json, with at most a charset=utf-8 parameter.
func isJSONType(contentType string) bool {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "application/json" {
		return false
	}
	for name, value := range params {
		if name != "charset" || !strings.EqualFold(value, "utf-8") {
			return false
		}
	}
	return true
}

// decode checks the body against the model's input schema and returns its values.
func (e *entry) decode(contentType string, body []byte) (inputs, *Error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return inputs{}, &Error{Status: http.StatusBadRequest, Code: CodeMissingBody, Message: "Request is missing headers or body"}
	}
	valid := json.Valid(body)
	asJSON := valid || e.binaryField == ""
	switch {
	case e.binaryField == "":
	case isJSONType(contentType):
		asJSON = true
	case contentType != "":
		asJSON = false
	}
	if !asJSON {
		return inputs{binaryField: e.binaryField, binary: body}, nil
	}
	if !valid {
		var probe json.RawMessage
		err := json.Unmarshal(body, &probe)
		return inputs{}, invalidInput("request body is not valid JSON: " + err.Error())
	}
	if err := e.input.validate(body, ""); err != nil {
		return inputs{}, invalidInput(err.Error())
	}
	var in inputs
	switch jsonType(body) {
	case "object":
		_ = json.Unmarshal(body, &in.fields) // valid JSON object: cannot fail
	case "string":
		// A JSON string where the schema takes a binary string: its text is the input.
		var s string
		_ = json.Unmarshal(body, &s)
		in.binaryField, in.binary = e.binaryField, []byte(s)
	}
	return in, nil
}

// inputs are the validated values of one request: the JSON object's members, or the raw
// body that stands for binaryField.
type inputs struct {
	fields      map[string]json.RawMessage
	binaryField string
	binary      []byte
}

func (in inputs) has(name string) bool {
	v, ok := in.fields[name]
	return ok && jsonType(v) != "null"
}

func (in inputs) str(name, def string) string {
	var s string
	if in.has(name) && json.Unmarshal(in.fields[name], &s) == nil {
		return s
	}
	return def
}

func (in inputs) integer(name string, def int64) int64 {
	if !in.has(name) {
		return def
	}
	var i int64
	if json.Unmarshal(in.fields[name], &i) == nil {
		return i
	}
	if v, ok := parseNumber(in.fields[name]); ok {
		return int64(v)
	}
	return def
}

func (in inputs) boolean(name string, def bool) bool {
	var b bool
	if in.has(name) && json.Unmarshal(in.fields[name], &b) == nil {
		return b
	}
	return def
}

// bytesOf returns an input that carries bytes: the raw body, an array of numbers (each taken
// modulo 256, as a Uint8Array would), or a string (base64 when it decodes as such, else its
// text). encoded is the string form when one was sent.
func (in inputs) bytesOf(name string) (data []byte, encoded string) {
	if name == in.binaryField && in.binary != nil {
		return in.binary, ""
	}
	raw, ok := in.fields[name]
	if !ok {
		return nil, ""
	}
	switch jsonType(raw) {
	case "array":
		if out, ok := parseByteArray(raw); ok {
			return out, ""
		}
		numbers, _ := decodeNumbers(raw)
		out := make([]byte, len(numbers))
		for i, n := range numbers {
			out[i] = byte(int64(n))
		}
		return out, ""
	case "string":
		var s string
		_ = json.Unmarshal(raw, &s)
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			return b, s
		}
		return []byte(s), s
	}
	return nil, ""
}

// parseByteArray reads the usual byte array, non-negative integers with no fraction or
// exponent, without encoding/json (seconds for megabytes of audio); ok is false for any
// other array, which then takes the general path.
func parseByteArray(raw json.RawMessage) ([]byte, bool) {
	inner := bytes.TrimSpace(raw)
	if len(inner) < 2 || inner[0] != '[' || inner[len(inner)-1] != ']' {
		return nil, false
	}
	out := make([]byte, 0, len(inner)/3)
	value, digits := 0, 0
	for _, c := range inner[1:] {
		switch {
		case c >= '0' && c <= '9':
			value = value*10 + int(c-'0')
			digits++
			if digits > 9 {
				return nil, false
			}
		case c == ',' || c == ']':
			if digits == 0 {
				if c == ']' && len(out) == 0 {
					return out, true // []
				}
				return nil, false
			}
			out = append(out, byte(value))
			value, digits = 0, 0
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			return nil, false
		}
	}
	return out, true
}

// textsOf returns a string or array-of-strings input as a list.
func (in inputs) textsOf(name string) []string {
	raw := in.fields[name]
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

func (s *Service) run(ctx context.Context, e *entry, in inputs) (*Output, error) {
	if in.has("requests") {
		// The async batch form: Cloudflare queues it and answers a request id to poll for.
		// The stand-in queues nothing; the id has the real shape.
		return jsonOutput(map[string]string{"request_id": stableID(fmt.Sprintf("%s:%d", e.info.Name, s.now().UnixNano()))}), nil
	}
	switch e.runner {
	case runImage:
		return e.runTextToImage(ctx, in)
	case runFlux:
		return e.runFlux(ctx, in)
	case runLegacyChat:
		return e.runLegacyChat(in)
	case runOpenAIChat:
		return e.runOpenAIChat(in, s.now())
	case runEmbeddings:
		return e.runEmbeddings(in), nil
	case runSpeech:
		audio, _ := in.bytesOf("audio")
		return jsonOutput(transcribe(audio)), nil
	case runCaption:
		img, encoded := in.bytesOf("image")
		return jsonOutput(map[string]string{"description": describeImage(img, encoded, in.str("prompt", ""))}), nil
	case runMoondream:
		return e.runMoondream(in)
	case runSummary:
		return jsonOutput(map[string]string{"summary": summarize(in.str("input_text", ""), int(in.integer("max_length", 1024)))}), nil
	}
	return nil, fmt.Errorf("no runner for %s", e.info.Name)
}

func jsonOutput(v any) *Output { return &Output{ContentType: "application/json", JSON: v} }

func (e *entry) runTextToImage(ctx context.Context, in inputs) (*Output, error) {
	if b64 := in.str("image_b64", ""); b64 != "" {
		if _, err := base64.StdEncoding.DecodeString(b64); err != nil {
			return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidBase64,
				Message: "Invalid data for base64 input: /image_b64 is not valid base64"}
		}
	}
	width := int(in.integer("width", defaultImageSide))
	height := int(in.integer("height", defaultImageSide))
	body, contentType, err := e.image(ctx, in.str("prompt", ""), in.str("negative_prompt", ""), in.integer("seed", 0), width, height)
	if err != nil {
		return nil, err
	}
	return &Output{ContentType: contentType, Body: body}, nil
}

// runFlux answers {"image": base64 JPEG}, 1024 pixels square (the model takes no size).
func (e *entry) runFlux(ctx context.Context, in inputs) (*Output, error) {
	body, _, err := e.image(ctx, in.str("prompt", ""), "", in.integer("seed", 0), defaultImageSide, defaultImageSide)
	if err != nil {
		return nil, err
	}
	return jsonOutput(map[string]string{"image": base64.StdEncoding.EncodeToString(body)}), nil
}

// image draws (or finds in the cache) the stand-in picture for these inputs.
func (e *entry) image(ctx context.Context, prompt, negative string, seed int64, width, height int) ([]byte, string, error) {
	key := imageKey{seed: newImageSeed(e.info.Name, prompt, negative, seed), width: width, height: height}
	if img, ok := e.images.get(key); ok {
		return img.body, img.contentType, nil
	}
	body, contentType, err := generateImage(ctx, key.seed, width, height, e.format)
	if err != nil {
		return nil, "", err
	}
	e.images.put(key, cachedImage{body: body, contentType: contentType})
	return body, contentType, nil
}

func (e *entry) runEmbeddings(in inputs) *Output {
	texts := in.textsOf("text")
	data := make([][]float64, len(texts))
	for i, t := range texts {
		data[i] = embed(e.info.Name, t, e.dims)
	}
	return jsonOutput(embeddingResult{Shape: [2]int{len(texts), e.dims}, Data: data, Pooling: in.str("pooling", "")})
}
