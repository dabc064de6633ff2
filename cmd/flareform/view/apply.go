package view

import (
	"fmt"
	"io"
	"strings"

	"github.com/flareform/flareform/provision"
)

// Stop says what a Ctrl-C (or SIGTERM) during apply did.
type Stop int

const (
	NotStopped  Stop = iota // no Ctrl-C
	StoppedLate             // Ctrl-C after the last write had started: nothing was left undone
	StoppedRun              // Ctrl-C kept writes from starting: the run is not complete
)

// KeyHandover says where apply handed over the keys it generated, for the line under each
// worker that got one.
type KeyHandover struct {
	// KeyOut is --key-out, where the keys were written; "" when not given.
	KeyOut string
	// Terminal: stdout is a terminal, so (without KeyOut) the key itself is shown once. Otherwise
	// stdout is probably a CI log and only the key's fingerprint appears.
	Terminal bool
	// Store is the project's key store, where every generated key is kept, as shown to the user.
	Store string
}

// Apply writes the outcome of an apply: each account object and worker (its smoke test, the
// hand-over of a key it generated), then "Apply complete!", "Apply failed:" or "Apply
// interrupted:" with the counts, and a note when a Ctrl-C came too late to stop anything.
func Apply(w io.Writer, res *provision.Result, keys KeyHandover, stop Stop) {
	fmt.Fprintln(w)
	writeResourceResults(w, res)
	for _, r := range res.Workers {
		writeWorkerResult(w, r)
		if r.GeneratedKey == "" {
			continue
		}
		switch {
		case keys.KeyOut != "":
			fmt.Fprintf(w, "  API key (fp %s): written to %s and kept in %s\n", r.KeyFingerprint, keys.KeyOut, keys.Store)
		case keys.Terminal:
			fmt.Fprintf(w, "  API key (shown once here; also kept in %s): %s\n", keys.Store, r.GeneratedKey)
		default:
			// Without a terminal stdout is probably a CI log: the key stays out of it.
			fmt.Fprintf(w, "  API key (fp %s): kept in %s (not printed: stdout is not a terminal; use --key-out or --json)\n",
				r.KeyFingerprint, keys.Store)
		}
	}
	switch {
	case stop == StoppedRun:
		fmt.Fprintf(w, "\nApply interrupted: %s Not done: %s. Writes not started were skipped; run apply again to finish.\n",
			summarizeActions(res), strings.Join(notDone(res), ", "))
	case failedCount(res) > 0:
		fmt.Fprintf(w, "\nApply failed: %s\n", summarizeActions(res))
	default:
		fmt.Fprintf(w, "\nApply complete! %s\n", summarizeActions(res))
	}
	if stop == StoppedLate {
		fmt.Fprintln(w, LateStopNote(res))
	}
}

// Destroy writes the outcome of a destroy: each worker, each account object, then "Destroy
// complete!" (or "Destroy failed:" when something was not destroyed) with the counts.
func Destroy(w io.Writer, res *provision.Result) {
	fmt.Fprintln(w)
	for _, r := range res.Workers {
		writeWorkerResult(w, r)
	}
	writeResourceResults(w, res)
	if failedCount(res) > 0 {
		fmt.Fprintf(w, "\nDestroy failed: %s\n", summarizeActions(res))
		return
	}
	fmt.Fprintf(w, "\nDestroy complete! %s\n", summarizeActions(res))
}

// LateStopNote is what apply says when Ctrl-C came too late to stop anything: the outcome
// above is the whole run's.
func LateStopNote(res *provision.Result) string {
	if failedCount(res) > 0 {
		return "Ctrl-C came after the last change; it stopped nothing (the failures above are the run's own)."
	}
	return "Ctrl-C came after the last change; nothing was left undone."
}

func failedCount(res *provision.Result) int {
	n := 0
	for _, r := range res.Resources {
		if r.Error != "" {
			n++
		}
	}
	for _, r := range res.Workers {
		if r.Error != "" {
			n++
		}
	}
	return n
}

// writeWorkerResult prints one worker's line, its smoke report and any error.
func writeWorkerResult(w io.Writer, r provision.WorkerResult) {
	fmt.Fprintf(w, "%s: %s", r.Name, r.Action)
	if r.URL != "" {
		fmt.Fprintf(w, " %s", r.URL)
	}
	if r.VersionID != "" {
		fmt.Fprintf(w, " (version %s)", r.VersionID)
	}
	fmt.Fprintln(w)
	if r.Smoke != nil {
		smoke := *r.Smoke
		if r.Error != "" {
			smoke.Error = "" // the worker's error line below says it, once
		}
		writeSmokeReport(w, "  ", smoke)
	}
	if r.RolledBack {
		fmt.Fprintln(w, "  rolled back to the previous version")
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", r.Error)
	}
}

// writeResourceResults prints what apply did to each account object.
func writeResourceResults(w io.Writer, res *provision.Result) {
	for _, r := range res.Resources {
		fmt.Fprintf(w, "%s %s: %s\n", r.Kind, r.Name, r.Action)
		if r.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", r.Error)
		}
	}
}

// interruptedResult reports whether an error of a result is a step Ctrl-C kept from starting.
func interruptedResult(msg string) bool {
	return strings.Contains(msg, provision.ErrInterrupted.Error())
}

// notDone names the workers and resources a Ctrl-C left unfinished.
func notDone(res *provision.Result) []string {
	var out []string
	for _, r := range res.Resources {
		if interruptedResult(r.Error) {
			out = append(out, r.Kind+" "+r.Name)
		}
	}
	for _, r := range res.Workers {
		// A worker not started because a resource it needs was not set up is not done either.
		if interruptedResult(r.Error) || (len(out) > 0 && strings.HasPrefix(r.Error, "not started:")) {
			out = append(out, r.Name)
		}
	}
	return out
}

// summarizeActions counts results by action, Terraform-style: the workers and the account
// objects (gateways, indexes, domains) alike, as the plan's summary counts them. What Ctrl-C
// left unfinished (notDone) counts as not done, not as failed.
func summarizeActions(res *provision.Result) string {
	var created, updated, replaced, deleted, failed, unfinished int
	stopped := map[string]bool{}
	for _, name := range notDone(res) {
		stopped[name] = true
	}
	count := func(id string, action provision.Action, errText string) {
		switch {
		case stopped[id]:
			unfinished++
		case errText != "":
			failed++
		case action == provision.ActionCreate:
			created++
		case action == provision.ActionUpdate:
			updated++
		case action == provision.ActionReplace:
			replaced++
		case action == provision.ActionDelete:
			deleted++
		}
	}
	for _, r := range res.Resources {
		count(r.Kind+" "+r.Name, r.Action, r.Error)
	}
	for _, r := range res.Workers {
		count(r.Name, r.Action, r.Error)
	}
	s := fmt.Sprintf("Resources: %d created, %d updated, %d destroyed.", created, updated, deleted)
	if replaced > 0 {
		s = fmt.Sprintf("Resources: %d created, %d updated, %d replaced, %d destroyed.", created, updated, replaced, deleted)
	}
	if failed > 0 {
		s += fmt.Sprintf(" %d failed.", failed)
	}
	if unfinished > 0 {
		s += fmt.Sprintf(" %d not done (stopped by Ctrl-C).", unfinished)
	}
	return s
}
