package ai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// kind is the JSON shape a field accepts.
type kind int

const (
	kindString          kind = iota
	kindInteger              // a JSON number with no fractional part
	kindNumber               // any JSON number
	kindBool                 // true or false
	kindBytes                // array of numbers 0..255
	kindBytesOrString        // array of numbers 0..255, or a (base64) string
	kindStringOrStrings      // a string or an array of strings
	kindMessages             // array of {role, content} objects
	kindArray                // any array (tools, functions): accepted as is
	kindObject               // any object (response_format, guided_json): accepted as is
)

// field describes one input property. For strings min/max bound the length,
// for arrays the item count, for numbers the value.
type field struct {
	name     string
	kind     kind
	required bool
	min, max *float64
	enum     []string
}

// schema is the input contract of one model.
type schema struct {
	fields []field
	// exactlyOne lists properties of which exactly one must be present
	// (text generation: prompt or messages).
	exactlyOne []string
	// binaryBody names the bytes field a body that is not a JSON object fills: the catalog
	// documents Whisper's input as either {"audio": [...]} or the audio itself, which is what
	// `curl --data-binary @talk.mp3` sends over REST. A bare JSON array of byte values (what
	// the workerd shim sends for env.AI.run(model, uint8Array)) counts as the bytes too.
	binaryBody string
}

func bound(v float64) *float64 { return &v }

// message is one chat turn of a text-generation request.
type message struct {
	Role    string
	Content string
}

// inputs holds validated, decoded input values by property name.
type inputs map[string]any

func (in inputs) str(name, def string) string {
	if v, ok := in[name].(string); ok {
		return v
	}
	return def
}

func (in inputs) integer(name string, def int64) int64 {
	if v, ok := in[name].(int64); ok {
		return v
	}
	return def
}

func (in inputs) number(name string, def float64) float64 {
	if v, ok := in[name].(float64); ok {
		return v
	}
	return def
}

func (in inputs) boolean(name string, def bool) bool {
	if v, ok := in[name].(bool); ok {
		return v
	}
	return def
}

func (in inputs) bytes(name string) []byte {
	v, _ := in[name].([]byte)
	return v
}

func (in inputs) strings(name string) []string {
	v, _ := in[name].([]string)
	return v
}

func (in inputs) messages() []message {
	v, _ := in["messages"].([]message)
	return v
}

// validate parses body as a JSON object and checks it against s, returning
// the decoded values or an *Error with the first problem found.
func (s *schema) validate(body []byte) (inputs, *Error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeMissingBody, Message: "Request is missing headers or body"}
	}
	if values, ok, err := s.validateBinary(body); ok {
		return values, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		var probe any
		if json.Unmarshal(body, &probe) == nil {
			return nil, invalidInput("must be object")
		}
		return nil, invalidInput("request body is not valid JSON: " + err.Error())
	}
	if raw == nil { // the body was the literal null
		return nil, invalidInput("must be object")
	}
	if err := s.checkExactlyOne(raw); err != nil {
		return nil, err
	}
	values := inputs{}
	for _, f := range s.fields {
		value, present := raw[f.name]
		if !present {
			if f.required {
				return nil, invalidInput(fmt.Sprintf("must have required property '%s'", f.name))
			}
			continue
		}
		decoded, problem := f.decode(value)
		if problem != "" {
			return nil, invalidInput("/" + f.name + problem)
		}
		values[f.name] = decoded
	}
	return values, nil
}

// validateBinary handles a binary body for a schema with binaryBody; ok is false when the
// body is a JSON object (or the schema takes no binary body) and validate should go on.
func (s *schema) validateBinary(body []byte) (values inputs, ok bool, err *Error) {
	if s.binaryBody == "" {
		return nil, false, nil
	}
	isJSON := json.Valid(body)
	switch kind := jsonType(body); {
	case kind == "object":
		return nil, false, nil
	case kind == "array" && isJSON:
		f := s.field(s.binaryBody)
		decoded, problem := f.decode(body)
		if problem != "" {
			return nil, true, invalidInput("/" + f.name + problem)
		}
		return inputs{f.name: decoded}, true, nil
	}
	if isJSON {
		return nil, false, nil // a JSON scalar: validate reports "must be object"
	}
	return inputs{s.binaryBody: append([]byte(nil), body...)}, true, nil
}

// field returns the field named name; the schemas are fixed, so a missing name is a bug.
func (s *schema) field(name string) *field {
	for i := range s.fields {
		if s.fields[i].name == name {
			return &s.fields[i]
		}
	}
	panic("ai: schema has no field " + name)
}

func (s *schema) checkExactlyOne(raw map[string]json.RawMessage) *Error {
	if len(s.exactlyOne) == 0 {
		return nil
	}
	var present []string
	for _, name := range s.exactlyOne {
		if _, ok := raw[name]; ok {
			present = append(present, name)
		}
	}
	switch len(present) {
	case 1:
		return nil
	case 0:
		quoted := make([]string, len(s.exactlyOne))
		for i, name := range s.exactlyOne {
			quoted[i] = "'" + name + "'"
		}
		return invalidInput("must have required property " + strings.Join(quoted, " or "))
	default:
		return invalidInput(fmt.Sprintf("must match exactly one schema in oneOf: send only one of %s",
			strings.Join(present, ", ")))
	}
}

// decode checks one raw value; a non-empty problem is the message suffix
// after the field's JSON pointer (" must be string", "/3 must be <= 255").
func (f *field) decode(raw json.RawMessage) (any, string) {
	switch f.kind {
	case kindString:
		return f.decodeString(raw)
	case kindInteger:
		return f.decodeInteger(raw)
	case kindNumber:
		return f.decodeNumber(raw)
	case kindBool:
		var b bool
		if jsonType(raw) != "boolean" || json.Unmarshal(raw, &b) != nil {
			return nil, " must be boolean"
		}
		return b, ""
	case kindBytes:
		return f.decodeBytes(raw)
	case kindBytesOrString:
		if jsonType(raw) == "string" {
			return f.decodeString(raw)
		}
		return f.decodeBytes(raw)
	case kindStringOrStrings:
		return f.decodeStringOrStrings(raw)
	case kindMessages:
		return f.decodeMessages(raw)
	case kindArray:
		if jsonType(raw) != "array" {
			return nil, " must be array"
		}
		return raw, ""
	case kindObject:
		if jsonType(raw) != "object" {
			return nil, " must be object"
		}
		return raw, ""
	}
	return nil, " has an unsupported schema"
}

func (f *field) decodeString(raw json.RawMessage) (any, string) {
	var s string
	if jsonType(raw) != "string" || json.Unmarshal(raw, &s) != nil {
		return nil, " must be string"
	}
	if problem := checkLength(len([]rune(s)), f.min, f.max, "characters"); problem != "" {
		return nil, problem
	}
	if len(f.enum) > 0 && !contains(f.enum, s) {
		return nil, " must be equal to one of the allowed values: " + strings.Join(f.enum, ", ")
	}
	return s, ""
}

func (f *field) decodeInteger(raw json.RawMessage) (any, string) {
	v, ok := parseNumber(raw)
	if !ok {
		return nil, " must be integer"
	}
	if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
		return nil, " must be integer"
	}
	if problem := checkRange(v, f.min, f.max); problem != "" {
		return nil, problem
	}
	// Prefer an exact parse so large seeds keep every digit.
	if i, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64); err == nil {
		return i, ""
	}
	return int64(v), ""
}

func (f *field) decodeNumber(raw json.RawMessage) (any, string) {
	v, ok := parseNumber(raw)
	if !ok {
		return nil, " must be number"
	}
	if problem := checkRange(v, f.min, f.max); problem != "" {
		return nil, problem
	}
	return v, ""
}

func (f *field) decodeBytes(raw json.RawMessage) (any, string) {
	if jsonType(raw) != "array" {
		return nil, " must be array"
	}
	var numbers []float64
	// encoding/json turns a null item into 0 without complaint, so arrays
	// that mention null take the slow path that reports the item.
	if bytes.Contains(raw, []byte("null")) || json.Unmarshal(raw, &numbers) != nil {
		return nil, firstNonNumber(raw)
	}
	if problem := checkLength(len(numbers), f.min, f.max, "items"); problem != "" {
		return nil, problem
	}
	out := make([]byte, len(numbers))
	for i, n := range numbers {
		if n < 0 {
			return nil, fmt.Sprintf("/%d must be >= 0", i)
		}
		if n > 255 {
			return nil, fmt.Sprintf("/%d must be <= 255", i)
		}
		out[i] = byte(n)
	}
	return out, ""
}

// firstNonNumber finds the index of the first array item that is not a
// number, for the error message; it only runs on the failure path.
func firstNonNumber(raw json.RawMessage) string {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return " must be array"
	}
	for i, item := range items {
		if jsonType(item) != "number" {
			return fmt.Sprintf("/%d must be number", i)
		}
	}
	return " must be array of numbers"
}

func (f *field) decodeStringOrStrings(raw json.RawMessage) (any, string) {
	switch jsonType(raw) {
	case "string":
		s, problem := f.decodeString(raw)
		if problem != "" {
			return nil, problem
		}
		return []string{s.(string)}, ""
	case "array":
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, " must be string or array of strings"
		}
		if len(items) == 0 {
			return nil, " must NOT have fewer than 1 items"
		}
		out := make([]string, len(items))
		for i, item := range items {
			s, problem := f.decodeString(item)
			if problem != "" {
				return nil, fmt.Sprintf("/%d%s", i, problem)
			}
			out[i] = s.(string)
		}
		return out, ""
	}
	return nil, " must be string or array of strings"
}

func (f *field) decodeMessages(raw json.RawMessage) (any, string) {
	var items []json.RawMessage
	if jsonType(raw) != "array" || json.Unmarshal(raw, &items) != nil {
		return nil, " must be array"
	}
	if len(items) == 0 {
		return nil, " must NOT have fewer than 1 items"
	}
	out := make([]message, len(items))
	for i, item := range items {
		m, problem := decodeMessage(item)
		if problem != "" {
			return nil, fmt.Sprintf("/%d%s", i, problem)
		}
		out[i] = m
	}
	return out, ""
}

func decodeMessage(raw json.RawMessage) (message, string) {
	var obj map[string]json.RawMessage
	if jsonType(raw) != "object" || json.Unmarshal(raw, &obj) != nil {
		return message{}, " must be object"
	}
	for _, name := range []string{"role", "content"} {
		if _, ok := obj[name]; !ok {
			return message{}, fmt.Sprintf(" must have required property '%s'", name)
		}
	}
	var m message
	if jsonType(obj["role"]) != "string" || json.Unmarshal(obj["role"], &m.Role) != nil {
		return message{}, "/role must be string"
	}
	content := obj["content"]
	switch jsonType(content) {
	case "string":
		if err := json.Unmarshal(content, &m.Content); err != nil {
			return message{}, "/content must be string"
		}
	case "array":
		// Multi-part content (text parts and images) is accepted; only the
		// text parts matter to the stand-in.
		m.Content = textParts(content)
	default:
		return message{}, "/content must be string"
	}
	return m, ""
}

// textParts joins the "text" members of a multi-part message content array.
func textParts(raw json.RawMessage) string {
	var parts []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts) // non-object parts simply carry no text
	var texts []string
	for _, p := range parts {
		if p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, " ")
}

func checkRange(v float64, min, max *float64) string {
	if min != nil && v < *min {
		return " must be >= " + formatBound(*min)
	}
	if max != nil && v > *max {
		return " must be <= " + formatBound(*max)
	}
	return ""
}

func checkLength(n int, min, max *float64, unit string) string {
	if min != nil && float64(n) < *min {
		return fmt.Sprintf(" must NOT have fewer than %s %s", formatBound(*min), unit)
	}
	if max != nil && float64(n) > *max {
		return fmt.Sprintf(" must NOT have more than %s %s", formatBound(*max), unit)
	}
	return ""
}

func formatBound(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func parseNumber(raw json.RawMessage) (float64, bool) {
	if jsonType(raw) != "number" {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
	return v, err == nil
}

// jsonType names the JSON type of a syntactically valid value by its first byte.
func jsonType(raw json.RawMessage) string {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return ""
	}
	switch trimmed[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func contains(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}
