package bundler

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
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
	if err != nil || line < 1 || line > len(sm.lines) {
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

// bundleLocation finds "worker.js:LINE:COL" (and "worker.js:LINE") in runtime messages and
// stack traces, with or without a leading path or file:// URL.
var bundleLocation = regexp.MustCompile(`(?:[\w./:-]*/)?` + regexp.QuoteMeta(ModuleName) + `:(\d+)(?::(\d+))?`)

// MapLocations rewrites every bundle location in text (a workerd error, a stack trace, a log
// line) to the source location it came from, as a path relative to relTo (e.g. the spec's
// directory): "worker.js:43:12" becomes "src/handler.js:60:5". Locations the map does not
// cover stay as they are.
func (r *Result) MapLocations(text, relTo string) string {
	return bundleLocation.ReplaceAllStringFunc(text, func(loc string) string {
		m := bundleLocation.FindStringSubmatch(loc)
		line, _ := strconv.Atoi(m[1])
		col := 0
		if m[2] != "" {
			col, _ = strconv.Atoi(m[2])
		}
		pos, ok := r.Resolve(line, col)
		if !ok {
			return loc
		}
		file := pos.File
		if rel, err := filepath.Rel(relTo, file); err == nil && relTo != "" {
			file = rel
		}
		if m[2] == "" {
			return fmt.Sprintf("%s:%d", filepath.ToSlash(file), pos.Line)
		}
		return fmt.Sprintf("%s:%d:%d", filepath.ToSlash(file), pos.Line, pos.Col)
	})
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
