package workerd

import (
	"slices"
	"strings"

	"github.com/flareform/flareform/bundler"
)

// sourceMapper maps module locations in a worker's log lines ("worker.js:43:12") through the
// source maps uploaded with its modules ("worker.js.map" belongs to "worker.js"), so a worker
// that throws at run time names the user's source, e.g. "src/lib/x.js:12:7" (flareform writes
// the map's sources relative to the project's directory). nil: no usable map.
func sourceMapper(w Worker) func(string) string {
	var maps []*bundler.ModuleMap
	for _, m := range w.Modules {
		module, isMap := strings.CutSuffix(m.Name, ".map")
		if m.Type != "sourcemap" || !isMap || !slices.ContainsFunc(w.Modules, func(o Module) bool { return o.Name == module }) {
			continue
		}
		mm, err := bundler.ParseModuleMap(module, m.Content)
		if err != nil {
			continue // a map that does not decode leaves the locations as workerd wrote them
		}
		maps = append(maps, mm)
	}
	if len(maps) == 0 {
		return nil
	}
	return func(text string) string {
		for _, mm := range maps {
			text = mm.MapLocations(text)
		}
		return text
	}
}
