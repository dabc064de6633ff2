// Package lazyre holds regular expressions that compile on first use. A package-level
// regexp.MustCompile runs at every start of the program, for every command (`flareform
// version` included) whether it matches anything or not; a Regexp literal is static data
// and costs nothing until it is used.
package lazyre

import (
	"regexp"
	"sync"
)

// Regexp is a regular expression compiled on first use, safe for concurrent use:
//
//	var scriptName = lazyre.Regexp{Expr: `^[a-z0-9_][a-z0-9-_]*$`}
//
// An Expr that does not compile panics on first use, as regexp.MustCompile would at start;
// each package's tests exercise its expressions.
type Regexp struct {
	Expr string

	once sync.Once
	re   *regexp.Regexp
}

// Regexp is the compiled expression.
func (r *Regexp) Regexp() *regexp.Regexp {
	r.once.Do(func() { r.re = regexp.MustCompile(r.Expr) })
	return r.re
}

// MatchString is regexp.Regexp.MatchString.
func (r *Regexp) MatchString(s string) bool { return r.Regexp().MatchString(s) }

// FindStringSubmatch is regexp.Regexp.FindStringSubmatch.
func (r *Regexp) FindStringSubmatch(s string) []string { return r.Regexp().FindStringSubmatch(s) }

// FindAllStringSubmatch is regexp.Regexp.FindAllStringSubmatch.
func (r *Regexp) FindAllStringSubmatch(s string, n int) [][]string {
	return r.Regexp().FindAllStringSubmatch(s, n)
}

// ReplaceAllString is regexp.Regexp.ReplaceAllString.
func (r *Regexp) ReplaceAllString(src, repl string) string {
	return r.Regexp().ReplaceAllString(src, repl)
}
