package ai

// Schema returns the model's {"input","output"} JSON schemas, as served by
// GET /accounts/{id}/ai/models/schema?model=<name>. They are written out from the same nodes
// the validator enforces, so what is published and what is refused never disagree. Retired
// models keep their schemas (the docs still show them); only running them fails.
func (s *Service) Schema(model string) (map[string]any, bool) {
	e, ok := s.catalog[model]
	if !ok {
		return nil, false
	}
	return map[string]any{"input": e.input.jsonSchema(), "output": e.output.jsonSchema()}, true
}

// jsonSchema writes n in JSON Schema form, keyword names as the catalog spells them.
func (n *node) jsonSchema() map[string]any {
	out := map[string]any{}
	if n.title != "" {
		out["title"] = n.title
	}
	switch len(n.types) {
	case 0:
	case 1:
		out["type"] = n.types[0]
	default:
		out["type"] = n.types
	}
	if n.format != "" {
		out["format"] = n.format
	}
	if n.contentType != "" {
		out["contentType"] = n.contentType
	}
	if len(n.props) > 0 {
		props := make(map[string]any, len(n.props))
		for _, p := range n.props {
			props[p.name] = p.schema.jsonSchema()
		}
		out["properties"] = props
	}
	if len(n.required) > 0 {
		out["required"] = n.required
	}
	if n.noExtra {
		out["additionalProperties"] = false
	} else if n.extra != nil {
		out["additionalProperties"] = n.extra.jsonSchema()
	}
	if n.items != nil {
		out["items"] = n.items.jsonSchema()
	}
	putInt(out, "minItems", n.minItems)
	putInt(out, "maxItems", n.maxItems)
	putInt(out, "minLength", n.minLength)
	putInt(out, "maxLength", n.maxLength)
	if n.minimum != nil {
		out["minimum"] = *n.minimum
	}
	if n.maximum != nil {
		out["maximum"] = *n.maximum
	}
	if len(n.enum) > 0 {
		out["enum"] = n.enum
	}
	if n.def != nil {
		out["default"] = n.def
	}
	if len(n.oneOf) > 0 {
		out["oneOf"] = schemaList(n.oneOf)
	}
	if len(n.anyOf) > 0 {
		out["anyOf"] = schemaList(n.anyOf)
	}
	return out
}

func putInt(out map[string]any, key string, v *int) {
	if v != nil {
		out[key] = *v
	}
}

func schemaList(nodes []*node) []any {
	out := make([]any, len(nodes))
	for i, n := range nodes {
		out[i] = n.jsonSchema()
	}
	return out
}
