package importer

import (
	"bytes"
	"fmt"
	"strings"
)

// SyntaxError is a wrangler configuration that does not parse. It says where (file:line:col)
// and what kind of problem, never the file's text: a file passed to `import` may hold anything
// (a credentials file, a link to /proc/self/environ), and a parser's message quotes what it
// found.
type SyntaxError struct {
	File string
	// Line and Col are 1-based; Line 0 when the parser gave no position.
	Line, Col int
	// Format is "TOML" or "JSON".
	Format string
	// Problem is the parser's message with anything that may come from the file removed.
	Problem string
}

func (e *SyntaxError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, max(e.Col, 1))
	}
	fmt.Fprintf(&b, ": not valid %s: %s; fix the file there (wrangler refuses it too), or name the wrangler config of the project", e.Format, e.Problem)
	return b.String()
}

// minEcho is the shortest run of a file's bytes that redact removes from a message wherever it
// appears: a secret is longer, and shorter runs are the parser's own words.
const minEcho = 16

// redacted stands in for what redact removes.
const redacted = "…"

// redact removes from msg, a parser's message about data, everything that may be data's text:
// every quoted string ("…" or '…', whatever it holds), then every run of minEcho or more bytes
// that data also holds.
func redact(msg string, data []byte) string {
	msg = redactQuoted(msg)
	if len(msg) < minEcho {
		return msg
	}
	hidden := make([]bool, len(msg))
	for i := 0; i+minEcho <= len(msg); i++ {
		if bytes.Contains(data, []byte(msg[i:i+minEcho])) {
			for j := i; j < i+minEcho; j++ {
				hidden[j] = true
			}
		}
	}
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		if !hidden[i] {
			b.WriteByte(msg[i])
			continue
		}
		b.WriteString(redacted)
		for i+1 < len(msg) && hidden[i+1] {
			i++
		}
	}
	return b.String()
}

// redactQuoted replaces the content of every quoted string in msg with redacted; backslash
// escapes are honoured, and a quote left open hides the rest of msg.
func redactQuoted(msg string) string {
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		q := msg[i]
		if q != '"' && q != '\'' {
			b.WriteByte(q)
			continue
		}
		end := -1
		for j := i + 1; j < len(msg); j++ {
			if msg[j] == '\\' {
				j++
				continue
			}
			if msg[j] == q {
				end = j
				break
			}
		}
		b.WriteByte(q)
		b.WriteString(redacted)
		if end < 0 {
			break
		}
		b.WriteByte(q)
		i = end
	}
	return b.String()
}

// lineCol is the 1-based line and byte column of data[offset].
func lineCol(data []byte, offset int) (line, col int) {
	offset = min(max(offset, 0), len(data))
	before := data[:offset]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = offset - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}
