package spec

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem with a spec, tied to the place it was written.
// It prints as "file:line:col: what is wrong; how to fix it".
type Error struct {
	File      string
	Line, Col int // 1-based; Line 0 means the problem concerns the whole file
	Msg       string
	Fix       string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, max(e.Col, 1))
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Fix != "" {
		b.WriteString("; ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// Pos returns where the error points.
func (e *Error) Pos() Position { return Position{Line: e.Line, Col: e.Col} }

// ErrorList is every problem found in a spec, in file order. Its Error joins one line per problem.
type ErrorList []*Error

func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the individual errors to errors.As and errors.Is.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// sorted orders errors by position, keeping the discovery order for equal positions.
func (l ErrorList) sorted() ErrorList {
	out := append(ErrorList(nil), l...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Col < out[j].Col
	})
	return out
}

// ErrorAt builds an error pointing into this spec's file, for later stages (engine, bundler)
// that find a problem belonging to a spec line, e.g. s.ErrorAt(w.Pos["ai.model"], ...).
func (s *Spec) ErrorAt(pos Position, msg, fix string) *Error {
	return &Error{File: s.File, Line: pos.Line, Col: pos.Col, Msg: msg, Fix: fix}
}
