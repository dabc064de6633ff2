package main

import (
	"encoding/json"
	"fmt"
	"io"
)

// writeJSON prints v as one indented JSON document: the whole machine-readable result.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // messages say <token>, not \u003ctoken\u003e
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON result: %w", err)
	}
	return nil
}
