package provision

import (
	"context"
	"fmt"
	"time"
)

// Whether a settings PATCH's bindings replace the binding set or merge into it is UNCONFIRMED
// (docs/local-cloudflare.md, quirk settings_bindings_replace). Under merge, leaving
// API_KEY_PREVIOUS_EXPIRES out of the PATCH does not remove it, and no PATCH can. An expiry
// left without API_KEY_PREVIOUS is inert (the worker checks it only with a previous key), so
// the fallback is to make it expired as well and to treat an expired, key-less expiry as done.

// expiryInert reports whether API_KEY_PREVIOUS_EXPIRES can stay: no previous key, window closed.
func (st *rotationState) expiryInert(now time.Time) bool {
	return st.hasExpires && !st.hasPrevious && st.previousExpired(now)
}

// dropExpiry removes API_KEY_PREVIOUS_EXPIRES (and sets tags) with one settings PATCH; when the
// API merged the PATCH and kept the binding, it closes the window with a second PATCH instead.
func (r *rotation) dropExpiry(ctx context.Context, tags []string, message string) error {
	st := r.st
	change := settingsChange{drop: []string{RotationExpiresBinding}, tags: tags}
	if err := r.e.patchRotationSettings(ctx, st, change, message); err != nil {
		return err
	}
	st.applied(change, st.keyFP, "", st.pendingFP)
	settings, err := r.e.getSettings(ctx, st.accountID, st.name)
	if err != nil {
		return fmt.Errorf("read back settings: %w", err)
	}
	for _, b := range settings.Bindings {
		if b.Name != RotationExpiresBinding {
			continue
		}
		st.bindings = append(st.bindings, RotationExpiresBinding)
		r.e.logf("%s: the API kept %s (it merges settings bindings); closing its window instead", st.name, RotationExpiresBinding)
		expire := settingsChange{plain: map[string]string{RotationExpiresBinding: expiredAt}, tags: tags}
		if err := r.e.patchRotationSettings(ctx, st, expire, message); err != nil {
			return err
		}
		st.applied(expire, st.keyFP, "", st.pendingFP)
	}
	return nil
}
