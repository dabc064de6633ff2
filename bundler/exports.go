package bundler

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// metafile is the part of esbuild's metafile the bundler uses.
type metafile struct {
	Inputs  map[string]json.RawMessage `json:"inputs"`
	Outputs map[string]struct {
		Exports []string `json:"exports"`
	} `json:"outputs"`
}

func readMetafile(text string) (*metafile, error) {
	var meta metafile
	if err := json.Unmarshal([]byte(text), &meta); err != nil {
		return nil, fmt.Errorf("read esbuild metafile: %w", err)
	}
	return &meta, nil
}

// exports are the bundle's export names.
func (m *metafile) exports() ([]string, error) {
	for path, out := range m.Outputs {
		if strings.HasSuffix(path, ModuleName) {
			exports := slices.Clone(out.Exports)
			slices.Sort(exports)
			return exports, nil
		}
	}
	return nil, fmt.Errorf("esbuild metafile names no %s", ModuleName)
}

// inputFiles are the absolute, sorted paths of every file esbuild read as a module. Metafile
// paths are relative to the working directory; a path in a plugin namespace ("ns:path") is
// kept as it is, and the cache refuses to store a bundle with one (it cannot hash it).
func (m *metafile) inputFiles(workDir string) []string {
	files := make([]string, 0, len(m.Inputs))
	for p := range m.Inputs {
		if !filepath.IsAbs(p) && !strings.Contains(p, ":") {
			p = filepath.Join(workDir, p)
		}
		files = append(files, p)
	}
	slices.Sort(files)
	return files
}
