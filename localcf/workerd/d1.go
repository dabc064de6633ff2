package workerd

import _ "embed"

// The d1 binding's shim lives in its own internal module (d1_shim.js), beside the other
// backend bindings' modules, and is loaded with them whenever a worker has a backend binding.
const (
	d1ShimModule = "flareform-local-d1:binding"
	d1ShimFile   = "flareform-d1-shim.js"
)

//go:embed d1_shim.js
var d1Shim []byte
