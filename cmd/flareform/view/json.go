package view

import (
	"encoding/json"
	"fmt"
	"io"
)

// JSON writes v as one indented JSON document: a command's whole machine-readable result.
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // messages say <token>, not \u003ctoken\u003e
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON result: %w", err)
	}
	return nil
}
