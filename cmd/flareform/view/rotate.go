package view

import (
	"fmt"
	"io"
	"time"

	"github.com/flareform/flareform/provision"
)

// Rotation writes the summary of a rotate-key run: the action and phase, the current, dropped
// and previous keys (fingerprints only), each check, and what to do next while rotating.
func Rotation(w io.Writer, r *provision.RotateResult) {
	name := r.Name
	if r.Consumer != "" {
		name += " --consumer " + r.Consumer
	}
	fmt.Fprintf(w, "rotate-key %s: %s (phase %s)\n", name, r.Action, r.Phase)
	if r.KeyFingerprint != "" {
		fmt.Fprintf(w, "  current key   fp %s\n", r.KeyFingerprint)
	}
	if r.DroppedPrevious != "" {
		fmt.Fprintf(w, "  dropped key   fp %s: refused from now on (--drop-previous; its window was to end %s)\n",
			r.DroppedPrevious, r.DroppedPreviousExpires)
	}
	if r.Phase == provision.PhaseRotating {
		state := "accepted until " + r.PreviousExpires
		if provision.RotationExpired(r.PreviousExpires, time.Now()) {
			state = "expired at " + r.PreviousExpires + " (refused by the worker)"
		}
		fmt.Fprintf(w, "  previous key  fp %s, %s\n", orDash(r.PreviousFingerprint), state)
	}
	for _, c := range r.Checks {
		verdict := "ok"
		switch {
		case c.Skipped != "":
			verdict = "skipped: " + c.Skipped
		case !c.Passed:
			verdict = "FAILED: " + c.Detail
		case c.Status != 0:
			verdict = fmt.Sprintf("ok (%d)", c.Status)
		}
		fmt.Fprintf(w, "  %-24s %s\n", c.Name, verdict)
	}
	if r.Phase == provision.PhaseRotating && r.Action != "" {
		fmt.Fprintf(w, "Next: move clients to the new key, then run `flareform rotate-key %s --finish`; the worker refuses the old key after %s anyway.\n",
			r.Name, r.PreviousExpires)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
