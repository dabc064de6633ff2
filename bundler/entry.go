package bundler

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/flareform/flareform/internal/lazyre"
)

// EntryProblem says what keeps the bundle from being a Worker that answers HTTP: no default
// export, or a default export object without a fetch handler. Both only show up on the first
// request otherwise ("Handler does not export a fetch() function"). ok is true when neither
// is found. The fetch check is static and only looks at a default export written as an
// object literal; anything else (a class, an app object) is given the benefit of the doubt.
func (r *Result) EntryProblem(entryName string) (msg, fix string, ok bool) {
	if !slices.Contains(r.Exports, "default") {
		return fmt.Sprintf("%s has no default export, so the Worker has no fetch handler", entryName),
			"end it with `export default { async fetch(request, env) { ... } }`", false
	}
	keys, known := defaultObjectKeys(string(r.Code))
	if known && !slices.Contains(keys, "fetch") {
		return fmt.Sprintf("the default export of %s has no fetch handler", entryName),
			"add `async fetch(request, env) { ... }` to the exported object", false
	}
	return "", "", true
}

// defaultAlias is esbuild's closing export clause: `export {\n  worker_default as default\n};`.
var defaultAlias = lazyre.Regexp{Expr: `([\w$]+) as default\b`}

// defaultObjectKeys lists the top-level keys of the object literal the bundle exports as
// default. known is false when the default export is not a plain object literal.
func defaultObjectKeys(code string) (keys []string, known bool) {
	m := defaultAlias.FindAllStringSubmatch(code, -1)
	if len(m) == 0 {
		return nil, false
	}
	name := m[len(m)-1][1]
	decl := regexp.MustCompile(`(?m)^var ` + regexp.QuoteMeta(name) + ` = \{`).FindStringIndex(code)
	if decl == nil {
		return nil, false
	}
	return objectKeys(code[decl[1]-1:])
}

// objectKeys reads the keys of the object literal src starts with ('{'), skipping strings,
// template literals and comments. known is false for spreads and computed keys, whose names
// cannot be known without running the code.
func objectKeys(src string) (keys []string, known bool) {
	depth := 0
	expectKey := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end := skipQuoted(src, i)
			if depth == 1 && expectKey && end < len(src) {
				keys = append(keys, src[i+1:end]) // a quoted key: "fetch"() {}
			}
			i = end
			expectKey = false
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := regexp.MustCompile(`\*/`).FindStringIndex(src[i+2:])
			if end == nil {
				return nil, false
			}
			i += 2 + end[1] - 1
		case c == '{' || c == '[' || c == '(':
			depth++
			if depth == 1 {
				expectKey = true
			} else if depth == 2 && c == '[' && expectKey {
				return nil, false // computed key
			}
		case c == '}' || c == ']' || c == ')':
			depth--
			if depth == 0 {
				return keys, true
			}
		case c == ',' && depth == 1:
			expectKey = true
		case c == '.' && depth == 1 && expectKey && i+2 < len(src) && src[i+1] == '.' && src[i+2] == '.':
			return nil, false // spread
		case depth == 1 && expectKey && isIdentStart(c):
			j := i
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			word := src[i:j]
			i = j - 1
			if (word == "async" || word == "get" || word == "set" || word == "static") && nextIsIdent(src, j) {
				continue // a modifier: the key follows
			}
			keys = append(keys, word)
			expectKey = false
		}
	}
	return nil, false // never closed: the scan lost its way (a regex literal, say)
}

func skipQuoted(src string, i int) int {
	quote := src[i]
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case quote:
			return j
		}
	}
	return len(src)
}

func nextIsIdent(src string, j int) bool {
	for j < len(src) && (src[j] == ' ' || src[j] == '*') {
		j++
	}
	return j < len(src) && isIdentStart(src[j])
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }
