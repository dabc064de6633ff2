package spec

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// kind is what a spec key accepts.
type kind int

const (
	kindString kind = iota
	kindBool
	kindInt
	kindStringList
	kindBlock // a mapping with a fixed set of keys (field.block)
	kindMapOf // a mapping with free-form keys, each value shaped like field.elem
	kindData  // any YAML mapping, taken as data (smoke.body); not expanded
)

// field describes one key of a block.
type field struct {
	kind  kind
	block schema // kindBlock
	elem  *field // kindMapOf
	// example is shown in fixes, e.g. `"2025-06-01"`.
	example string
	// required keys must be written (the loader refuses the spec without them).
	required bool
	// relative makes a block's keys report paths relative to the block ("vars.X" rather than
	// "workers.image-api.vars.X"), matching the keys of Worker.Pos.
	relative bool
	// keys is the pattern of binding names a kindMapOf's keys follow (at most
	// MaxBindingNameLen long) and maxKeys how many it may hold (0: no limit), for the JSON
	// Schema: the loader checks them itself, with messages of its own.
	keys    string
	maxKeys int
}

// schema is the set of keys a block accepts.
type schema map[string]field

var (
	rateLimitSchema = schema{
		"limit":  {kind: kindInt, example: "100"},
		"period": {kind: kindInt, example: "60"},
	}
	gatewaySchema = schema{
		"id":           {kind: kindString, example: "my-gateway"},
		"cache_ttl":    {kind: kindInt, example: "3600"},
		"rate_limit":   {kind: kindBlock, block: rateLimitSchema},
		"collect_logs": {kind: kindBool, example: "true"},
	}
	aiSchema = schema{
		"binding": {kind: kindString, example: "AI"},
		"model":   {kind: kindString, example: `"@cf/stabilityai/stable-diffusion-xl-base-1.0"`},
		"gateway": {kind: kindBlock, block: gatewaySchema},
	}
	vectorizeSchema = schema{
		"binding":    {kind: kindString, example: "VECTORIZE"},
		"index":      {kind: kindString, example: "docs"},
		"dimensions": {kind: kindInt, example: "768"},
		"metric":     {kind: kindString, example: "cosine"},
	}
	apiKeySchema = schema{
		"binding": {kind: kindString, example: "API_KEY"},
		"from":    {kind: kindString, example: "generate"},
		"grace":   {kind: kindString, example: "24h"},
	}
	smokeSchema = schema{
		"path":                {kind: kindString, example: `"/"`},
		"prompt":              {kind: kindString, example: `"a cute robot cooking breakfast"`},
		"method":              {kind: kindString, example: "POST"},
		"body":                {kind: kindData, example: `{ text: "hello" }`},
		"body_file":           {kind: kindString, example: "./smoke/sample.wav"},
		"content_type":        {kind: kindString, example: "audio/wav"},
		"expect":              {kind: kindString, example: "image/png"},
		"expect_fields":       {kind: kindStringList, example: "[response]"},
		"status":              {kind: kindInt, example: "200"},
		"unauthorized_status": {kind: kindInt, example: "401"},
		"method_status":       {kind: kindInt, example: "405"},
	}
	consumerSchema = schema{
		"rate_limit": {kind: kindBlock, block: rateLimitSchema},
		"from":       {kind: kindString, example: `"env:PARTNER_KEY"`},
	}
	varsField = field{kind: kindMapOf, elem: &field{kind: kindString, example: `"1000"`}}
	// secrets, kv, r2 and d1 map binding names to a source or an object's name.
	secretsField = field{kind: kindMapOf, keys: bindingNamePattern.Expr, maxKeys: MaxSecrets, elem: &field{kind: kindString, example: `"env:OPENAI_KEY"`}}
	kvField      = field{kind: kindMapOf, keys: bindingNamePattern.Expr, elem: &field{kind: kindString, example: "my-api-cache"}}
	r2Field      = field{kind: kindMapOf, keys: bindingNamePattern.Expr, elem: &field{kind: kindString, example: "my-api-images"}}
	d1Field      = field{kind: kindMapOf, keys: bindingNamePattern.Expr, elem: &field{kind: kindString, example: "my-api-db"}}

	// overrideSchema is what an environment may change in a worker.
	overrideSchema = schema{
		"name":                {kind: kindString, example: "image-api-staging"},
		"compatibility_date":  {kind: kindString, example: `"2025-06-01"`},
		"compatibility_flags": {kind: kindStringList, example: "[nodejs_compat]"},
		"ai":                  {kind: kindBlock, block: aiSchema},
		"api_key":             {kind: kindBlock, block: apiKeySchema},
		"vars":                varsField,
		"rate_limit":          {kind: kindBlock, block: rateLimitSchema},
		"vectorize":           {kind: kindBlock, block: vectorizeSchema},
		"workers_dev":         {kind: kindBool, example: "true"},
		"domains":             {kind: kindStringList, example: "[api.example.com]"},
		"smoke":               {kind: kindBlock, block: smokeSchema},
		"consumers":           {kind: kindMapOf, elem: &field{kind: kindBlock, block: consumerSchema}},
		"usage":               {kind: kindBool, example: "true"},
		"secrets":             secretsField,
		"kv":                  kvField,
		"r2":                  r2Field,
		"d1":                  d1Field,
	}
	workerSchema = withKeys(overrideSchema, schema{
		"main":               {kind: kindString, example: "./src/worker.js", required: true},
		"compatibility_date": {kind: kindString, example: `"2025-06-01"`, required: true},
	})
	envSchema = schema{
		"account_id": {kind: kindString, example: "${CLOUDFLARE_ACCOUNT_ID}"},
		"workers":    {kind: kindMapOf, elem: &field{kind: kindBlock, block: overrideSchema, relative: true}},
	}
	rootSchema = schema{
		"project":               {kind: kindString, example: "my-images"},
		"workers_dev_subdomain": {kind: kindString, example: "my-team"},
		"account_id":            {kind: kindString, example: "${CLOUDFLARE_ACCOUNT_ID}"},
		"workers":               {kind: kindMapOf, elem: &field{kind: kindBlock, block: workerSchema, relative: true}, required: true},
		"environments":          {kind: kindMapOf, elem: &field{kind: kindBlock, block: envSchema}},
	}
)

func withKeys(base, extra schema) schema {
	out := schema{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// value is a YAML value whose shape matched its field. Lookups on a nil *value return nil,
// so callers can walk optional paths without checks.
type value struct {
	key  *yaml.Node // the key that introduced this value (nil for the root)
	node *yaml.Node // the value itself, aliases resolved
	// null is true for an explicit empty value (`smoke:` or `smoke: null`).
	null bool
	// fields holds a block's keys; entries a kindMapOf's keys in file order.
	fields  map[string]*value
	entries []entry
}

type entry struct {
	name string
	val  *value
}

func (v *value) get(name string) *value {
	if v == nil {
		return nil
	}
	return v.fields[name]
}

// shaper checks a YAML tree against a schema, collecting errors.
type shaper struct {
	file string
	errs *ErrorList
}

func (s *shaper) errorAt(n *yaml.Node, msg, fix string) {
	*s.errs = append(*s.errs, &Error{File: s.file, Line: n.Line, Col: n.Column, Msg: msg, Fix: fix})
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// shape checks n against f. path names the value in messages ("workers.image-api.main").
// It returns nil when the value is unusable (an error has been recorded).
func (s *shaper) shape(path string, key, n *yaml.Node, f field) *value {
	n = resolveAlias(n)
	if n == nil {
		return nil
	}
	v := &value{key: key, node: n}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		if f.kind == kindBlock || f.kind == kindMapOf || f.kind == kindStringList || f.kind == kindData {
			v.null = true
			return v
		}
		s.errorAt(n, fmt.Sprintf("%s is empty", path), fmt.Sprintf("set it, e.g. %s: %s", lastSegment(path), exampleOf(f)))
		return nil
	}
	switch f.kind {
	case kindString:
		if !s.expectScalar(path, n, "!!str", f) {
			return nil
		}
	case kindBool:
		if !s.expectScalar(path, n, "!!bool", f) {
			return nil
		}
	case kindInt:
		if !s.expectScalar(path, n, "!!int", f) {
			return nil
		}
	case kindStringList:
		if n.Kind != yaml.SequenceNode {
			s.errorAt(n, fmt.Sprintf("%s must be a list of strings, not %s", path, describe(n)), fmt.Sprintf("write it as %s: %s", lastSegment(path), exampleOf(f)))
			return nil
		}
		ok := true
		for i, item := range n.Content {
			ok = s.expectScalar(fmt.Sprintf("%s[%d]", path, i), resolveAlias(item), "!!str", field{kind: kindString, example: `"name"`}) && ok
		}
		if !ok {
			return nil
		}
	case kindBlock:
		if !s.expectMapping(path, n) {
			return nil
		}
		v.fields = map[string]*value{}
		childBase := path
		if f.relative {
			childBase = ""
		}
		s.eachKey(path, n, f.block, func(name string, k, val *yaml.Node) {
			if sub := s.shape(joinPath(childBase, name), k, val, f.block[name]); sub != nil {
				v.fields[name] = sub
			}
		})
	case kindData:
		if !s.expectMapping(path, n) {
			return nil
		}
	case kindMapOf:
		if !s.expectMapping(path, n) {
			return nil
		}
		s.eachKey(path, n, nil, func(name string, k, val *yaml.Node) {
			if sub := s.shape(joinPath(path, name), k, val, *f.elem); sub != nil {
				v.entries = append(v.entries, entry{name: name, val: sub})
			}
		})
	}
	return v
}

func (s *shaper) expectMapping(path string, n *yaml.Node) bool {
	if n.Kind == yaml.MappingNode {
		return true
	}
	s.errorAt(n, fmt.Sprintf("%s must be a mapping of keys, not %s", path, describe(n)), "indent its keys under it, one `key: value` per line")
	return false
}

// expectScalar checks the resolved YAML tag, with a fix that says how to write the value.
func (s *shaper) expectScalar(path string, n *yaml.Node, tag string, f field) bool {
	if n.Kind == yaml.ScalarNode && n.Tag == tag {
		return true
	}
	// An unquoted 2025-06-01 resolves to a timestamp; its text is exactly what was meant.
	if tag == "!!str" && n.Kind == yaml.ScalarNode && n.Tag == "!!timestamp" {
		return true
	}
	switch tag {
	case "!!str":
		if n.Kind == yaml.ScalarNode {
			s.errorAt(n, fmt.Sprintf("%s must be a string", path), fmt.Sprintf("quote it: %q", n.Value))
		} else {
			s.errorAt(n, fmt.Sprintf("%s must be a string, not %s", path, describe(n)), fmt.Sprintf("write it as %s: %s", lastSegment(path), exampleOf(f)))
		}
	case "!!bool":
		s.errorAt(n, fmt.Sprintf("%s must be true or false, not %s", path, describe(n)), fmt.Sprintf("write %s: true or %s: false (unquoted)", lastSegment(path), lastSegment(path)))
	case "!!int":
		s.errorAt(n, fmt.Sprintf("%s must be a whole number, not %s", path, describe(n)), fmt.Sprintf("write it unquoted, e.g. %s: %s", lastSegment(path), exampleOf(f)))
	}
	return false
}

// eachKey visits the keys of a mapping, rejecting duplicates, non-string keys and, when known
// is non-nil, keys outside it (with the closest known key as a suggestion).
func (s *shaper) eachKey(path string, n *yaml.Node, known schema, visit func(name string, key, val *yaml.Node)) {
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolveAlias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			s.errorAt(k, fmt.Sprintf("%s has a key that is %s", orRoot(path), describe(k)), "keys must be plain names")
			continue
		}
		name := k.Value
		if k.Tag == "!!merge" {
			s.errorAt(k, "YAML merge keys (<<) are not supported", "write the keys out, or use environments: for per-stage differences")
			continue
		}
		if first, dup := seen[name]; dup {
			s.errorAt(k, fmt.Sprintf("duplicate key %q in %s (first at line %d)", name, orRoot(path), first.Line), "remove one of them")
			continue
		}
		seen[name] = k
		if known != nil {
			if _, ok := known[name]; !ok {
				s.errorAt(k, fmt.Sprintf("unknown key %q", name), unknownKeyFix(name, known))
				continue
			}
		}
		visit(name, k, val)
	}
}

func unknownKeyFix(name string, known schema) string {
	keys := make([]string, 0, len(known))
	for k := range known {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if best := closest(name, keys); best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return "known keys: " + strings.Join(keys, ", ")
}

// describe names what a node holds, for "must be X, not Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!int":
		return "the number " + n.Value
	case "!!float":
		return "the number " + n.Value
	case "!!bool":
		return "the boolean " + n.Value
	case "!!null":
		return "empty"
	case "!!str":
		return fmt.Sprintf("the string %q", truncate(n.Value, 40))
	}
	return fmt.Sprintf("%q (%s)", truncate(n.Value, 40), strings.TrimPrefix(n.Tag, "!!"))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func exampleOf(f field) string {
	if f.example != "" {
		return f.example
	}
	return "…"
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func lastSegment(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		path = path[i+1:]
	}
	if i := strings.IndexByte(path, '['); i >= 0 {
		path = path[:i]
	}
	return path
}

func orRoot(path string) string {
	if path == "" {
		return "the spec"
	}
	return path
}
