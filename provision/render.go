package provision

import (
	"fmt"
	"io"
	"strings"
)

// WriteText renders p like Terraform: one block per worker, one line per change, then a
// summary. Secrets already appear only as fingerprints in the plan.
func (p *Plan) WriteText(w io.Writer) {
	counts := map[Action]int{}
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
			writeWorkerPlan(w, *st.Worker)
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
	if n := counts[ActionReplace]; n > 0 {
		replace = fmt.Sprintf(" %d to replace (destructive: needs apply --allow-replace),", n)
	}
	fmt.Fprintf(w, "\nPlan: %d to create, %d to update,%s %d to delete, %d unchanged.\n",
		counts[ActionCreate], counts[ActionUpdate], replace, counts[ActionDelete], counts[ActionNoOp])
}

// writeResourcePlan renders a gateway or index like a worker: a header, one line per change,
// and why it is left alone or what its change destroys.
func writeResourcePlan(w io.Writer, r ResourcePlan) {
	header := fmt.Sprintf("%s %s %q (%s)", actionSymbols[r.Action], r.Kind, r.Name, r.Action)
	if r.Destructive {
		header += " DESTRUCTIVE"
	}
	fmt.Fprintln(w, strings.TrimLeft(header, " "))
	for _, c := range r.Changes {
		fmt.Fprintf(w, "    %s %s: %s\n", opSymbols[c.Op], c.Path, describeChange(c))
	}
	if r.Note != "" {
		fmt.Fprintf(w, "    # %s\n", r.Note)
	}
}

var actionSymbols = map[Action]string{
	ActionCreate:  "+",
	ActionUpdate:  "~",
	ActionDelete:  "-",
	ActionNoOp:    " ",
	ActionReplace: "-/+",
}

var opSymbols = map[string]string{OpAdd: "+", OpChange: "~", OpRemove: "-"}

func writeWorkerPlan(w io.Writer, wp WorkerPlan) {
	header := fmt.Sprintf("%s worker %q (%s)", actionSymbols[wp.Action], wp.Name, wp.Action)
	if wp.Key != wp.Name {
		header += fmt.Sprintf(" [key %s]", wp.Key)
	}
	if wp.URL != "" {
		header += " " + wp.URL
	}
	fmt.Fprintln(w, strings.TrimLeft(header, " "))
	for _, c := range wp.Changes {
		fmt.Fprintf(w, "    %s %s: %s\n", opSymbols[c.Op], c.Path, describeChange(c))
	}
	if note := rotationNote(wp); note != "" {
		fmt.Fprintf(w, "    # %s\n", note)
	}
}

func describeChange(c Change) string {
	switch c.Op {
	case OpAdd:
		return quoteValue(c.New)
	case OpRemove:
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
