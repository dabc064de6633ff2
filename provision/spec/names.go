package spec

import (
	"fmt"
	"strings"

	"github.com/flareform/flareform/internal/lazyre"
)

// MaxWorkerNameLen is the longest script name that still fits a workers.dev DNS label.
const MaxWorkerNameLen = 63

var scriptNamePattern = lazyre.Regexp{Expr: `^[a-z0-9_][a-z0-9-_]*$`}

// CheckWorkerName reports why name cannot be a Worker script name ("" when it can). The rules
// are Cloudflare's: the API pattern `^[a-z0-9_][a-z0-9-_]*$`, and because the name becomes a
// workers.dev DNS label, at most 63 characters with no leading or trailing '-'.
func CheckWorkerName(name string) (problem, fix string) {
	suggestion := SuggestWorkerName(name)
	fix = fmt.Sprintf("use lowercase letters, digits, '-' and '_', e.g. %q", suggestion)
	switch {
	case name == "":
		return "worker name is empty", fix
	case len(name) > MaxWorkerNameLen:
		return fmt.Sprintf("worker name %q is %d characters, more than %d", name, len(name), MaxWorkerNameLen),
			fmt.Sprintf("shorten it, e.g. %q", suggestion)
	case !scriptNamePattern.MatchString(name):
		return fmt.Sprintf("worker name %q may only contain lowercase letters, digits, '-' and '_' and may not start with '-'", name), fix
	case strings.HasSuffix(name, "-"):
		return fmt.Sprintf("worker name %q ends with '-', which workers.dev does not allow", name), fix
	}
	return "", ""
}

// SuggestWorkerName turns any string into a valid worker name ("worker" when nothing is left).
func SuggestWorkerName(name string) string {
	var b strings.Builder
	lastDash := true // drops leading dashes
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
			lastDash = false
		case !lastDash:
			b.WriteByte('-')
			lastDash = true
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > MaxWorkerNameLen {
		s = strings.Trim(s[:MaxWorkerNameLen], "-")
	}
	if s == "" {
		return "worker"
	}
	return s
}
