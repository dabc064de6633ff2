package provision

import (
	"context"
	"fmt"
	"time"
)

// PendingRotation reports the expiry of a rotation window the live worker holds, so plans can
// show it. It is information, not a change: apply keeps API_KEY_PREVIOUS and its expiry.
func (wp WorkerPlan) PendingRotation() (expires string, ok bool) {
	if wp.live == nil {
		return "", false
	}
	expires, ok = wp.live.reservedVars[RotationExpiresBinding]
	if ok && isInertExpiry(expires, wp.live.previousKey) {
		return "", false
	}
	return expires, ok
}

// rotationNote is the plan's informational line about a pending rotation, "" when none.
func rotationNote(wp WorkerPlan) string {
	expires, ok := wp.PendingRotation()
	if !ok {
		return ""
	}
	if RotationExpired(expires, time.Now()) {
		return fmt.Sprintf("key rotation window ended %s: the previous key is refused; apply removes it", expires)
	}
	return fmt.Sprintf("key rotation pending until %s: the previous key is still accepted (not a change; apply keeps it)", expires)
}

// diffExpiredRotation plans the end of a rotation whose grace window has passed. The worker
// already refuses the previous key; removing it (and its expiry) is housekeeping that apply does,
// so an apply after the window finishes the rotation as `rotate-key --finish` would. A rotation
// still inside its window is never touched: apply does not undo rotations.
func diffExpiredRotation(d *desiredWorker, live *liveWorker, now time.Time, add func(Change)) {
	expires, ok := live.reservedVars[RotationExpiresBinding]
	if !ok || isInertExpiry(expires, live.previousKey) || !RotationExpired(expires, now) || d.rotateFrom != "" {
		return // (a key change in this same upload starts a new window instead)
	}
	d.finishRotation = true
	add(Change{Path: "secrets." + RotationPreviousBinding, Op: OpRemove,
		Old: fmt.Sprintf("(sensitive, rotation window ended %s)", expires)})
}

// finishExpiredRotation removes the previous key and its expiry from a worker whose rotation
// window has ended, with the same idempotent steps as `rotate-key --finish`.
func (e *Engine) finishExpiredRotation(ctx context.Context, accountID, name string) error {
	st, err := e.readRotation(ctx, accountID, name)
	if err != nil {
		return err
	}
	r := &rotation{e: e, st: st, res: &RotateResult{Name: name, Mode: RotateFinish}}
	_, err = r.removePrevious(ctx, "flareform apply: key rotation window ended")
	return err
}
