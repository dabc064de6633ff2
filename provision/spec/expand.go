package spec

import (
	"fmt"
	"strings"

	"github.com/flareform/flareform/internal/lazyre"
)

var envVarName = lazyre.Regexp{Expr: `^[A-Za-z_][A-Za-z0-9_]*$`}

// expandError is a problem with one ${...} reference; offset is its byte offset in the value.
type expandError struct {
	offset   int
	msg, fix string
}

// expand replaces ${NAME} and ${NAME:-default} with values from getenv; "$$" is a literal "$"
// and any other "$" is kept as is. An empty variable counts as unset, as with the shell's ":-".
// used reports whether anything was substituted, so callers never echo an expanded value
// (it may be a secret) in messages.
func expand(s string, getenv func(string) string) (out string, used bool, errs []expandError) {
	if !strings.Contains(s, "$") {
		return s, false, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
			continue
		case '{':
		default:
			b.WriteByte('$')
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			errs = append(errs, expandError{offset: i, msg: fmt.Sprintf("unterminated %q", truncate(s[i:], 20)), fix: "close it with }, or write $$ for a literal $"})
			return s, used, errs
		}
		ref := s[i+2 : i+end]
		name, def, hasDefault := strings.Cut(ref, ":-")
		if !envVarName.MatchString(name) {
			errs = append(errs, expandError{offset: i, msg: fmt.Sprintf("${%s} is not a valid variable reference", ref), fix: "use ${NAME} or ${NAME:-default} with NAME made of letters, digits and _; write $$ for a literal $"})
		} else if v := getenv(name); v != "" {
			b.WriteString(v)
			used = true
		} else if hasDefault {
			b.WriteString(def)
			used = true
		} else {
			errs = append(errs, expandError{offset: i, msg: fmt.Sprintf("environment variable %s is not set (used as ${%s})", name, name), fix: fmt.Sprintf("export %s=... before running flareform, or give a default: ${%s:-value}", name, name)})
		}
		i += end + 1
	}
	return b.String(), used, errs
}
