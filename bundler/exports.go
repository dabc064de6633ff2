package bundler

import (
	"encoding/json"
	"fmt"
	"slices"
)

// exportsOf reads the bundle's export names from esbuild's metafile.
func exportsOf(metafile string) ([]string, error) {
	var meta struct {
		Outputs map[string]struct {
			Exports []string `json:"exports"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(metafile), &meta); err != nil {
		return nil, fmt.Errorf("read esbuild metafile: %w", err)
	}
	for path, out := range meta.Outputs {
		if len(path) >= len(ModuleName) && path[len(path)-len(ModuleName):] == ModuleName {
			exports := slices.Clone(out.Exports)
			slices.Sort(exports)
			return exports, nil
		}
	}
	return nil, fmt.Errorf("esbuild metafile names no %s", ModuleName)
}
