package provision

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"strings"
)

// flareform writes its multipart bodies itself instead of using cloudflare-go's form encoder.
// The SDK sends every module as a part named `files` and names the module only in the
// filename; whether the real API matches main_module against the part name or the filename is
// unconfirmed. wrangler and Cloudflare's Terraform provider send part name = filename = module
// name, which is accepted whichever way the API matches, so that is what is sent here.

const (
	contentTypeESModule  = "application/javascript+module"
	contentTypeSourceMap = "application/source-map"
)

// scriptMetadata is the `metadata` part of a script upload.
type scriptMetadata struct {
	MainModule         string             `json:"main_module"`
	CompatibilityDate  string             `json:"compatibility_date"`
	CompatibilityFlags []string           `json:"compatibility_flags,omitempty"`
	Bindings           []metadataBinding  `json:"bindings"`
	KeepBindings       []string           `json:"keep_bindings"`
	Tags               []string           `json:"tags"`
	Annotations        versionAnnotations `json:"annotations"`
}

// scriptSettings is the `settings` part of a settings PATCH (a new version, deployed at once).
type scriptSettings struct {
	Bindings    []metadataBinding  `json:"bindings"`
	Tags        []string           `json:"tags"`
	Annotations versionAnnotations `json:"annotations"`
}

// versionAnnotations describe the version an upload or settings change creates.
type versionAnnotations struct {
	Message string `json:"workers/message,omitempty"`
}

// metadataBinding is one binding in upload metadata or settings: ai, plain_text, secret_text,
// ratelimit, vectorize or inherit. Text is a pointer so that an empty var is still sent as "text":"".
type metadataBinding struct {
	Type      string  `json:"type"`
	Name      string  `json:"name"`
	Text      *string `json:"text,omitempty"`
	VersionID string  `json:"version_id,omitempty"` // inherit: copy from this version, not the latest
	// ratelimit: the counter's namespace (a positive integer as a string) and its limit.
	NamespaceID string           `json:"namespace_id,omitempty"`
	Simple      *rateLimitSimple `json:"simple,omitempty"`
	IndexName   string           `json:"index_name,omitempty"` // vectorize: the bound index
}

// rateLimitSimple is a ratelimit binding's `simple` limit: Limit requests per Period seconds.
type rateLimitSimple struct {
	Limit  int `json:"limit"`
	Period int `json:"period"`
}

func rateLimitBinding(name, namespaceID string, limit, period int) metadataBinding {
	return metadataBinding{Type: "ratelimit", Name: name, NamespaceID: namespaceID, Simple: &rateLimitSimple{Limit: limit, Period: period}}
}

func vectorizeBinding(name, index string) metadataBinding {
	return metadataBinding{Type: "vectorize", Name: name, IndexName: index}
}

func aiBinding(name string) metadataBinding { return metadataBinding{Type: "ai", Name: name} }

func plainTextBinding(name, text string) metadataBinding {
	return metadataBinding{Type: "plain_text", Name: name, Text: &text}
}

func secretTextBinding(name, text string) metadataBinding {
	return metadataBinding{Type: "secret_text", Name: name, Text: &text}
}

func inheritBinding(name string) metadataBinding { return metadataBinding{Type: "inherit", Name: name} }

// modulePart is one uploaded module: part name and filename are both its name.
type modulePart struct {
	name, contentType string
	content           []byte
}

// encodeMultipart writes a multipart/form-data body: the JSON part jsonName (no filename,
// application/json), then one part per module. It returns bytes, not a stream, so the retry
// middleware can send the whole body again.
func encodeMultipart(jsonName string, jsonValue any, modules []modulePart) (body []byte, contentType string, err error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	js, err := json.Marshal(jsonValue)
	if err != nil {
		return nil, "", fmt.Errorf("encode %s part: %w", jsonName, err)
	}
	if err := writePart(w, jsonName, "", "application/json", js); err != nil {
		return nil, "", err
	}
	for _, m := range modules {
		if err := writePart(w, m.name, m.name, m.contentType, m.content); err != nil {
			return nil, "", err
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", fmt.Errorf("close multipart body: %w", err)
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

// dispositionEscaper quotes a name the way mime/multipart does for its own form fields.
var dispositionEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func writePart(w *multipart.Writer, name, filename, contentType string, content []byte) error {
	disposition := fmt.Sprintf(`form-data; name="%s"`, dispositionEscaper.Replace(name))
	if filename != "" {
		disposition += fmt.Sprintf(`; filename="%s"`, dispositionEscaper.Replace(filename))
	}
	header := textproto.MIMEHeader{}
	header.Set("Content-Disposition", disposition)
	header.Set("Content-Type", contentType)
	part, err := w.CreatePart(header)
	if err != nil {
		return fmt.Errorf("write part %s: %w", name, err)
	}
	if _, err := part.Write(content); err != nil {
		return fmt.Errorf("write part %s: %w", name, err)
	}
	return nil
}
