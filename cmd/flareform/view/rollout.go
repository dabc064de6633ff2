package view

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/flareform/flareform/provision"
)

// Rollouts: the plan and the outcome of promote and rollback, and the canary line of a worker
// in a plan. Versions are shown by a short prefix (the JSON result has them whole); keys never
// appear, not even as fingerprints: a rollback says only that the version answers to another
// key. The one exception is the hand-over of the key a forced rollback needs, on a terminal.

// shortIDLen is how much of a version id the text shows: enough to tell versions apart.
const shortIDLen = 8

// ShortVersion is a version id as the text shows it: its first shortIDLen characters and "…".
func ShortVersion(id string) string {
	if id == "" {
		return "(none)"
	}
	if len(id) <= shortIDLen {
		return id
	}
	return id[:shortIDLen] + "…"
}

// percent formats a traffic share without a needless fraction: 10%, 12.5%.
func percent(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64) + "%"
}

// RolloutPlan writes what a promote or rollback will do, one line per worker with its notes,
// then a summary. An empty plan says there is nothing to do.
func RolloutPlan(w io.Writer, rp *provision.RolloutPlan) {
	if len(rp.Workers) == 0 {
		fmt.Fprintln(w, NothingToRollOut(rp.Kind))
		return
	}
	for _, st := range rp.Workers {
		writeRolloutStep(w, st)
	}
	fmt.Fprintf(w, "\nPlan: %s to %s.\n", workerCount(len(rp.Workers)), rolloutVerb(rp.Kind))
}

// NothingToRollOut is what an empty rollout plan says.
func NothingToRollOut(kind provision.RolloutKind) string {
	if kind == provision.RolloutPromote {
		return "Nothing to promote: no worker serves a canary."
	}
	return "Nothing to roll back."
}

// rolloutVerb is what a rollout of kind does to a worker, as a verb.
func rolloutVerb(kind provision.RolloutKind) string {
	if kind == provision.RolloutRollback {
		return "roll back"
	}
	return string(kind)
}

// writeRolloutStep renders one worker's step: "~ image-api: version abc… (10%) → 100%, was
// def… 90%/abc… 10%", then its message, and for a rollback the notes about its key and secrets.
func writeRolloutStep(w io.Writer, st provision.RolloutStep) {
	name := st.Name
	if st.Key != "" && st.Key != st.Name {
		name += " [key " + st.Key + "]"
	}
	share := ""
	if p, ok := shareOf(st.Serving, st.Version); ok {
		share = " (" + percent(p) + ")"
	}
	fmt.Fprintf(w, "~ %s: version %s%s → 100%%, was %s\n", name, ShortVersion(st.Version), share, describeShares(st.Serving))
	if st.Message != "" {
		fmt.Fprintf(w, "    # message: %q\n", st.Message)
	}
	if st.KeyNote != "" {
		fmt.Fprintf(w, "    # key: %s\n", st.KeyNote)
	}
	if st.Forced {
		fmt.Fprintln(w, "    # across an API key change (--force): clients must use the key that version answers to")
	}
	if st.SecretsNote != "" {
		fmt.Fprintf(w, "    # secrets: %s\n", st.SecretsNote)
	}
}

// shareOf is version's share of the deployment serving, if it is part of it.
func shareOf(serving []provision.DeploymentShare, version string) (float64, bool) {
	for _, s := range serving {
		if s.VersionID == version {
			return s.Percentage, true
		}
	}
	return 0, false
}

// describeShares renders a deployment as "def… 90%/abc… 10%".
func describeShares(serving []provision.DeploymentShare) string {
	if len(serving) == 0 {
		return "nothing deployed"
	}
	parts := make([]string, 0, len(serving))
	for _, s := range serving {
		parts = append(parts, ShortVersion(s.VersionID)+" "+percent(s.Percentage))
	}
	return strings.Join(parts, "/")
}

func workerCount(n int) string {
	if n == 1 {
		return "1 worker"
	}
	return fmt.Sprintf("%d workers", n)
}

// RolloutResult writes the outcome of a promote or rollback: per worker the version that now
// serves all traffic, its smoke test, whether what served before was put back, its error and
// the hand-over of a key a forced rollback needs; then a summary line.
func RolloutResult(w io.Writer, res *provision.RolloutResult, keys KeyHandover, stop Stop) {
	fmt.Fprintln(w)
	for _, r := range res.Workers {
		writeRolloutWorker(w, r)
		writeRolloutKey(w, r, keys)
	}
	title := rolloutTitle(res.Kind)
	failed, stopped := rolloutCounts(res)
	done := len(res.Workers) - failed - stopped
	switch {
	case stop == StoppedRun && stopped > 0:
		fmt.Fprintf(w, "\n%s interrupted: %d done, %d not done (stopped by Ctrl-C), %d failed. Run %s again to finish.\n",
			title, done, stopped, failed, res.Kind)
	case failed+stopped > 0:
		fmt.Fprintf(w, "\n%s failed: %d done, %d failed.\n", title, done, failed+stopped)
	default:
		fmt.Fprintf(w, "\n%s complete! %s at 100%%.\n", title, workerCount(done))
	}
	if stop == StoppedLate {
		if failed > 0 {
			fmt.Fprintln(w, "Ctrl-C came after the last change; it stopped nothing (the failures above are the run's own).")
		} else {
			fmt.Fprintln(w, "Ctrl-C came after the last change; nothing was left undone.")
		}
	}
}

// writeRolloutWorker prints one worker's line, its smoke report, the put-back note and error.
func writeRolloutWorker(w io.Writer, r provision.RolloutWorkerResult) {
	switch {
	case r.Error == "":
		fmt.Fprintf(w, "%s: version %s serves 100%%\n", r.Name, ShortVersion(r.Version))
	case interruptedResult(r.Error):
		fmt.Fprintf(w, "%s: not done (stopped by Ctrl-C)\n", r.Name)
	case r.PutBack:
		fmt.Fprintf(w, "%s: failed; what served before serves again (put back)\n", r.Name)
	case r.Version != "":
		fmt.Fprintf(w, "%s: failed; version %s serves 100%%\n", r.Name, ShortVersion(r.Version))
	default:
		fmt.Fprintf(w, "%s: failed\n", r.Name)
	}
	if r.Smoke != nil {
		smoke := *r.Smoke
		if r.Error != "" {
			smoke.Error = "" // the error line below says it, once
		}
		writeSmokeReport(w, "  ", smoke)
	}
	if r.KeyNote != "" {
		fmt.Fprintf(w, "  key: %s\n", r.KeyNote)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", r.Error)
	}
}

// writeRolloutKey hands over, as apply hands over a generated key, the key that opens the
// version a forced rollback deployed: named by where it went, shown only on a terminal.
func writeRolloutKey(w io.Writer, r provision.RolloutWorkerResult, keys KeyHandover) {
	if r.HandedKey == "" {
		return
	}
	switch {
	case keys.KeyOut != "":
		fmt.Fprintf(w, "  API key: this version answers to another key than before; it was written to %s\n", keys.KeyOut)
	case keys.Terminal:
		fmt.Fprintf(w, "  API key: this version answers to another key than before (shown once here): %s\n", r.HandedKey)
	default:
		// Without a terminal stdout is probably a CI log: the key stays out of it.
		fmt.Fprintln(w, "  API key: this version answers to another key than before (not printed: stdout is not a terminal; use --key-out or --json)")
	}
}

func rolloutTitle(kind provision.RolloutKind) string {
	if kind == provision.RolloutRollback {
		return "Rollback"
	}
	return "Promote"
}

// rolloutCounts counts the workers that failed and those a Ctrl-C kept from starting.
func rolloutCounts(res *provision.RolloutResult) (failed, stopped int) {
	for _, r := range res.Workers {
		switch {
		case interruptedResult(r.Error):
			stopped++
		case r.Error != "":
			failed++
		}
	}
	return failed, stopped
}

// CanaryHint is what apply --canary says after it succeeded: how to go on from the split.
func CanaryHint(w io.Writer, pct float64) {
	fmt.Fprintf(w, "The new versions serve %s of the traffic. `flareform promote` (or a plain `flareform apply` of the same spec) gives them 100%%; `flareform rollback` withdraws them.\n",
		percent(pct))
}
