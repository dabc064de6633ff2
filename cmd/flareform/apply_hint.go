package main

import (
	"fmt"

	"github.com/flareform/flareform/provision"
)

// maxHintLines bounds the calls apply suggests: a fleet gets the first few.
const maxHintLines = 4

// hintInvoke tells, after an apply on an embedded local Cloudflare, how to call the workers:
// that server stopped with the command, so the URLs it printed answer only while `flareform
// local` serves the same state. Each worker's call fits what it takes (invokeExamples: a
// prompt, audio, an image, a search); a run that failed gets no suggestion, as its error is what
// to act on.
func (s *session) hintInvoke(opts *rootOptions, res *provision.Result) {
	if s.local == nil || opts.JSON || s.Spec == nil {
		return
	}
	specArg := ""
	if opts.File != "flareform.yaml" {
		specArg = " -f " + opts.File
	}
	var calls []string
	for _, r := range res.Workers {
		if r.Error != "" {
			return
		}
		if r.Action == provision.ActionDelete || r.URL == "" {
			continue // gone, or no workers.dev URL to call
		}
		w, err := findWorker(s.Spec, r.Key)
		if err != nil {
			continue
		}
		for _, ex := range invokeExamples(shapeOf(w)) {
			calls = append(calls, fmt.Sprintf("  flareform invoke%s --local %s %s", specArg, r.Name, ex))
		}
	}
	if len(calls) == 0 {
		return
	}
	more := 0
	if len(calls) > maxHintLines {
		calls, more = calls[:maxHintLines], len(calls)-maxHintLines
	}
	w := opts.IO.Out
	fmt.Fprintf(w, "\nThe local Cloudflare stopped with this command. To call the workers, run in another shell\n")
	fmt.Fprintf(w, "  flareform local%s\n", specArg)
	fmt.Fprintf(w, "and then\n")
	for _, c := range calls {
		fmt.Fprintln(w, c)
	}
	if more > 0 {
		fmt.Fprintf(w, "  (%d more; flareform invoke --help shows how to call each kind of worker)\n", more)
	}
}
