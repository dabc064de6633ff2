package localcf

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

// maxMetadataBytes caps the metadata part (and other JSON parts); real metadata is a few KiB.
const maxMetadataBytes = 1 << 20

// maxUploadParts caps the parts of one multipart body, so a body of endless tiny parts cannot
// keep the server parsing; real uploads have a metadata part and a handful of modules.
const maxUploadParts = 64

// uploadedModule is one module part of a script upload.
type uploadedModule struct {
	Name        string
	PartName    string // the form name it came in; differs from Name for cloudflare-go's "files" parts
	filename    string // set when Name was switched from the filename to PartName
	ContentType string
	Type        string // workerd module type: esm, commonjs, text, data, wasm, json, sourcemap
	Data        []byte
}

// annotations are the version annotations an upload may carry.
type annotations struct {
	Message string `json:"workers/message,omitempty"`
	Tag     string `json:"workers/tag,omitempty"`
}

// uploadMetadata is the `metadata` part of a script or version upload (cloudflare-api.md §2.2),
// and also the `settings` part of a settings PATCH. Pointer and raw fields tell "absent" apart.
type uploadMetadata struct {
	MainModule         string            `json:"main_module"`
	BodyPart           string            `json:"body_part"`
	CompatibilityDate  *string           `json:"compatibility_date"`
	CompatibilityFlags []string          `json:"compatibility_flags"`
	Bindings           []json.RawMessage `json:"bindings"`
	KeepBindings       []string          `json:"keep_bindings"`
	Tags               []string          `json:"tags"`
	Annotations        *annotations      `json:"annotations"`
	UsageModel         string            `json:"usage_model"`
	Logpush            *bool             `json:"logpush"`
	Observability      json.RawMessage   `json:"observability"`
	Limits             json.RawMessage   `json:"limits"`
	Placement          json.RawMessage   `json:"placement"`
	TailConsumers      json.RawMessage   `json:"tail_consumers"`
}

// parsedUpload is a multipart script upload, parsed but not yet checked against state.
type parsedUpload struct {
	Meta    uploadMetadata
	Modules []uploadedModule
}

func (u *parsedUpload) module(name string) *uploadedModule {
	for i := range u.Modules {
		if u.Modules[i].Name == name {
			return &u.Modules[i]
		}
	}
	return nil
}

func (u *parsedUpload) totalBytes() int {
	n := 0
	for _, m := range u.Modules {
		n += len(m.Data)
	}
	return n
}

// parseMultipart reads every part of a multipart/form-data body. Module parts are named by
// their filename when they have one (cloudflare-go names parts files.0, files.1, ... and puts the
// module name in the filename), else by the part name (wrangler uses the same string for both).
// The part named jsonPart is returned separately as JSON, wherever it comes in the body and
// whether or not it has a filename: Node's FormData (Alchemy) sends it as filename="blob", which
// the real API accepts. Module bytes beyond maxModuleBytes fail with 10027 without reading the rest.
func parseMultipart(contentType string, body io.Reader, jsonPart string, maxModuleBytes int) (meta []byte, modules []uploadedModule, apiErr *apiError) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "multipart/form-data" || params["boundary"] == "" {
		return nil, nil, newAPIError(http.StatusBadRequest, codeUnsupportedType,
			"Content-Type must be multipart/form-data with a boundary, got %q", contentType)
	}
	reader := multipart.NewReader(body, params["boundary"])
	total := 0
	for parts := 0; ; parts++ {
		part, err := reader.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, newAPIError(http.StatusBadRequest, codeParseBody, "Could not parse the multipart body: %v", err)
		}
		if parts == maxUploadParts {
			return nil, nil, newAPIError(http.StatusBadRequest, codeParseBody, "The multipart body has more than %d parts", maxUploadParts)
		}
		name, filename := partNames(part)
		if name == jsonPart {
			if meta != nil {
				return nil, nil, newAPIError(http.StatusBadRequest, codeParseBody, "The multipart body has more than one %s part.", jsonPart)
			}
			data, err := readCapped(part, maxMetadataBytes)
			if err != nil {
				return nil, nil, newAPIError(http.StatusBadRequest, codeParseBody, "Could not read the %s part: %v", jsonPart, err)
			}
			meta = data
			continue
		}
		moduleName := filename
		if moduleName == "" {
			moduleName = name
		}
		data, err := readCapped(part, maxModuleBytes-total)
		if err != nil {
			if errors.Is(err, errTooLarge) {
				return nil, nil, errScriptTooLarge(maxModuleBytes)
			}
			return nil, nil, newAPIError(http.StatusBadRequest, codeParseBody, "Could not read part %q: %v", moduleName, err)
		}
		total += len(data)
		modules = append(modules, uploadedModule{Name: moduleName, PartName: name, ContentType: part.Header.Get("Content-Type"), Data: data})
	}
	return meta, modules, nil
}

func errScriptTooLarge(limit int) *apiError {
	return newAPIError(http.StatusBadRequest, codeScriptTooLarge,
		"Your Worker exceeded the size limit of %d bytes (sum of all uploaded modules).", limit)
}

// partNames returns the form name and the filename exactly as sent: multipart.Part.FileName
// strips directories, and module names may legitimately contain '/'.
func partNames(p *multipart.Part) (name, filename string) {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return p.FormName(), ""
	}
	return params["name"], params["filename"]
}

var errTooLarge = errors.New("part too large")

func readCapped(r io.Reader, limit int) ([]byte, error) {
	if limit < 0 {
		limit = 0
	}
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, errTooLarge
	}
	return data, nil
}

// parseUpload parses a script/version upload and checks what needs no state: the metadata, the
// main module and module types. Bindings and the compatibility date are checked by the caller.
// byPartName names modules by their part name (the strict reading, see Quirks).
func parseUpload(contentType string, body io.Reader, maxScriptBytes int, byPartName bool) (*parsedUpload, *apiError) {
	rawMeta, modules, apiErr := parseMultipart(contentType, body, "metadata", maxScriptBytes)
	if apiErr != nil {
		return nil, apiErr
	}
	if rawMeta == nil {
		return nil, newAPIError(http.StatusBadRequest, codeParseBody, "Missing the metadata part of the multipart upload.")
	}
	u := &parsedUpload{Modules: modules}
	if err := decodeStrict(rawMeta, &u.Meta); err != nil {
		return nil, newAPIError(http.StatusBadRequest, codeParseBody, "Could not parse the metadata part as JSON: %v", err)
	}
	if byPartName {
		u.nameModulesByPart()
	}
	if apiErr := u.checkModules(); apiErr != nil {
		return nil, apiErr
	}
	return u, nil
}

// decodeStrict decodes one JSON value and refuses trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

func (u *parsedUpload) checkModules() *apiError {
	m := u.Meta
	switch {
	case m.MainModule == "" && m.BodyPart == "":
		return errValidation("The metadata must name the entry point: main_module (ES modules) or body_part (service worker).")
	case m.MainModule != "" && m.BodyPart != "":
		return errValidation("The metadata names both main_module and body_part; use one.")
	case m.BodyPart != "":
		return errValidation("Service-worker syntax (body_part) is not supported by the local Cloudflare; upload an ES module worker with main_module.")
	}
	if part := u.partWithFilename(m.MainModule); part != "" && u.module(m.MainModule) == nil {
		return errValidation("No part is named %q: main_module must name the form part (part name = filename = module name); the file %q came in a part named %q.",
			m.MainModule, m.MainModule, part)
	}
	seen := map[string]bool{}
	for i := range u.Modules {
		mod := &u.Modules[i]
		if seen[mod.Name] {
			return errValidation("Two parts upload the module %q.", mod.Name)
		}
		seen[mod.Name] = true
		t, err := moduleType(mod.ContentType, mod.Name, mod.Name == m.MainModule)
		if err != nil {
			return err
		}
		mod.Type = t
	}
	main := u.module(m.MainModule)
	if main == nil {
		return errValidation("No such module %q: main_module must name an uploaded part (uploaded: %s).", m.MainModule, strings.Join(u.moduleNames(), ", "))
	}
	if main.Type != "esm" && main.Type != "commonjs" {
		return errValidation("The main module %q has content type %q; it must be JavaScript (application/javascript+module).", main.Name, main.ContentType)
	}
	return nil
}

// nameModulesByPart applies the strict reading of module naming: a module is the part's form
// name, whatever its filename says (Quirks.MainModuleByFilename is the other reading).
func (u *parsedUpload) nameModulesByPart() {
	for i := range u.Modules {
		m := &u.Modules[i]
		if m.Name != m.PartName {
			m.filename, m.Name = m.Name, m.PartName
		}
	}
}

// partWithFilename is the form name of the part whose filename (but not part name) is name, for
// an error that says why a main module was not found; "" when there is none.
func (u *parsedUpload) partWithFilename(name string) string {
	for _, m := range u.Modules {
		if m.filename == name {
			return m.PartName
		}
	}
	return ""
}

func (u *parsedUpload) moduleNames() []string {
	names := make([]string, len(u.Modules))
	for i, m := range u.Modules {
		names[i] = m.Name
	}
	sort.Strings(names)
	return names
}

// moduleType maps a part's content type (wrangler-wire.md's MIME table) to a workerd module type.
// A main module sent without a JavaScript type (octet-stream is the SDK's default) counts as an
// ES module when its name says JavaScript.
func moduleType(contentType, name string, isMain bool) (string, *apiError) {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/javascript+module", "text/javascript+module":
		return "esm", nil
	case "application/javascript", "text/javascript":
		return "commonjs", nil
	case "application/wasm":
		return "wasm", nil
	case "text/plain":
		if isMain && isJSName(name) {
			return "esm", nil
		}
		return "text", nil
	case "application/json":
		return "json", nil
	case "application/source-map":
		return "sourcemap", nil
	case "text/x-python", "text/x-python-requirement":
		return "", errValidation("Python module %q is not supported by the local Cloudflare.", name)
	case "application/octet-stream", "":
		if isJSName(name) || isMain {
			return "esm", nil
		}
		if strings.HasSuffix(name, ".map") {
			return "sourcemap", nil
		}
		return "data", nil
	}
	return "", newAPIError(http.StatusBadRequest, codeUnsupportedType, "Unsupported content type %q for module %q.", contentType, name)
}

func isJSName(name string) bool {
	switch path.Ext(name) {
	case ".js", ".mjs":
		return true
	}
	return false
}

// newestCompatDate is the last date the pinned workerd binary supports (workerd 2026-11-17).
const newestCompatDate = "2026-11-17"

// fallbackCompatDate is what Cloudflare uses when an upload names no compatibility date.
const fallbackCompatDate = "2021-11-02"

// checkCompatDate applies Cloudflare's and workerd's rules: YYYY-MM-DD, not in the future (UTC),
// not newer than the runtime.
func checkCompatDate(date string, now time.Time) *apiError {
	if date == "" {
		return nil
	}
	d, err := time.Parse("2006-01-02", date)
	if err != nil || len(date) != 10 {
		return errValidation("compatibility_date %q is not a date in YYYY-MM-DD form.", date)
	}
	today := now.UTC().Format("2006-01-02")
	if date > today {
		return errValidation("compatibility_date %s is in the future (today is %s UTC); use a date no later than today.", date, today)
	}
	if date > newestCompatDate {
		return errValidation("compatibility_date %s is later than the newest date this runtime supports (%s); use %s or earlier.", date, newestCompatDate, newestCompatDate)
	}
	if d.Year() < 2009 {
		return errValidation("compatibility_date %s is before the first Workers release.", date)
	}
	return nil
}
