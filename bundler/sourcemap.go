package bundler

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/flareform/flareform/internal/lazyre"
)

// SourcePosition is a place in one of the sources a bundle was built from.
type SourcePosition struct {
	File      string // absolute path of the source file
	Line, Col int    // 1-based
}

// mapping is one segment of a source map: a generated column and where it came from.
type mapping struct {
	genCol, source, line, col int // all 0-based
}

// sourceMap is a decoded version 3 source map of a single-file bundle.
type sourceMap struct {
	sources []string    // absolute paths
	lines   [][]mapping // per generated line, by generated column
}

// Resolve maps a 1-based line and column of the bundle (worker.js) back to the source file
// it came from, using the bundle's source map. ok is false when the map says nothing there.
// col may be 0 when only the line is known: the line's first mapping decides then.
func (r *Result) Resolve(line, col int) (pos SourcePosition, ok bool) {
	sm, err := r.decodedMap()
	if err != nil {
		return SourcePosition{}, false
	}
	return sm.resolve(line, col)
}

// resolve is Resolve on a decoded map.
func (sm *sourceMap) resolve(line, col int) (SourcePosition, bool) {
	if line < 1 || line > len(sm.lines) {
		return SourcePosition{}, false
	}
	segs := sm.lines[line-1]
	if len(segs) == 0 {
		return SourcePosition{}, false
	}
	// The segment that starts at or before the column covers it.
	i := sort.Search(len(segs), func(i int) bool { return segs[i].genCol > max(col-1, 0) }) - 1
	if i < 0 {
		i = 0
	}
	m := segs[i]
	if m.source < 0 || m.source >= len(sm.sources) {
		return SourcePosition{}, false
	}
	return SourcePosition{File: sm.sources[m.source], Line: m.line + 1, Col: m.col + 1}, true
}

// rerootSources rewrites the map's `sources` to be relative to root (slash-separated), and
// makes root the directory Resolve joins them to.
func (r *Result) rerootSources(root string) error {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("source root %s: %w", root, err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(r.SourceMap, &doc); err != nil {
		return fmt.Errorf("decode source map: %w", err)
	}
	var sources []string
	if err := json.Unmarshal(doc["sources"], &sources); err != nil {
		return fmt.Errorf("decode source map sources: %w", err)
	}
	for i, src := range sources {
		abs := src
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(r.sourceRoot, filepath.FromSlash(src))
		}
		if rel, err := filepath.Rel(absRoot, abs); err == nil {
			sources[i] = filepath.ToSlash(rel)
		}
	}
	if doc["sources"], err = json.Marshal(sources); err != nil {
		return fmt.Errorf("encode source map sources: %w", err)
	}
	if r.SourceMap, err = json.Marshal(doc); err != nil {
		return fmt.Errorf("encode source map: %w", err)
	}
	r.sourceRoot = absRoot
	return nil
}

// bundleLocation finds "worker.js:LINE:COL" (and "worker.js:LINE") in runtime messages and
// stack traces, with or without a leading path or file:// URL.
var bundleLocation = lazyre.Regexp{Expr: `(?:[\w./:-]*/)?` + regexp.QuoteMeta(ModuleName) + `:(\d+)(?::(\d+))?`}

// MapLocations rewrites every bundle location in text (a workerd error, a stack trace, a log
// line) to the source location it came from, as a path relative to relTo (e.g. the spec's
// directory): "worker.js:43:12" becomes "src/handler.js:60:5". Locations the map does not
// cover stay as they are.
func (r *Result) MapLocations(text, relTo string) string {
	return mapLocations(text, bundleLocation.Regexp(), r.Resolve, func(file string) string {
		if rel, err := filepath.Rel(relTo, file); err == nil && relTo != "" {
			return rel
		}
		return file
	})
}

// mapLocations rewrites each match of loc ("module:LINE[:COL]") through resolve, naming the
// source by name(file).
func mapLocations(text string, loc *regexp.Regexp, resolve func(line, col int) (SourcePosition, bool), name func(string) string) string {
	return loc.ReplaceAllStringFunc(text, func(found string) string {
		m := loc.FindStringSubmatch(found)
		line, _ := strconv.Atoi(m[1])
		col := 0
		if m[2] != "" {
			col, _ = strconv.Atoi(m[2])
		}
		pos, ok := resolve(line, col)
		if !ok {
			return found
		}
		file := filepath.ToSlash(name(pos.File))
		if m[2] == "" {
			return fmt.Sprintf("%s:%d", file, pos.Line)
		}
		return fmt.Sprintf("%s:%d:%d", file, pos.Line, pos.Col)
	})
}

// ModuleMap is the source map uploaded next to a module, read back without the bundle: the
// local Cloudflare maps a running worker's errors through it.
type ModuleMap struct {
	loc *regexp.Regexp
	sm  *sourceMap
}

// ParseModuleMap decodes raw, the source map of the module named module. Its sources are used
// as written (relative paths: flareform writes them relative to the project's directory).
func ParseModuleMap(module string, raw []byte) (*ModuleMap, error) {
	sm, err := decodeSourceMap(raw, "")
	if err != nil {
		return nil, err
	}
	loc := regexp.MustCompile(`(?:[\w./:-]*/)?` + regexp.QuoteMeta(module) + `:(\d+)(?::(\d+))?`)
	return &ModuleMap{loc: loc, sm: sm}, nil
}

// MapLocations rewrites every "module:LINE:COL" in text (a stack trace, a log line) to the
// source position it came from, e.g. "src/lib/x.js:12:7".
func (m *ModuleMap) MapLocations(text string) string {
	return mapLocations(text, m.loc, m.sm.resolve, func(file string) string { return file })
}

func (r *Result) decodedMap() (*sourceMap, error) {
	r.mapOnce.Do(func() { r.sm, r.smErr = decodeSourceMap(r.SourceMap, r.sourceRoot) })
	return r.sm, r.smErr
}

// decodeSourceMap decodes a source map whose sources are relative to root.
func decodeSourceMap(raw []byte, root string) (*sourceMap, error) {
	var v struct {
		Version  int      `json:"version"`
		Sources  []string `json:"sources"`
		Mappings string   `json:"mappings"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("decode source map: %w", err)
	}
	if v.Version != 3 {
		return nil, fmt.Errorf("decode source map: version %d, want 3", v.Version)
	}
	sm := &sourceMap{sources: make([]string, len(v.Sources))}
	for i, s := range v.Sources {
		if !filepath.IsAbs(s) {
			s = filepath.Join(root, filepath.FromSlash(s))
		}
		sm.sources[i] = s
	}
	var state [4]int // source, line, col (name is not needed) carried across lines; genCol per line
	for _, lineText := range strings.Split(v.Mappings, ";") {
		var segs []mapping
		genCol := 0
		for _, seg := range strings.Split(lineText, ",") {
			if seg == "" {
				continue
			}
			fields, err := decodeVLQs(seg)
			if err != nil {
				return nil, fmt.Errorf("decode source map: %w", err)
			}
			genCol += fields[0]
			if len(fields) < 4 {
				continue // a segment that maps to no source
			}
			state[0] += fields[1]
			state[1] += fields[2]
			state[2] += fields[3]
			segs = append(segs, mapping{genCol: genCol, source: state[0], line: state[1], col: state[2]})
		}
		sm.lines = append(sm.lines, segs)
	}
	return sm, nil
}

const base64Digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// decodeVLQs decodes one mapping segment: base64 VLQ numbers, sign in the lowest bit.
func decodeVLQs(seg string) ([]int, error) {
	var out []int
	value, shift := 0, 0
	for i := 0; i < len(seg); i++ {
		digit := strings.IndexByte(base64Digits, seg[i])
		if digit < 0 {
			return nil, fmt.Errorf("bad mapping character %q", seg[i])
		}
		value += (digit & 31) << shift
		if digit&32 != 0 {
			shift += 5
			continue
		}
		n := value >> 1
		if value&1 != 0 {
			n = -n
		}
		out = append(out, n)
		value, shift = 0, 0
	}
	if shift != 0 {
		return nil, fmt.Errorf("truncated mapping %q", seg)
	}
	return out, nil
}
