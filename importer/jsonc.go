package importer

import "github.com/flareform/flareform/internal/jsonc"

// stripJSONC turns wrangler.jsonc into plain JSON; see jsonc.Strip.
func stripJSONC(src []byte) ([]byte, error) { return jsonc.Strip(src) }
