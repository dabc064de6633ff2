package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flareform/flareform/provision/spec"
)

// PendingRotation reports the expiry of a rotation window the live worker holds, so plans can
// show it. It is information, not a change: apply keeps API_KEY_PREVIOUS and its expiry.
func (wp WorkerPlan) PendingRotation() (expires string, ok bool) {
	if wp.live == nil { // a plan read back from a file: what it recorded
		return wp.KeyRotationUntil, wp.KeyRotationUntil != ""
	}
	expires, ok = wp.live.reservedVars[RotationExpiresBinding]
	if ok && isInertExpiry(expires, wp.live.previousKey) {
		return "", false
	}
	return expires, ok
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
//
// Its writes carry the rotation's checks (each change checks what serves before it and adopts
// the version it deployed), so it returns the version that serves after them: what the rest of
// apply's guarded write builds on.
func (e *Engine) finishExpiredRotation(ctx context.Context, accountID, name string) (string, error) {
	st, err := e.readRotation(ctx, accountID, name)
	if err != nil {
		return "", err
	}
	r := &rotation{e: e, st: st, readVersion: st.versionID, res: &RotateResult{Name: name, Mode: RotateFinish}}
	if _, err = r.removePrevious(ctx, "flareform apply: key rotation window ended"); err != nil {
		return "", err
	}
	return st.versionID, nil
}

// PreviousKeyError refuses, before anything is written, an apply that would rotate an env/file
// key without the key the worker serves now: the upload keeps that key valid for the grace
// window by sending it as API_KEY_PREVIOUS (the API may not copy a secret under another name:
// cloudflare-operations.md 8.4), so it must know it.
type PreviousKeyError struct {
	Workers []string // script names
	Details []string // per worker: "binding, fp …[; why]"
}

func (e *PreviousKeyError) Error() string {
	return fmt.Sprintf("apply %s: keep the key it serves now working for the grace window (api_key.grace): the key source changed, "+
		"and apply sends the old key as %s, but none of the keys given is it (%s); nothing was changed. Pass the worker's current "+
		"key with --key-file FILE or FLAREFORM_API_KEY", strings.Join(e.Workers, ", "), RotationPreviousBinding, strings.Join(e.Details, "; "))
}

// resolvePreviousKeys finds, before any write, the key each worker whose env/file key changes
// serves now, among the keys the caller holds (ApplyOptions.Keys and KeyCandidates): the one
// whose fingerprint is the live one. When the worker records no fingerprint (its tags were
// wiped, or another party's version serves), the first key given that the worker accepts now
// (one request each): a key the caller merely names could be a stale one, and sending it would
// cut off the key clients hold.
func (e *Engine) resolvePreviousKeys(ctx context.Context, p *Plan, opts ApplyOptions) error {
	if err := checkNoRotationInProgress(p, time.Now()); err != nil {
		return err
	}
	missing := &PreviousKeyError{}
	for i := range p.Workers {
		wp := &p.Workers[i]
		d := wp.desired
		if d == nil || d.rotateFrom == "" || d.worker.APIKey == nil {
			continue
		}
		w := d.worker
		var cands []string
		for _, k := range append([]string{opts.Keys[w.Key], opts.Keys[w.Name]}, keyCandidates(opts, w)...) {
			if k != "" && !slices.Contains(cands, k) {
				cands = append(cands, k)
			}
		}
		d.previousKey = ""
		why := orUnknownFP(d.rotatedFP)
		// A fingerprint vouched for by the serving version's annotation names the key that
		// version holds. One read from the script's tags alone does not: a secret edit by
		// another party (wrangler secret put) makes a new version and leaves the tags as
		// they were, so the key is checked against the worker itself instead.
		if d.rotatedFP != "" && wp.live != nil && wp.live.identified {
			for _, k := range cands {
				if e.fingerprints.matches(d.rotatedFP, w.Name, w.APIKey.Binding, k) {
					d.previousKey = k
					break
				}
			}
		} else if len(cands) > 0 {
			var err error
			if d.previousKey, err = e.acceptedKey(ctx, p.AccountID, w, cands); err != nil {
				why += "; " + err.Error()
			} else if d.previousKey == "" {
				why += "; the worker accepts none of the keys given"
			}
		}
		if d.previousKey == "" {
			missing.Workers = append(missing.Workers, wp.Name)
			missing.Details = append(missing.Details, fmt.Sprintf("%s: %s, %s", wp.Name, w.APIKey.Binding, why))
		}
	}
	if len(missing.Workers) > 0 {
		return missing
	}
	return nil
}

// RotationInProgressApplyError refuses, before anything is written, an apply whose changed
// env/file key would start a key rotation on a worker where one is in progress (its previous
// key still accepted): the upload would make the current key the previous one, so the key
// clients may still use from the earlier rotation would be refused at once, although it was
// promised its window. One rotation at a time, as rotate-key does (RotationInProgressError).
type RotationInProgressApplyError struct {
	Workers []string // script names
	Details []string // per worker: "name: previous key fp …, valid until …"
}

func (e *RotationInProgressApplyError) Error() string {
	finish := make([]string, len(e.Workers))
	for i, name := range e.Workers {
		finish[i] = "`flareform rotate-key " + name + " --finish`"
	}
	return fmt.Sprintf("apply %s: %s (%s): the key source changed, which starts a new rotation and would replace the previous key, "+
		"so clients still using it would be refused at once; nothing was changed. End the current rotation first with %s "+
		"(the previous key is refused from then on) and apply again, or keep the key source at the current key until the window ends",
		strings.Join(e.Workers, ", "), ErrRotationInProgress, strings.Join(e.Details, "; "), strings.Join(finish, ", "))
}

func (e *RotationInProgressApplyError) Unwrap() error { return ErrRotationInProgress }

// checkNoRotationInProgress refuses a plan that changes the env/file key of a worker whose
// rotation window is still open.
func checkNoRotationInProgress(p *Plan, now time.Time) error {
	busy := &RotationInProgressApplyError{}
	for i := range p.Workers {
		wp := &p.Workers[i]
		if wp.desired == nil || wp.desired.rotateFrom == "" || wp.live == nil || !wp.live.previousKey {
			continue
		}
		expires, ok := wp.live.reservedVars[RotationExpiresBinding]
		if !ok || RotationExpired(expires, now) {
			continue // the window has ended: the previous key is refused already
		}
		busy.Workers = append(busy.Workers, wp.Name)
		busy.Details = append(busy.Details, fmt.Sprintf("%s: previous key %s valid until %s", wp.Name, orUnknownFP(tagValue(wp.live.tags, prevTagPrefix+tagSafe(RotationKeyBinding)+"-")), expires))
	}
	if len(busy.Workers) > 0 {
		return busy
	}
	return nil
}

func keyCandidates(opts ApplyOptions, w spec.Worker) []string {
	if opts.KeyCandidates == nil {
		return nil
	}
	return opts.KeyCandidates(w)
}

// acceptedKey is the first of keys the live worker accepts now, "" when it accepts none.
func (e *Engine) acceptedKey(ctx context.Context, accountID string, w spec.Worker, keys []string) (string, error) {
	probe, err := e.newKeyProbe(ctx, accountID, w.Name, w.Smoke)
	if err != nil {
		return "", fmt.Errorf("cannot check the keys given: %w", err)
	}
	probe.rateLimited = w.RateLimit != nil
	for _, k := range keys {
		if probe.acceptsNow(ctx, "key the worker serves", k).Passed {
			return k, nil
		}
	}
	return "", nil
}
