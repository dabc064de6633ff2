package provision

import (
	"context"
	"fmt"
)

// Whether a settings PATCH's bindings replace the binding set or merge into it is UNCONFIRMED
// (docs/local-cloudflare.md, quirk settings_bindings_replace). Under merge, leaving
// API_KEY_PREVIOUS_EXPIRES out of the PATCH does not remove it, and no PATCH can. An expiry
// left without API_KEY_PREVIOUS is inert (the worker checks it only with a previous key), so
// the fallback sets it to inertExpiry, a closed window that also marks it as left behind on
// purpose: later runs and plans treat it as absent instead of trying to remove it forever.

// inertExpiry is the expiry value that means "removed, but the API would not drop it". It is a
// past date (so the window is closed) distinct from expiredAt, which revoke writes.
const inertExpiry = "0001-01-01T00:00:00Z"

// isInertExpiry reports whether an expiry binding with value expires is the inert leftover.
func isInertExpiry(expires string, previousKey bool) bool {
	return !previousKey && expires == inertExpiry
}

// expiryInert reports whether the live API_KEY_PREVIOUS_EXPIRES is the inert leftover.
func (st *rotationState) expiryInert() bool {
	return st.hasExpires && isInertExpiry(st.expires, st.hasPrevious)
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
	// An expiry found after this change is a merge leftover only when nothing was deployed
	// between this run's read and its change: another run's rotation landing there set one of its
	// own, and closing it would cut that run's window (its version is put back instead).
	if err := r.checkNothingBetween(ctx); err != nil {
		return err
	}
	settings, err := r.e.getSettings(ctx, st.accountID, st.name)
	if err != nil {
		return fmt.Errorf("read back settings: %w", err)
	}
	if settings == nil {
		return changedError(st.name, "the script is gone: another run deleted it after this run's change")
	}
	for _, b := range settings.Bindings {
		if b.Name != RotationExpiresBinding {
			continue
		}
		st.bindings = append(st.bindings, RotationExpiresBinding)
		r.e.logf("%s: Cloudflare kept the previous key's grace deadline; moving it into the past instead, so the previous key stays refused", st.name)
		expire := settingsChange{plain: map[string]string{RotationExpiresBinding: inertExpiry}, tags: tags}
		if err := r.e.patchRotationSettings(ctx, st, expire, message); err != nil {
			return err
		}
		st.applied(expire, st.keyFP, "", st.pendingFP)
	}
	return nil
}
