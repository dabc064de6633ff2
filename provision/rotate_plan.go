package provision

import (
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
	return expires, ok
}

// rotationNote is the plan's informational line about a pending rotation, "" when none.
func rotationNote(wp WorkerPlan) string {
	expires, ok := wp.PendingRotation()
	if !ok {
		return ""
	}
	if RotationExpired(expires, time.Now()) {
		return fmt.Sprintf("key rotation window ended %s: the previous key is refused; `flareform rotate-key %s --finish` removes it", expires, wp.Name)
	}
	return fmt.Sprintf("key rotation pending until %s: the previous key is still accepted (not a change; apply keeps it)", expires)
}
