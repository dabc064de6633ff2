// Package jsonc reads JSON with comments and trailing commas (wrangler.jsonc, tsconfig.json)
// as plain JSON, keeping every byte's offset so a decoder's positions point into the input.
package jsonc

import (
	"bytes"
	"fmt"
)

// SyntaxError is a problem found at a byte offset of the input before any JSON parser ran.
// Problem names the kind of problem only, never the input's text.
type SyntaxError struct {
	Offset  int
	Problem string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.Problem, e.Offset) }

// Strip turns JSON with comments (// and /* */) and trailing commas, as wrangler.jsonc and
// tsconfig.json allow, into plain JSON. Strings are copied untouched, so "https://x" and "a,}" survive.
// Removed comments become spaces (newlines are kept), so JSON error offsets still point at
// the same line.
func Strip(src []byte) ([]byte, error) {
	out := make([]byte, 0, len(src))
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '"':
			end, err := stringEnd(src, i)
			if err != nil {
				return nil, err
			}
			out = append(out, src[i:end+1]...)
			i = end
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				out = append(out, ' ')
				i++
			}
			i-- // keep the newline
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := bytes.Index(src[i+2:], []byte("*/"))
			if end < 0 {
				return nil, &SyntaxError{Offset: i, Problem: "a /* comment is never closed"}
			}
			for _, b := range src[i : i+2+end+2] {
				out = append(out, blankOut(b))
			}
			i += 2 + end + 1
		case c == ',' && nextSignificant(src, i+1) == '}' || c == ',' && nextSignificant(src, i+1) == ']':
			out = append(out, ' ') // a trailing comma
		default:
			out = append(out, c)
		}
	}
	return out, nil
}

// stringEnd is the index of the quote closing the string that starts at src[start].
func stringEnd(src []byte, start int) (int, error) {
	for j := start + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case '"':
			return j, nil
		}
	}
	return 0, &SyntaxError{Offset: start, Problem: "a string is never closed"}
}

// nextSignificant is the next byte after i that is neither white space nor inside a comment.
func nextSignificant(src []byte, i int) byte {
	for i < len(src) {
		switch {
		case src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r':
			i++
		case src[i] == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case src[i] == '/' && i+1 < len(src) && src[i+1] == '*':
			end := bytes.Index(src[i+2:], []byte("*/"))
			if end < 0 {
				return 0
			}
			i += 2 + end + 2
		default:
			return src[i]
		}
	}
	return 0
}

func blankOut(b byte) byte {
	if b == '\n' {
		return '\n'
	}
	return ' '
}
