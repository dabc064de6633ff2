package main

import (
	"io"
	"strings"

	"github.com/flareform/flareform/provision/spec"
)

// errorDoc is the one JSON shape of every failure under --json (docs/json.md). Position and
// fix are set when the error points into the spec (spec.Error).
type errorDoc struct {
	Message string `json:"message"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Fix     string `json:"fix,omitempty"`
}

// errorResult is what a failed command prints on stdout with --json. Errors lists every spec
// problem when there is more than one; Error is always the first.
type errorResult struct {
	Error  errorDoc   `json:"error"`
	Errors []errorDoc `json:"errors,omitempty"`
}

// newErrorResult turns err into the --json failure shape: one entry per spec problem found in
// err's tree, or the whole message when none points into the spec.
func newErrorResult(err error) errorResult {
	specErrs := specErrors(err)
	if len(specErrs) == 0 {
		return errorResult{Error: errorDoc{Message: strings.TrimRight(err.Error(), "\n")}}
	}
	docs := make([]errorDoc, len(specErrs))
	for i, e := range specErrs {
		docs[i] = errorDoc{Message: e.Msg, File: e.File, Line: e.Line, Col: e.Col, Fix: e.Fix}
	}
	res := errorResult{Error: docs[0]}
	if len(docs) > 1 {
		res.Errors = docs
	}
	return res
}

// specErrors collects every *spec.Error in err's tree (errors.Join and ErrorList both unwrap
// to several), depth first, so they come out in the order they were reported.
func specErrors(err error) []*spec.Error {
	if err == nil {
		return nil
	}
	switch u := err.(type) {
	case *spec.Error:
		return []*spec.Error{u}
	case interface{ Unwrap() []error }:
		var out []*spec.Error
		for _, e := range u.Unwrap() {
			out = append(out, specErrors(e)...)
		}
		return out
	case interface{ Unwrap() error }:
		return specErrors(u.Unwrap())
	}
	return nil
}

// countingWriter remembers whether anything was written through it, so run knows whether a
// command already printed its JSON result before failing (apply with a failed worker, smoke
// with a failed check): that result is then the one object on stdout.
type countingWriter struct {
	w       io.Writer
	written bool
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		c.written = true
	}
	return c.w.Write(p)
}

// argsAskForJSON says whether --json is among args, for errors cobra reports before it has
// parsed the flag (an unknown command or flag in front of it).
func argsAskForJSON(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--json" || a == "--json=true" {
			return true
		}
	}
	return false
}
