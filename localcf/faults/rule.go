// Package faults makes the local Cloudflare API misbehave on purpose: it injects latency,
// error responses and dropped connections (Injector), and enforces Cloudflare's client API
// rate limit (Limiter). Both are plain http.Handler middlewares.
package faults

import (
	"errors"
	"fmt"
	"strings"
)

// Fault kinds a Rule can inject.
const (
	KindLatency            = "latency"
	KindTooManyRequests    = "429"
	KindInternalError      = "500"
	KindBadGateway         = "502"
	KindServiceUnavailable = "503"
	KindDrop               = "drop"
)

var allKinds = []string{KindLatency, KindTooManyRequests, KindInternalError, KindBadGateway, KindServiceUnavailable, KindDrop}

// Rule describes one fault. A request matches when its URL path matches Path and its method
// matches Method; whether a matching request is faulted then depends on Skip, Count and
// Probability, in that order.
type Rule struct {
	Path        string  `json:"path"`                  // glob on URL path; '*' matches any run of chars incl '/'; "" = all
	Method      string  `json:"method,omitempty"`      // "" = any; compared case-insensitively
	Kind        string  `json:"kind"`                  // "latency" | "429" | "500" | "502" | "503" | "drop"
	Probability float64 `json:"probability,omitempty"` // 0 or unset = 1 (always)
	LatencyMS   int     `json:"latency_ms,omitempty"`  // for "latency" (request then proceeds)
	RetryAfter  int     `json:"retry_after,omitempty"` // seconds, for "429"; default 1
	Count       int     `json:"count,omitempty"`       // fire at most Count times; 0 = unlimited
	Skip        int     `json:"skip,omitempty"`        // let the first Skip matching requests pass
}

// Validate reports every problem with r in one error, each with the fix.
func (r Rule) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if !isKind(r.Kind) {
		add("unknown kind %q (want one of %s)", r.Kind, strings.Join(allKinds, ", "))
	}
	if r.Path != "" && !strings.HasPrefix(r.Path, "/") && !strings.HasPrefix(r.Path, "*") {
		add("path %q must start with '/' or '*' (or be empty for all paths)", r.Path)
	}
	// ':' and ';' separate options and rules in the ParseRules syntax, so a path holding them
	// could not be written back; Cloudflare API paths never contain them.
	if strings.ContainsAny(r.Path, ":; \t\r\n") {
		add("path %q must not contain ':', ';' or whitespace", r.Path)
	}
	if r.Method != "" && !isToken(r.Method) {
		add("method %q is not an HTTP method name", r.Method)
	}
	if !(r.Probability >= 0 && r.Probability <= 1) { // written this way to reject NaN too
		add("probability %v must be between 0 and 1 (0 means always)", r.Probability)
	}
	if r.Kind == KindLatency && r.LatencyMS <= 0 {
		add("latency rule needs latency_ms > 0 (ms=N in rule syntax)")
	}
	if r.Kind != KindLatency && r.LatencyMS != 0 {
		add("latency_ms only applies to kind latency, not %q", r.Kind)
	}
	if r.RetryAfter < 0 {
		add("retry_after %d must not be negative", r.RetryAfter)
	}
	if r.Kind != KindTooManyRequests && r.RetryAfter != 0 {
		add("retry_after only applies to kind 429, not %q", r.Kind)
	}
	if r.Count < 0 {
		add("count %d must not be negative (0 means unlimited)", r.Count)
	}
	if r.Skip < 0 {
		add("skip %d must not be negative", r.Skip)
	}
	if len(problems) > 0 {
		return errors.New("invalid fault rule: " + strings.Join(problems, "; "))
	}
	return nil
}

// ValidateRules validates every rule and names the offending rule by its position (1-based).
func ValidateRules(rules []Rule) error {
	var errs []error
	for n, r := range rules {
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("rule %d: %w", n+1, err))
		}
	}
	return errors.Join(errs...)
}

func isKind(kind string) bool {
	for _, k := range allKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// isToken reports whether s is an RFC 9110 token, which is what a method name must be.
func isToken(s string) bool {
	for _, c := range s {
		if c > 0x7e || c <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return s != ""
}

// matchGlob reports whether path matches pattern, where '*' matches any run of characters
// including '/' and every other character matches itself. An empty pattern matches all.
func matchGlob(pattern, path string) bool {
	if pattern == "" {
		return true
	}
	p, s := 0, 0
	starP, starS := -1, 0 // position after the last '*' seen, and where its match began
	for s < len(path) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			starP, starS = p+1, s
			p++
		case p < len(pattern) && pattern[p] == path[s]:
			p++
			s++
		case starP >= 0:
			// Let the last '*' swallow one more character and retry from there.
			starS++
			p, s = starP, starS
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
