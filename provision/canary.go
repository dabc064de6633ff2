package provision

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Canaries (apply --canary PERCENT). A canary is the active deployment split between two
// versions: the stable one, which served all traffic before, and the new one at PERCENT%.

// CanaryPlan is the split deployment apply makes or changes for a worker.
type CanaryPlan struct {
	// Percent is the new version's share after apply; 100 promotes it.
	Percent float64 `json:"percent"`
	// Stable is the version that keeps the rest of the traffic ("" when promoting).
	Stable string `json:"stable,omitempty"`
	// Version is the canary already deployed that apply promotes or re-splits; "" when apply
	// uploads a new one.
	Version string `json:"version,omitempty"`
}

// liveCanary is an active deployment split between two versions: the canary, with the smaller
// share (the second listed when both are equal, as apply --canary lists it), and the stable
// version, with the rest.
type liveCanary struct {
	ID      string
	Stable  string
	Percent float64
	shares  []DeploymentShare // the deployment as the API lists it
}

// canaryOf reads a split deployment of two versions as a canary; nil for anything else.
func canaryOf(shares []DeploymentShare) *liveCanary {
	if len(shares) != 2 || shares[0].Percentage >= 100 || shares[1].Percentage >= 100 {
		return nil
	}
	stable, canary := shares[0], shares[1]
	if canary.Percentage > stable.Percentage {
		stable, canary = canary, stable
	}
	return &liveCanary{ID: canary.VersionID, Stable: stable.VersionID, Percent: canary.Percentage, shares: shares}
}

// versionIDs lists the versions of a deployment, in its order.
func versionIDs(shares []DeploymentShare) []string {
	ids := make([]string, len(shares))
	for i, s := range shares {
		ids[i] = s.VersionID
	}
	return ids
}

// identifies is the version whose annotation the diff compares with the spec: the one serving
// all traffic, or a split's canary (the code a plain apply would promote).
func (r *liveReads) identifies() string {
	if c := canaryOf(r.shares); c != nil {
		return c.ID
	}
	return r.deployed
}

// readCanary records a split deployment. The diff then compares the spec with the canary,
// while no single version serves (versionID stays "").
func (live *liveWorker) readCanary(shares []DeploymentShare) {
	live.canary = canaryOf(shares)
	if live.canary != nil {
		live.versionID = ""
	}
}

// errCanaryNeedsStable marks a canary plan for a worker with no single version to split with.
var errCanaryNeedsStable = errors.New("a canary needs a version serving all traffic to split with")

// diffCanary decides what apply does to the worker's deployment after its upload (if any):
// with percent (apply --canary) a new version is deployed beside the stable one, or an
// existing canary of the spec's code gets the new share; without, a canary of the spec's code
// is promoted to 100%. d.upload is already decided.
func diffCanary(d *desiredWorker, live *liveWorker, percent float64, add func(Change)) error {
	c := live.canary
	if d.finishRotation && (percent > 0 || c != nil) {
		// Ending the window edits the settings, which the API allows only while the newest
		// version serves all traffic.
		return fmt.Errorf("the key rotation window of %s has ended and must be finished first: promote or roll back its canary, or apply without --canary", d.worker.Name)
	}
	switch {
	case percent == 0 && c != nil && !d.upload:
		d.canary = &CanaryPlan{Percent: 100, Version: c.ID}
		add(Change{Path: "deployment", Op: OpChange, Old: fmt.Sprintf("canary %s at %s, %s at %s", c.ID, percentText(c.Percent), c.Stable, percentText(100-c.Percent)),
			New: fmt.Sprintf("canary %s at 100%% (promoted after its smoke test)", c.ID)})
	case percent == 0:
	case !live.exists:
		return fmt.Errorf("%w: worker %s does not exist yet; apply it without --canary first", errCanaryNeedsStable, d.worker.Name)
	case d.upload && d.sendKey:
		return fmt.Errorf("--canary cannot change %s: clients hold one key, and the canary's share of their requests would meet the other; apply the key change without --canary", d.worker.APIKey.Binding)
	case d.upload:
		stable := live.versionID
		if c != nil {
			stable = c.Stable
		}
		if stable == "" {
			return fmt.Errorf("%w: no single version of %s serves all traffic (a split deployment of another tool); deploy one without --canary first", errCanaryNeedsStable, d.worker.Name)
		}
		d.canary = &CanaryPlan{Percent: percent, Stable: stable}
		add(Change{Path: "deployment", Op: OpChange, Old: fmt.Sprintf("%s at 100%%", stable),
			New: fmt.Sprintf("new version at %s (canary), %s at %s", percentText(percent), stable, percentText(100-percent))})
	case c != nil && c.Percent != percent:
		d.canary = &CanaryPlan{Percent: percent, Stable: c.Stable, Version: c.ID}
		add(Change{Path: "deployment", Op: OpChange, Old: fmt.Sprintf("canary %s at %s", c.ID, percentText(c.Percent)),
			New: fmt.Sprintf("canary %s at %s", c.ID, percentText(percent))})
	case c != nil && live.canaryUntested():
		// Deployed by an apply that stopped before its smoke test passed: the same split,
		// tested this time (canary_apply.go makes no deployment when it is already there).
		d.canary = &CanaryPlan{Percent: percent, Stable: c.Stable, Version: c.ID}
		add(Change{Path: "smoke", Op: OpChange,
			Old: fmt.Sprintf("not passed: canary %s was deployed by an apply that stopped before its smoke test passed", c.ID),
			New: "smoke-test the canary"})
	}
	return nil
}

// canaryUntested reports whether the canary waits for a smoke test that never passed.
func (live *liveWorker) canaryUntested() bool {
	return live.canary != nil && live.smokePending && !slices.Contains(live.tags, testedTag(live.canary.ID))
}

// percentText writes a share: 10%, 12.5%.
func percentText(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64) + "%"
}

// shares is the deployment c makes with version as its canary.
func (c *CanaryPlan) shares(version string) []DeploymentShare {
	if c.Percent >= 100 {
		return []DeploymentShare{{VersionID: version, Percentage: 100}}
	}
	return []DeploymentShare{{VersionID: c.Stable, Percentage: 100 - c.Percent}, {VersionID: version, Percentage: c.Percent}}
}
