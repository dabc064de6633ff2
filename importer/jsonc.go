package importer

import (
	"errors"

	"github.com/flareform/flareform/internal/jsonc"
)

// stripJSONC turns wrangler.jsonc into plain JSON (see jsonc.Strip); a problem found before
// parsing is an *offsetError, which parseJSON places by line and column.
func stripJSONC(src []byte) ([]byte, error) {
	out, err := jsonc.Strip(src)
	var se *jsonc.SyntaxError
	if errors.As(err, &se) {
		return nil, &offsetError{offset: se.Offset, problem: se.Problem}
	}
	return out, err
}
