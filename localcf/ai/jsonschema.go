package ai

// Schema returns the model's {"input","output"} JSON schemas, as served by
// GET /accounts/{id}/ai/models/schema?model=<name>. They are generated from
// the same field list the validator enforces, so they never disagree.
func (s *Service) Schema(model string) (map[string]any, bool) {
	e, ok := s.catalog[model]
	if !ok {
		return nil, false
	}
	return map[string]any{"input": e.schema.jsonSchema(), "output": e.outputSchema()}, true
}

func (s *schema) jsonSchema() map[string]any {
	props := map[string]any{}
	required := []string{}
	for _, f := range s.fields {
		props[f.name] = f.jsonSchema()
		if f.required {
			required = append(required, f.name)
		}
	}
	out := map[string]any{"type": "object", "properties": props, "required": required}
	if len(s.exactlyOne) > 0 {
		var oneOf []any
		for _, name := range s.exactlyOne {
			oneOf = append(oneOf, map[string]any{"required": []string{name}})
		}
		out["oneOf"] = oneOf
	}
	if s.binaryBody != "" {
		// As the catalog writes it: the raw bytes, or the object.
		return map[string]any{"oneOf": []any{map[string]any{"type": "string", "format": "binary"}, out}}
	}
	return out
}

func (f *field) jsonSchema() map[string]any {
	byteArray := map[string]any{"type": "array", "items": map[string]any{"type": "number", "minimum": 0, "maximum": 255}}
	var out map[string]any
	switch f.kind {
	case kindString:
		out = map[string]any{"type": "string"}
		f.putBounds(out, "minLength", "maxLength")
		if len(f.enum) > 0 {
			out["enum"] = f.enum
		}
	case kindInteger, kindNumber:
		out = map[string]any{"type": map[kind]string{kindInteger: "integer", kindNumber: "number"}[f.kind]}
		f.putBounds(out, "minimum", "maximum")
	case kindBool:
		out = map[string]any{"type": "boolean"}
	case kindBytes:
		out = byteArray
	case kindBytesOrString:
		out = map[string]any{"oneOf": []any{byteArray, map[string]any{"type": "string"}}}
	case kindStringOrStrings:
		out = map[string]any{"oneOf": []any{
			map[string]any{"type": "string"},
			map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "minItems": 1},
		}}
	case kindMessages:
		out = map[string]any{"type": "array", "minItems": 1, "items": map[string]any{
			"type":       "object",
			"properties": map[string]any{"role": map[string]any{"type": "string"}, "content": map[string]any{"type": "string"}},
			"required":   []string{"role", "content"},
		}}
	case kindArray:
		out = map[string]any{"type": "array"}
	case kindObject:
		out = map[string]any{"type": "object"}
	}
	return out
}

func (f *field) putBounds(out map[string]any, minKey, maxKey string) {
	if f.min != nil {
		out[minKey] = *f.min
	}
	if f.max != nil {
		out[maxKey] = *f.max
	}
}

func (e *entry) outputSchema() map[string]any {
	str := map[string]any{"type": "string"}
	switch e.info.Task.Name {
	case TaskTextToImage:
		contentType := "image/png"
		if e.format == formatJPEG {
			contentType = "image/jpeg"
		}
		return map[string]any{"type": "string", "contentType": contentType, "format": "binary"}
	case TaskTextGeneration:
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "object", "properties": map[string]any{"response": str}},
			map[string]any{"type": "string", "format": "binary", "contentType": "text/event-stream"},
		}}
	case TaskTextEmbeddings:
		return map[string]any{"type": "object", "properties": map[string]any{
			"shape": map[string]any{"type": "array", "items": map[string]any{"type": "number"}},
			"data": map[string]any{"type": "array", "items": map[string]any{
				"type": "array", "items": map[string]any{"type": "number"}}},
		}}
	case TaskSpeechRecognize:
		return map[string]any{"type": "object", "required": []string{"text"}, "properties": map[string]any{
			"text": str, "word_count": map[string]any{"type": "number"}, "vtt": str,
			"words": map[string]any{"type": "array"},
		}}
	case TaskImageToText:
		return map[string]any{"type": "object", "properties": map[string]any{"description": str}}
	}
	return map[string]any{}
}
