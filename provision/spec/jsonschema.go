package spec

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

//go:generate go test -run TestJSONSchemaIsCommitted -update .

// SchemaURL is where the committed JSON Schema (docs/flareform.schema.json) is published;
// `init` points editors at it with a yaml-language-server comment.
const SchemaURL = "https://raw.githubusercontent.com/flareform/flareform/main/docs/flareform.schema.json"

// JSONSchema is the spec's JSON Schema (draft 2020-12), generated from the same key table
// the loader checks specs against, so editors complete and check exactly what Load accepts.
// The loader still checks more than the schema can say (names, dates, ${VAR}s, files).
func JSONSchema() []byte {
	root := objectSchema(rootSchema)
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaURL
	root["title"] = "flareform spec (flareform.yaml)"
	root["description"] = "Cloudflare Workers serving Workers AI models; see docs/spec.md."
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("marshal the spec's JSON Schema: %v", err)) // only plain maps and strings
	}
	return append(out, '\n')
}

// objectSchema describes a block: its keys and nothing else.
func objectSchema(b schema) map[string]any {
	props := map[string]any{}
	var required []string
	for name, f := range b {
		props[name] = fieldSchema(f)
		if f.required {
			required = append(required, name)
		}
	}
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		slices.Sort(required)
		out["required"] = required
	}
	return out
}

func fieldSchema(f field) map[string]any {
	var out map[string]any
	switch f.kind {
	case kindString:
		out = map[string]any{"type": "string"}
	case kindBool:
		out = map[string]any{"type": "boolean"}
	case kindInt:
		out = map[string]any{"type": "integer"}
	case kindStringList:
		out = map[string]any{"type": []string{"array", "null"}, "items": map[string]any{"type": "string"}}
	case kindBlock:
		out = objectSchema(f.block)
		out["type"] = []string{"object", "null"} // `smoke:` alone is an empty block
	case kindMapOf:
		out = map[string]any{"type": []string{"object", "null"}, "additionalProperties": fieldSchema(*f.elem)}
		if f.keys != "" {
			out["propertyNames"] = map[string]any{"pattern": f.keys, "maxLength": MaxBindingNameLen}
		}
		if f.maxKeys > 0 {
			out["maxProperties"] = f.maxKeys
		}
	case kindData:
		// Any mapping, sent as it is (smoke.body): its keys are the request's, not the spec's.
		out = map[string]any{"type": "object"}
	default:
		panic(fmt.Sprintf("spec: no JSON Schema for key kind %d", f.kind)) // a new kind needs a case here
	}
	if f.example != "" {
		out["examples"] = []string{strings.Trim(f.example, `"`)}
	}
	return out
}
