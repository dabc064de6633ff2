package ai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// node is one JSON Schema, in the subset the Workers AI model catalog writes its input and
// output schemas in (docs src/content/workers-ai-models/*.json; GET ai/models/schema). The
// validator below applies exactly the keywords a node states and nothing else, so a model's
// inputs are refused here when, and only when, its published schema refuses them. The same
// nodes are served by Service.Schema, so what is enforced and what is published never differ.
type node struct {
	title       string
	types       []string // JSON types ("integer" is a number without a fraction); none = any
	format      string   // "binary": a string that may also be sent as the raw request body
	contentType string   // output schemas: the Content-Type of the answer
	props       []prop   // properties, in the catalog's order
	required    []string
	noExtra     bool  // additionalProperties: false
	extra       *node // additionalProperties as a schema
	items       *node
	minItems    *int
	maxItems    *int
	minLength   *int
	maxLength   *int
	minimum     *float64
	maximum     *float64
	enum        []string
	def         any // default, only published
	oneOf       []*node
	anyOf       []*node
}

type prop struct {
	name   string
	schema *node
}

func (n *node) prop(name string) *node {
	for _, p := range n.props {
		if p.name == name {
			return p.schema
		}
	}
	return nil
}

// acceptsBinary reports whether the schema lets the whole input be raw bytes (a top-level
// {"type":"string","format":"binary"} branch), as Whisper's and LLaVA's do.
func (n *node) acceptsBinary() bool {
	if n.format == "binary" && slices.Contains(n.types, "string") {
		return true
	}
	for _, b := range append(slices.Clone(n.oneOf), n.anyOf...) {
		if b.acceptsBinary() {
			return true
		}
	}
	return false
}

// schemaError is the first problem found in an input: where (a JSON pointer, "" for the
// whole input) and what, worded like the validator Workers AI's messages come from
// ("/width must be >= 256", "must have required property 'prompt'").
type schemaError struct {
	path string
	kind errKind
	msg  string
	// names lets errors of several failed branches merge into one message: the missing
	// properties, the allowed values or the accepted types.
	names []string
}

type errKind int

const (
	errOther errKind = iota
	errType
	errRequired
	errEnum
)

func (e *schemaError) Error() string {
	if e.path == "" {
		return e.msg
	}
	return e.path + " " + e.msg
}

// validate checks the JSON value raw (syntactically valid) against n.
func (n *node) validate(raw json.RawMessage, path string) *schemaError {
	jt := jsonType(raw)
	if len(n.types) > 0 && !typeMatches(n.types, jt, raw) {
		return typeError(path, n.types)
	}
	var err *schemaError
	switch jt {
	case "string":
		err = n.validateString(raw, path)
	case "number":
		err = n.validateNumber(raw, path)
	case "array":
		err = n.validateArray(raw, path)
	case "object":
		err = n.validateObject(raw, path)
	}
	if err != nil {
		return err
	}
	if len(n.oneOf) > 0 {
		if err := validateOneOf(n.oneOf, raw, path); err != nil {
			return err
		}
	}
	if len(n.anyOf) > 0 {
		if err := validateAnyOf(n.anyOf, raw, path); err != nil {
			return err
		}
	}
	return nil
}

func typeMatches(types []string, jt string, raw json.RawMessage) bool {
	for _, t := range types {
		switch {
		case t == jt:
			return true
		case t == "integer" && jt == "number":
			if v, ok := parseNumber(raw); ok && v == math.Trunc(v) {
				return true
			}
		}
	}
	return false
}

func typeError(path string, types []string) *schemaError {
	return &schemaError{path: path, kind: errType, msg: "must be " + strings.Join(types, " or "), names: types}
}

func (n *node) validateString(raw json.RawMessage, path string) *schemaError {
	if n.minLength == nil && n.maxLength == nil && len(n.enum) == 0 {
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return &schemaError{path: path, msg: "must be string"}
	}
	length := utf8.RuneCountInString(s)
	if n.minLength != nil && length < *n.minLength {
		return &schemaError{path: path, msg: fmt.Sprintf("must NOT have fewer than %d characters", *n.minLength)}
	}
	if n.maxLength != nil && length > *n.maxLength {
		return &schemaError{path: path, msg: fmt.Sprintf("must NOT have more than %d characters", *n.maxLength)}
	}
	if len(n.enum) > 0 && !slices.Contains(n.enum, s) {
		return enumError(path, n.enum)
	}
	return nil
}

func enumError(path string, values []string) *schemaError {
	return &schemaError{path: path, kind: errEnum, names: values,
		msg: "must be equal to one of the allowed values: " + strings.Join(values, ", ")}
}

func (n *node) validateNumber(raw json.RawMessage, path string) *schemaError {
	if n.minimum == nil && n.maximum == nil {
		return nil
	}
	v, ok := parseNumber(raw)
	if !ok {
		return &schemaError{path: path, kind: errType, msg: "must be number", names: []string{"number"}}
	}
	return checkRange(path, v, n.minimum, n.maximum)
}

func checkRange(path string, v float64, min, max *float64) *schemaError {
	if min != nil && v < *min {
		return &schemaError{path: path, msg: "must be >= " + formatBound(*min)}
	}
	if max != nil && v > *max {
		return &schemaError{path: path, msg: "must be <= " + formatBound(*max)}
	}
	return nil
}

func (n *node) validateArray(raw json.RawMessage, path string) *schemaError {
	if n.items == nil && n.minItems == nil && n.maxItems == nil {
		return nil
	}
	if n.items.isPlainNumber() {
		// Byte arrays (images, audio) run to millions of items: count them without decoding.
		if count, ok := numberArrayLen(raw); ok {
			return n.checkCount(path, count)
		}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return &schemaError{path: path, kind: errType, msg: "must be array", names: []string{"array"}}
	}
	if err := n.checkCount(path, len(items)); err != nil {
		return err
	}
	if n.items == nil {
		return nil
	}
	for i, item := range items {
		if err := n.items.validate(item, path+"/"+strconv.Itoa(i)); err != nil {
			return err
		}
	}
	return nil
}

func (n *node) checkCount(path string, count int) *schemaError {
	if n.minItems != nil && count < *n.minItems {
		return &schemaError{path: path, msg: fmt.Sprintf("must NOT have fewer than %d items", *n.minItems)}
	}
	if n.maxItems != nil && count > *n.maxItems {
		return &schemaError{path: path, msg: fmt.Sprintf("must NOT have more than %d items", *n.maxItems)}
	}
	return nil
}

// isPlainNumber is {"type":"number"} with no bounds: the item schema of byte arrays.
func (n *node) isPlainNumber() bool {
	return n != nil && slices.Equal(n.types, []string{"number"}) && n.minimum == nil && n.maximum == nil &&
		len(n.oneOf) == 0 && len(n.anyOf) == 0
}

// numberArrayLen counts the items of a (syntactically valid) JSON array when every item is a
// number, which shows in its characters alone: no quote, brace, bracket or letter of true,
// false and null inside. ok is false otherwise.
func numberArrayLen(raw json.RawMessage) (int, bool) {
	inner := bytes.TrimSpace(raw)
	if len(inner) < 2 || inner[0] != '[' || inner[len(inner)-1] != ']' {
		return 0, false
	}
	inner = inner[1 : len(inner)-1]
	count, empty := 1, true
	for _, c := range inner {
		switch {
		case c == ',':
			count++
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			empty = false
		case c == ' ', c == '\t', c == '\n', c == '\r':
		default:
			return 0, false
		}
	}
	if empty {
		return 0, true
	}
	return count, true
}

// decodeNumbers decodes an array of JSON numbers; ok is false when any item is not a number
// (encoding/json would turn null into 0, so arrays that mention null take the slow path).
func decodeNumbers(raw json.RawMessage) ([]float64, bool) {
	if bytes.Contains(raw, []byte("null")) {
		return nil, false
	}
	var numbers []float64
	if err := json.Unmarshal(raw, &numbers); err != nil {
		return nil, false
	}
	return numbers, true
}

func (n *node) validateObject(raw json.RawMessage, path string) *schemaError {
	if len(n.required) == 0 && len(n.props) == 0 && !n.noExtra && n.extra == nil {
		return nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return &schemaError{path: path, kind: errType, msg: "must be object", names: []string{"object"}}
	}
	for _, name := range n.required {
		if _, ok := members[name]; !ok {
			return &schemaError{path: path, kind: errRequired, names: []string{name},
				msg: fmt.Sprintf("must have required property '%s'", name)}
		}
	}
	for _, p := range n.props {
		if value, ok := members[p.name]; ok {
			if err := p.schema.validate(value, path+"/"+p.name); err != nil {
				return err
			}
		}
	}
	if !n.noExtra && n.extra == nil {
		return nil
	}
	names := make([]string, 0, len(members))
	for name := range members {
		if n.prop(name) == nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if n.noExtra {
			return &schemaError{path: path, msg: fmt.Sprintf("must NOT have additional property '%s'", name)}
		}
		if err := n.extra.validate(members[name], path+"/"+name); err != nil {
			return err
		}
	}
	return nil
}

func validateOneOf(branches []*node, raw json.RawMessage, path string) *schemaError {
	var matched []*node
	errs := make([]*schemaError, len(branches))
	for i, b := range branches {
		if errs[i] = b.validate(raw, path); errs[i] == nil {
			matched = append(matched, b)
		}
	}
	switch len(matched) {
	case 1:
		return nil
	case 0:
		return bestBranchError(branches, errs, raw, path)
	}
	msg := "must match exactly one schema in oneOf"
	if sent := presentRequired(matched, raw); len(sent) > 1 {
		msg += ": send only one of " + strings.Join(sent, ", ")
	}
	return &schemaError{path: path, msg: msg}
}

func validateAnyOf(branches []*node, raw json.RawMessage, path string) *schemaError {
	errs := make([]*schemaError, len(branches))
	for i, b := range branches {
		if errs[i] = b.validate(raw, path); errs[i] == nil {
			return nil
		}
	}
	return bestBranchError(branches, errs, raw, path)
}

// presentRequired lists, for branches that all matched an object, the required properties
// it holds: "prompt, messages" says what to drop.
func presentRequired(branches []*node, raw json.RawMessage) []string {
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil {
		return nil
	}
	var out []string
	for _, b := range branches {
		for _, name := range b.required {
			if _, ok := members[name]; ok && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// bestBranchError picks the error to report when no branch of a oneOf or anyOf accepts the
// value: the branch the value was evidently meant for (right type, its required properties
// present, its single-valued enum properties such as role or type matching), else the error
// that got deepest into the value. Errors of the same kind at the same place merge
// ("must have required property 'prompt' or 'messages'").
func bestBranchError(branches []*node, errs []*schemaError, raw json.RawMessage, path string) *schemaError {
	jt := jsonType(raw)
	var members map[string]json.RawMessage
	if jt == "object" {
		_ = json.Unmarshal(raw, &members)
	}
	candidates := make([]int, 0, len(branches))
	for i, b := range branches {
		if len(b.types) == 0 || typeMatches(b.types, jt, raw) {
			candidates = append(candidates, i)
		}
	}
	if len(candidates) == 0 {
		var types []string
		for _, b := range branches {
			for _, t := range b.types {
				if !slices.Contains(types, t) {
					types = append(types, t)
				}
			}
		}
		return typeError(path, types)
	}
	if members != nil {
		if err := unknownDiscriminator(branches, candidates, members, path); err != nil {
			return err
		}
		candidates = narrow(candidates, func(i int) bool { return discriminatorMatches(branches[i], members) })
		candidates = narrow(candidates, func(i int) bool { return hasAll(members, branches[i].required) })
	}
	chosen := make([]*schemaError, len(candidates))
	for k, i := range candidates {
		chosen[k] = errs[i]
	}
	if merged := mergeErrors(chosen); merged != nil {
		return merged
	}
	best := chosen[0]
	for _, e := range chosen[1:] {
		if depth(e.path) > depth(best.path) {
			best = e
		}
	}
	return best
}

// narrow keeps the candidates that pass keep, unless none does.
func narrow(candidates []int, keep func(int) bool) []int {
	var kept []int
	for _, i := range candidates {
		if keep(i) {
			kept = append(kept, i)
		}
	}
	if len(kept) == 0 {
		return candidates
	}
	return kept
}

func hasAll(members map[string]json.RawMessage, names []string) bool {
	for _, name := range names {
		if _, ok := members[name]; !ok {
			return false
		}
	}
	return true
}

// discriminatorMatches: every property the branch pins to one value (role: "user",
// type: "image_url") that the object has, has that value; and the branch pins at least one.
func discriminatorMatches(b *node, members map[string]json.RawMessage) bool {
	pinned := false
	for _, p := range b.props {
		if len(p.schema.enum) != 1 {
			continue
		}
		value, ok := members[p.name]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(value, &s) != nil || s != p.schema.enum[0] {
			return false
		}
		pinned = true
	}
	return pinned
}

// unknownDiscriminator: when every candidate pins one property to a single value (role,
// type) and the object's value of it is none of them, that property is what is wrong.
func unknownDiscriminator(branches []*node, candidates []int, members map[string]json.RawMessage, path string) *schemaError {
	first := branches[candidates[0]]
	for _, p := range first.props {
		if len(p.schema.enum) != 1 {
			continue
		}
		raw, ok := members[p.name]
		var value string
		if !ok || json.Unmarshal(raw, &value) != nil {
			continue
		}
		var allowed []string
		for _, i := range candidates {
			pinned := branches[i].prop(p.name)
			if pinned == nil || len(pinned.enum) != 1 {
				allowed = nil
				break
			}
			allowed = append(allowed, pinned.enum[0])
		}
		if allowed != nil && !slices.Contains(allowed, value) {
			return enumError(path+"/"+p.name, allowed)
		}
	}
	return nil
}

// mergeErrors joins errors that are all of one mergeable kind at one place; nil otherwise.
func mergeErrors(errs []*schemaError) *schemaError {
	first := errs[0]
	if len(errs) == 1 || first.kind == errOther {
		return nil
	}
	var names []string
	for _, e := range errs {
		if e.kind != first.kind || e.path != first.path {
			return nil
		}
		for _, name := range e.names {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	switch first.kind {
	case errRequired:
		quoted := make([]string, len(names))
		for i, name := range names {
			quoted[i] = "'" + name + "'"
		}
		return &schemaError{path: first.path, kind: errRequired, names: names,
			msg: "must have required property " + strings.Join(quoted, " or ")}
	case errEnum:
		return enumError(first.path, names)
	default:
		return typeError(first.path, names)
	}
}

func depth(path string) int { return strings.Count(path, "/") }

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
