package view

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/flareform/flareform/provision"
)

// Plan writes p like Terraform: warnings, the account's workers.dev subdomain to register, one
// block per account object and worker in apply order (provision.Plan.Steps) with one line per
// change, the workers a --target run skipped, then a summary ("Plan: …" or "No changes. …").
// With color the leading +, ~ and - of each line are coloured (see colorSymbols), and a note led
// by "!" (storage deleted with its data, --delete-data) is red as a whole. A secret
// appears in a plan only as "(sensitive, …)" words that depend on the state alone (no value, no
// fingerprint), so none can appear here, and the same state prints the same text.
func Plan(w io.Writer, p *provision.Plan, color bool) {
	if !color {
		writePlan(w, p, time.Now())
		return
	}
	var buf bytes.Buffer
	writePlan(&buf, p, time.Now())
	io.WriteString(w, colorSymbols(buf.String()))
}

// writePlan is Plan without colours; now decides whether a rotation window has ended.
func writePlan(w io.Writer, p *provision.Plan, now time.Time) {
	counts := map[provision.Action]int{}
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "Warning: %s\n", warn)
	}
	if len(p.Warnings) > 0 {
		fmt.Fprintln(w)
	}
	if p.RegisterSubdomain != "" {
		fmt.Fprintf(w, "+ account workers.dev subdomain %q (registered first; worker URLs live under it)\n\n", p.RegisterSubdomain)
	}
	for _, st := range p.Steps() {
		if r := st.Resource; r != nil {
			counts[r.Action]++
			writeResourcePlan(w, *r)
		} else {
			counts[st.Worker.Action]++
			writeWorkerPlan(w, *st.Worker, now)
		}
	}
	if len(p.Skipped) > 0 {
		fmt.Fprintf(w, "Skipped (not targeted): %s\n", strings.Join(p.Skipped, ", "))
	}
	if !p.HasChanges() {
		fmt.Fprintln(w, "No changes. The live workers match the spec.")
		return
	}
	replace := ""
	if n := counts[provision.ActionReplace]; n > 0 {
		replace = fmt.Sprintf(" %d to replace (destructive: needs apply --allow-replace),", n)
	}
	fmt.Fprintf(w, "\nPlan: %d to create, %d to update,%s %d to delete, %d unchanged.\n",
		counts[provision.ActionCreate], counts[provision.ActionUpdate], replace, counts[provision.ActionDelete], counts[provision.ActionNoOp])
}

// actionSymbols lead a step's header line.
var actionSymbols = map[provision.Action]string{
	provision.ActionCreate:  "+",
	provision.ActionUpdate:  "~",
	provision.ActionDelete:  "-",
	provision.ActionNoOp:    " ",
	provision.ActionReplace: "-/+",
}

// opSymbols lead a change's line.
var opSymbols = map[string]string{provision.OpAdd: "+", provision.OpChange: "~", provision.OpRemove: "-"}

// writeResourcePlan renders an account object (gateway, index, domain) like a worker: a
// header, one line per change, and why it is left alone or what its change destroys.
func writeResourcePlan(w io.Writer, r provision.ResourcePlan) {
	header := fmt.Sprintf("%s %s %q (%s)", actionSymbols[r.Action], r.Kind, r.Name, r.Action)
	if r.Destructive {
		header += " DESTRUCTIVE"
	}
	fmt.Fprintln(w, strings.TrimLeft(header, " "))
	writeChanges(w, r.Changes)
	switch {
	case r.DeleteData:
		// Data is lost: the note leads with "!", which a terminal shows in red (colorSymbols).
		fmt.Fprintf(w, "    ! %s\n", r.Note)
	case r.Note != "":
		fmt.Fprintf(w, "    # %s\n", r.Note)
	}
}

// writeWorkerPlan renders a worker: a header (with its spec key when that differs from the
// script name, and its URL), one line per change, and a note about a pending key rotation.
func writeWorkerPlan(w io.Writer, wp provision.WorkerPlan, now time.Time) {
	header := fmt.Sprintf("%s worker %q (%s)", actionSymbols[wp.Action], wp.Name, wp.Action)
	if wp.Key != wp.Name {
		header += fmt.Sprintf(" [key %s]", wp.Key)
	}
	if wp.URL != "" {
		header += " " + wp.URL
	}
	fmt.Fprintln(w, strings.TrimLeft(header, " "))
	writeChanges(w, wp.Changes)
	if expires, ok := wp.PendingRotation(); ok {
		fmt.Fprintf(w, "    # %s\n", rotationNote(wp.Name, expires, wp.ChangesKeyDuringRotation(), now))
	}
}

func writeChanges(w io.Writer, changes []provision.Change) {
	for _, c := range changes {
		fmt.Fprintf(w, "    %s %s: %s\n", opSymbols[c.Op], c.Path, describeChange(c))
	}
}

// rotationNote is the plan's informational line about the key-rotation window a worker holds
// until expires: ended (apply removes the previous key), still open while the plan changes the
// key (apply refuses: keyChange), or open (apply keeps it).
func rotationNote(name, expires string, keyChange bool, now time.Time) string {
	if provision.RotationExpired(expires, now) {
		return fmt.Sprintf("key rotation window ended %s: the previous key is refused; apply removes it", expires)
	}
	if keyChange {
		return fmt.Sprintf("key rotation in progress until %s: apply refuses to change the key before then, as that would cut the previous key's window; "+
			"run `flareform rotate-key %s --finish` first", expires, name)
	}
	return fmt.Sprintf("key rotation pending until %s: the previous key is still accepted (not a change; apply keeps it)", expires)
}

func describeChange(c provision.Change) string {
	switch c.Op {
	case provision.OpAdd:
		return quoteValue(c.New)
	case provision.OpRemove:
		return quoteValue(c.Old)
	default:
		return quoteValue(c.Old) + " -> " + quoteValue(c.New)
	}
}

// quoteValue quotes plain values; sensitive markers and placeholders stay as written.
func quoteValue(v string) string {
	if strings.HasPrefix(v, "(") {
		return v
	}
	return fmt.Sprintf("%q", v)
}
