package cfapi

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

// Content types of uploaded modules.
const (
	ContentTypeESModule  = "application/javascript+module"
	ContentTypeSourceMap = "application/source-map"
)

// Module is one uploaded module: part name and filename are both its Name.
type Module struct {
	Name, ContentType string
	Content           []byte
}

// EncodeMultipart writes a multipart/form-data body: the JSON part jsonName (no filename,
// application/json), then one part per module. It returns bytes, not a stream, so the retry
// middleware can send the whole body again (Script.Upload, Script.EditSettings).
func EncodeMultipart(jsonName string, jsonValue any, modules []Module) (body []byte, contentType string, err error) {
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
		if err := writePart(w, m.Name, m.Name, m.ContentType, m.Content); err != nil {
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
