package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Untested versions. An apply uploads a version, then smoke-tests it; a run stopped in between
// (Ctrl-C, a crash, a lost connection) leaves code serving that no test has passed. So every
// version an apply will smoke-test is uploaded with smoke=pending in its annotation (identity.go),
// and once its smoke test passed the script gets the tag ff-tested-<hash of the version id>, in
// the same guarded write as the upload. A later plan that finds the serving version pending
// without its tag plans the worker as changed (upload and smoke-test again) instead of saying
// "No changes".
//
// Tags belong to the script, not to a version, so the tag names the version it vouches for; an
// upload keeps it (it vouches for a version that may be rolled back to), and it is replaced only
// when another version passes. A version that is not flareform's, or that was uploaded without a
// smoke test to run (--skip-smoke, no smoke block, no URL to test), is never pending.

const testedTagPrefix = "ff-tested-"

// testedTag is the tag that says versionID passed its smoke test.
func testedTag(versionID string) string {
	sum := sha256.Sum256([]byte("flareform-tested-v1\x00" + versionID))
	return testedTagPrefix + hex.EncodeToString(sum[:8])
}

// untested reports whether the serving version waits for a smoke test that never passed.
func (live *liveWorker) untested() bool {
	return live.exists && live.smokePending && live.versionID != "" && !slices.Contains(live.tags, testedTag(live.versionID))
}

// diffUntested plans the upload again for a serving version whose smoke test never passed: the
// same code, a new version, a smoke test. Nothing else differs, so the change says why.
func diffUntested(live *liveWorker, add func(Change)) {
	if live.untested() {
		add(Change{Path: "smoke", Op: OpChange,
			Old: fmt.Sprintf("not passed: version %s was uploaded by an apply that stopped before its smoke test passed", live.versionID),
			New: "upload again and smoke-test"})
	}
}

// withTested is tags with the tested tag of versionID in place of any earlier one.
func withTested(tags []string, versionID string) []string {
	out := slices.DeleteFunc(slices.Clone(tags), func(t string) bool { return strings.HasPrefix(t, testedTagPrefix) })
	return append(out, testedTag(versionID))
}

// markTested tags the script as having passed the smoke test of versionID: a write of the open
// guarded write w, which deploys nothing.
func (e *Engine) markTested(ctx context.Context, w *workerWrites, tags []string, versionID string) error {
	return w.do(ctx, "mark version "+versionID+" tested", func(ctx context.Context) error {
		return e.putScriptTags(ctx, w.accountID, w.name, withTested(tags, versionID))
	})
}
