package importer

import (
	"bytes"
)

// stripJSONC turns JSON with comments (// and /* */) and trailing commas, as wrangler.jsonc
// allows, into plain JSON. Strings are copied untouched, so "https://x" and "a,}" survive.
// Removed comments become spaces (newlines are kept), so JSON error offsets still point at
// the same line.
func stripJSONC(src []byte) ([]byte, error) {
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
				return nil, &offsetError{offset: i, problem: "a /* comment is never closed"}
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
	return 0, &offsetError{offset: start, problem: "a string is never closed"}
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
