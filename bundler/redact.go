package bundler

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// minQuoted is the length from which a diagnostic may not repeat text it took from a source
// file: esbuild's syntax errors quote the token they stopped at (`Expected ";" but found
// "sk_live_..."`), and a secret pasted into the code would reach CI logs. Shorter text (";",
// "x", "await") tells the user what went wrong and is no secret.
const minQuoted = 16

// redactor rewrites esbuild's message texts so that nothing minQuoted characters or longer is
// copied from the sources, keeping the rest of the sentence (the position is in the Message):
//
//   - a quoted token of minQuoted or more characters becomes what kind of token it is: `found
//     "\"sk_live_...\""` reads `found a string literal`; likewise a template literal, a number,
//     an identifier, or `<redacted>`;
//   - except a file path esbuild names (`No matching export in "src/lib/x.js"`): one that
//     exists, relative to the working directory or absolute, is kept;
//   - and except the import path in `Could not resolve "./lib/missing-helper.js"`: import
//     paths are module names, not secrets, and the user needs to see which one failed. It is
//     kept when it is made of path characters only ([A-Za-z0-9._~@+/:-]) and has no run of
//     minQuoted or more letters and digits: a pasted token (hex, base64, `sk_live_` and 24
//     characters) always has one, a file or package name almost never;
//   - an unquoted run of minQuoted or more non-space characters is kept when it names an
//     existing file, and replaced by `<redacted>` when it occurs in a source or holds a run of
//     minQuoted letters and digits with a digit (a token).
type redactor struct {
	workDir string
	sources []string // the contents of the modules read for the bundle
}

// sources are the contents of the modules the bundle read so far.
func (c *confiner) sources() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.srcs))
	for _, s := range c.srcs {
		out = append(out, s)
	}
	return out
}

// text is msg with the source text it quotes redacted.
func (r *redactor) text(msg string) string {
	var b strings.Builder
	plainStart := 0
	for i := 0; i < len(msg); {
		if msg[i] != '"' {
			i++
			continue
		}
		lit, err := strconv.QuotedPrefix(msg[i:])
		if err != nil {
			i++
			continue
		}
		content, err := strconv.Unquote(lit)
		if err != nil {
			i++
			continue
		}
		b.WriteString(r.plain(msg[plainStart:i]))
		b.WriteString(r.quoted(msg[:i], lit, content))
		i += len(lit)
		plainStart = i
	}
	b.WriteString(r.plain(msg[plainStart:]))
	return b.String()
}

// quoted is what replaces the quoted literal lit (content unquoted), which follows before.
func (r *redactor) quoted(before, lit, content string) string {
	switch {
	case utf8.RuneCountInString(content) < minQuoted, r.isPath(content):
		return lit
	case strings.HasSuffix(before, "Could not resolve "):
		if isModuleSpecifier(content) {
			return lit
		}
		return "an import path"
	}
	return describeToken(content)
}

// longRun is a run of non-space characters long enough to be redacted.
var longRun = regexp.MustCompile(`\S{16,}`)

// tokenRun is a run of letters and digits as long as a token.
var tokenRun = regexp.MustCompile(`[A-Za-z0-9]{16,}`)

// plain redacts the long runs in text outside quotes.
func (r *redactor) plain(text string) string {
	return longRun.ReplaceAllStringFunc(text, func(run string) string {
		core := strings.Trim(run, "()[]{},;:.'`")
		if r.isPath(core) {
			return run
		}
		if r.inSources(core) || hasTokenRun(core) {
			return "<redacted>"
		}
		return run
	})
}

func hasTokenRun(s string) bool {
	for _, m := range tokenRun.FindAllString(s, -1) {
		if strings.ContainsAny(m, "0123456789") {
			return true
		}
	}
	return false
}

func (r *redactor) inSources(s string) bool {
	for _, src := range r.sources {
		if strings.Contains(src, s) {
			return true
		}
	}
	return false
}

// isPath is whether s names an existing file or directory, as esbuild writes paths: relative
// to the working directory, or absolute.
func (r *redactor) isPath(s string) bool {
	if s == "" || strings.ContainsAny(s, "\x00\n") {
		return false
	}
	p := filepath.FromSlash(s)
	if !filepath.IsAbs(p) {
		if r.workDir == "" {
			return false
		}
		p = filepath.Join(r.workDir, p)
	}
	_, err := os.Lstat(p)
	return err == nil
}

// isModuleSpecifier is whether s reads as an import path rather than a pasted token.
func isModuleSpecifier(s string) bool {
	for _, ch := range s {
		if !(ch < utf8.RuneSelf && (isAlnum(byte(ch)) || strings.ContainsRune("._~@+/:-", ch))) {
			return false
		}
	}
	return s != "" && !tokenRun.MatchString(s)
}

func isAlnum(c byte) bool {
	return (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// describeToken says what kind of token esbuild quoted, without its text.
func describeToken(raw string) string {
	first, _ := utf8.DecodeRuneInString(raw)
	switch {
	case first == '"' || first == '\'':
		return "a string literal"
	case first == '`' || first == '}':
		return "a template literal"
	case first >= '0' && first <= '9', first == '.' && len(raw) > 1 && raw[1] >= '0' && raw[1] <= '9':
		return "a number"
	case first == '/':
		return "a regular expression"
	case first == '#' && isIdentifier(raw[1:]):
		return "a private name"
	case isIdentifier(raw):
		return "an identifier"
	}
	return "<redacted>"
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, ch := range s {
		if ch == '$' || ch == '_' || unicode.IsLetter(ch) || (i > 0 && (unicode.IsDigit(ch) || ch == '\u200c' || ch == '\u200d')) {
			continue
		}
		return false
	}
	return true
}
