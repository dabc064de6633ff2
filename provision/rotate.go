package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flareform/flareform/provision/spec"
)

// Key rotation (docs/rotation.md). The live worker is the only state: its bindings say which
// phase it is in (API_KEY_PREVIOUS present = rotating) and its tags record fingerprints of the
// current key, the previous key and a key that was deployed but not yet handed over.
//
// A rotation sends the old key's value as API_KEY_PREVIOUS, in the same change that sets the new
// key and the expiry. It does not copy it on the server (an inherit binding whose old_name
// renames API_KEY): that the API renames secret_text bindings that way is UNCONFIRMED
// (cloudflare-operations.md 8.4; localcf quirk secret_rename_inherit). So a rotation needs the
// current key: from --old-key-file, the project's key store or a key the caller holds, matched
// by fingerprint; without it the run stops before any write.

// Binding names of the rotation contract every template implements.
const (
	RotationKeyBinding      = "API_KEY"
	RotationPreviousBinding = "API_KEY_PREVIOUS"
	RotationExpiresBinding  = "API_KEY_PREVIOUS_EXPIRES"
)

// DefaultGrace is how long the previous key keeps working after a rotation.
const DefaultGrace = 24 * time.Hour

// expiredAt is the expiry written to revoke the previous key at once: any past time closes
// the worker's grace window.
const expiredAt = "1970-01-01T00:00:00Z"

// Tag prefixes of rotation, next to the engine's ff-key-<binding>-<fp>. They do not start with
// "ff-key-", so plan and apply keep them untouched.
const (
	prevTagPrefix    = "ff-prev-"
	pendingTagPrefix = "ff-pending-"
)

// RotateMode is what RotateKey does.
type RotateMode string

// Rotation modes.
const (
	RotateStart  RotateMode = "rotate" // new key, previous key valid for the grace window
	RotateFinish RotateMode = "finish" // end the grace window now
	RotateRevoke RotateMode = "revoke" // new key, every other key dead at once
)

// Rotation phases read from the live worker.
const (
	PhaseStable   = "stable"   // no previous key
	PhaseRotating = "rotating" // API_KEY_PREVIOUS present (its window may have expired)
)

// RotateOptions says which worker to rotate and how.
type RotateOptions struct {
	AccountID string // "" = Config.AccountID
	Name      string // script name
	Mode      RotateMode
	Grace     time.Duration // rotate only; default DefaultGrace
	// NewKey is the key to deploy for rotate and revoke ("" = generate one), and the current
	// key to verify for finish.
	NewKey string
	// OldKey is the key being retired, when the caller knows it: it must keep working during a
	// rotation and get 401 after finish or revoke.
	OldKey string
	// KnownKeys are keys the caller holds, such as the --key-out file of an earlier run. One whose
	// fingerprint is the deployed-but-not-handed-over key lets a re-run resume instead of
	// deploying again; one matching the current key serves as OldKey.
	KnownKeys []string
	// Smoke shapes the probe requests (path, prompt, statuses); nil = template defaults.
	Smoke *spec.Smoke
	// RateLimited: the worker has a per-key rate_limit. A key its callers have used up answers
	// 429 with Retry-After, which the probes then take as accepted (see keyProbe.expect).
	RateLimited bool
	// Handover receives a new key once it is deployed and verified, before the worker records
	// it as handed over. It must put the key where the user gets it (a 0600 file, stdout, the
	// JSON result) or fail; on failure the key stays marked as not handed over.
	Handover func(ctx context.Context, key string, r *RotateResult) error
	// RecordKey, when set, is given a new key before the change that deploys it (the project's
	// key store keeps it as pending), so a crash after the deploy cannot lose it.
	RecordKey func(key string) error
	// DropPrevious lets a rotation start while another one is in progress (API_KEY_PREVIOUS
	// still accepted): the previous key is then refused at once, its window cut short. Without
	// it such a rotation is refused before any write (RotationInProgressError).
	DropPrevious bool
	// DoneKeys are keys an earlier run of this command already handed over (its --key-out
	// file). When the worker's current key is one of them and the previous key's window is
	// still open, that rotation is complete: a re-run reports it instead of starting another
	// one, which would cut the window short.
	DoneKeys []string
	// Consumer, when set, rotates that consumer's key instead of the owner's
	// (rotate_consumer.go): one write of the consumer table, the other entries unchanged.
	Consumer string
	// Held is the project's key store: the consumer salt and the consumers' keys, which a
	// rewrite of the table needs (their macs), and pending keys a re-run resumes with.
	Held KeyLookup
	// ConsumerKeys are keys the caller holds per consumer name (the spec's env:/file: sources,
	// --key-file lines <worker>/<consumer>=KEY, FLAREFORM_API_KEY_<WORKER>__<CONSUMER>).
	ConsumerKeys map[string][]string
}

// RotateResult is what RotateKey did. It never holds a key except NewKey, which is not
// marshalled.
type RotateResult struct {
	Name string `json:"name"`
	// Consumer is the consumer whose key was rotated; "" for the owner's key.
	Consumer string     `json:"consumer,omitempty"`
	Mode     RotateMode `json:"mode"`
	Action   string     `json:"action"` // see the rotateAction* constants
	Phase    string     `json:"phase"`  // after the command
	// KeyFingerprint is the current key's; PreviousFingerprint the previous key's, while one is
	// still deployed.
	KeyFingerprint      string     `json:"key_fingerprint,omitempty"`
	PreviousFingerprint string     `json:"previous_fingerprint,omitempty"`
	PreviousExpires     string     `json:"previous_expires,omitempty"`
	Generated           bool       `json:"generated"`   // NewKey was generated by this run
	HandedOver          bool       `json:"handed_over"` // Handover accepted NewKey
	Checks              []KeyCheck `json:"checks"`
	NewKey              string     `json:"-"`
	// DroppedPrevious is the fingerprint of the previous key a DropPrevious rotation cut off
	// before its window ended ("unknown" when the worker did not record it), and
	// DroppedPreviousExpires when that window would have ended.
	DroppedPrevious        string `json:"dropped_previous,omitempty"`
	DroppedPreviousExpires string `json:"dropped_previous_expires,omitempty"`
}

// Actions a RotateResult reports.
const (
	rotateActionRotated   = "rotated"
	rotateActionResumed   = "resumed"           // an interrupted run's deploy was verified and completed
	rotateActionReplaced  = "replaced-unhanded" // an interrupted run's key was never handed over: replaced
	rotateActionFinished  = "finished"
	rotateActionRevoked   = "revoked"
	rotateActionUnchanged = "unchanged" // nothing left to do; only verified
	// rotateActionAlreadyDone: a re-run of a rotation that had completed; only verified.
	rotateActionAlreadyDone = "already-rotated"
)

// KeyCheck is one probe of the deployed worker with some key.
type KeyCheck struct {
	Name    string `json:"name"` // "new key accepted", "old key rejected", ...
	Passed  bool   `json:"passed"`
	Skipped string `json:"skipped,omitempty"`
	Status  int    `json:"status,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// RotateKey rotates, finishes or revokes the API key of one deployed worker and verifies the
// result over workers.dev. Re-running it after an interruption converges: the live worker
// says where the last run stopped.
func (e *Engine) RotateKey(ctx context.Context, opts RotateOptions) (*RotateResult, error) {
	if err := validateRotateOptions(&opts); err != nil {
		return nil, err
	}
	accountID, err := e.accountID(opts.AccountID)
	if err != nil {
		return nil, err
	}
	st, err := e.readRotation(ctx, accountID, opts.Name)
	if err != nil {
		return nil, fmt.Errorf("rotate-key %s: %w", opts.Name, err)
	}
	probe, err := e.newKeyProbe(ctx, accountID, opts.Name, opts.Smoke)
	if err != nil {
		return nil, fmt.Errorf("rotate-key %s: %w", opts.Name, err)
	}
	probe.rateLimited = opts.RateLimited
	r := &rotation{e: e, opts: opts, st: st, probe: probe, readVersion: st.versionID, readKeyFP: st.keyFP,
		res: &RotateResult{Name: opts.Name, Mode: opts.Mode, Consumer: opts.Consumer}}
	switch {
	case opts.Consumer != "":
		err = r.rotateConsumer(ctx)
	case opts.Mode == RotateStart:
		err = r.rotate(ctx)
	case opts.Mode == RotateFinish:
		err = r.finish(ctx)
	case opts.Mode == RotateRevoke:
		err = r.revoke(ctx)
	}
	if err == nil {
		// The probes, the hand-over and its record (a tags write) all follow the last check of
		// what serves: another writer's change landing there would go unnoticed and exit 0
		// would lie about the keys. So the run's last call checks it once more.
		if err = e.checkStillServes(ctx, st); err != nil {
			err = fmt.Errorf("%w; after the checks above passed", err)
		}
	}
	r.describe()
	if err != nil {
		if opts.Consumer != "" {
			return r.res, fmt.Errorf("rotate-key %s --consumer %s: %w", opts.Name, opts.Consumer, err)
		}
		return r.res, fmt.Errorf("rotate-key %s: %w", opts.Name, err)
	}
	return r.res, nil
}

func validateRotateOptions(opts *RotateOptions) error {
	if opts.Name == "" {
		return errors.New("rotate-key: no worker name")
	}
	switch opts.Mode {
	case "":
		opts.Mode = RotateStart
	case RotateStart, RotateFinish, RotateRevoke:
	default:
		return fmt.Errorf("rotate-key: unknown mode %q (want rotate, finish or revoke)", opts.Mode)
	}
	if opts.Grace == 0 {
		opts.Grace = DefaultGrace
	}
	if opts.Grace < 0 {
		return fmt.Errorf("rotate-key: grace %s must not be negative (use --revoke to end the old key at once)", opts.Grace)
	}
	return nil
}

// rotation is one RotateKey run.
type rotation struct {
	e     *Engine
	opts  RotateOptions
	st    *rotationState
	probe *keyProbe
	res   *RotateResult
	// readVersion and readKeyFP are the serving version and key this run read first, before
	// any change of its own (see checkNothingBetween).
	readVersion, readKeyFP string
	cons                   *consumerRotation // a consumer's rotation (rotate_consumer.go)
}

// rotate: deploy API_KEY=new, API_KEY_PREVIOUS=old (until now+grace) in one change, verify
// both keys, hand the new key over, then record that it was.
func (r *rotation) rotate(ctx context.Context) error {
	st := r.st
	if st.pendingKey() {
		if key := r.heldKey(st.keyFP); key != "" {
			r.res.Action = rotateActionResumed
			r.e.logf("%s: resuming: the key deployed by an interrupted run is verified and handed over now", st.name)
			return r.verifyAndHandOver(ctx, key, r.opts.OldKey, true)
		}
		if st.hasPrevious {
			// Nobody holds the deployed key, while clients still hold the previous one: keep
			// that, replace the unknown key with a fresh one.
			return r.replaceUnhanded(ctx)
		}
	}
	if done := r.doneKey(); done != "" {
		r.res.Action = rotateActionAlreadyDone
		r.e.logf("%s: this rotation is already complete: the handed-over key (fp %s) is live and the previous key stays valid until %s; "+
			"run `flareform rotate-key %s --finish` to end that window before rotating again", st.name, st.keyFP, st.expires, st.name)
		return r.verifyAndHandOver(ctx, done, r.opts.OldKey, false)
	}
	if r.opts.NewKey != "" && st.matches(st.keyFP, r.opts.NewKey) {
		r.res.Action = rotateActionUnchanged
		r.e.logf("%s: the given key is already the current key; verifying", st.name)
		return r.verifyAndHandOver(ctx, r.opts.NewKey, r.opts.OldKey, false)
	}
	inProgress := st.rotationInProgress(time.Now())
	if inProgress && !r.opts.DropPrevious {
		return &RotationInProgressError{Name: st.name, PreviousFingerprint: st.prevFP, Expires: st.expires}
	}
	if st.versionID == "" {
		return errors.New("cannot tell which version is deployed, so the rotation cannot build on it; deploy with `flareform apply` first")
	}
	oldKey, err := r.currentKey(ctx)
	if err != nil {
		return err
	}
	newKey, err := r.newKey()
	if err != nil {
		return err
	}
	newFP := st.fingerprint(newKey)
	prevFP := st.keyFP
	if prevFP == "" {
		prevFP = st.fingerprint(oldKey)
	}
	expires := time.Now().Add(r.opts.Grace).UTC().Format(time.RFC3339)
	// The old key is sent by value: a retried PATCH (a lost answer) sends the same old key
	// again, never the new key a first attempt may already have deployed.
	change := settingsChange{
		secrets: map[string]string{RotationKeyBinding: newKey, RotationPreviousBinding: oldKey},
		plain:   map[string]string{RotationExpiresBinding: expires},
		tags:    rotationTags(st.tags, newFP, prevFP, newFP),
	}
	dropped, droppedExpires := st.prevFP, st.expires
	if inProgress {
		r.e.logf("%s: --drop-previous: the previous key (fp %s), valid until %s, is refused from this change on", st.name, orUnknown(st.prevFP), st.expires)
	} else if st.hasPrevious {
		r.e.logf("%s: the previous key (fp %s), whose window has ended, is replaced by this rotation", st.name, orUnknown(st.prevFP))
	}
	r.e.logf("%s: deploying new key (fp %s); the old key (fp %s) stays valid until %s", st.name, newFP, prevFP, expires)
	if err := r.e.patchRotationSettings(ctx, st, change, "flareform rotate-key: new key fp "+newFP); err != nil {
		return fmt.Errorf("deploy new key: %w", explainLatestNotDeployed(err))
	}
	if inProgress {
		// Said in the result, not only in the log: the user asked for it, and it is a key that
		// clients may still use that stopped working.
		r.res.DroppedPrevious, r.res.DroppedPreviousExpires = orUnknown(dropped), droppedExpires
	}
	st.applied(change, newFP, prevFP, newFP)
	r.res.Action = rotateActionRotated
	return r.verifyAndHandOver(ctx, newKey, oldKey, true)
}

// ErrRotationInProgress marks a rotation refused before any write because another one is in
// progress: its previous key is still accepted, and a new rotation would replace it.
var ErrRotationInProgress = errors.New("a key rotation is in progress")

// RotationInProgressError refuses a rotation that would cut the grace window of the one in
// progress: a new rotation makes the current key the previous one, so the key clients may
// still use from the earlier rotation would be refused at once although it was promised a
// window (docs/rotation.md). Like AWS Secrets Manager, one rotation at a time.
type RotationInProgressError struct {
	Name                string // script name
	PreviousFingerprint string // "" when the worker does not record it
	Expires             string // when the in-progress window ends
}

func (e *RotationInProgressError) Error() string {
	return fmt.Sprintf("%s on %s: the previous key (fp %s) stays valid until %s, and a new rotation would replace it, "+
		"so clients still using it would be refused at once; nothing was changed. Either end the current rotation first "+
		"with `flareform rotate-key %s --finish` (the previous key is refused from then on) and rotate again; or, for a "+
		"leaked key, `flareform rotate-key %s --revoke` (new key, every other key refused at once); or start the new "+
		"rotation now and cut the previous key's window with `flareform rotate-key %s --drop-previous`; or wait until %s",
		ErrRotationInProgress, e.Name, orUnknown(e.PreviousFingerprint), e.Expires, e.Name, e.Name, e.Name, e.Expires)
}

func (e *RotationInProgressError) Unwrap() error { return ErrRotationInProgress }

// ErrOldKeyUnknown marks a rotation refused before any write because the run does not hold the
// worker's current key, which the rotation must send as API_KEY_PREVIOUS.
var ErrOldKeyUnknown = errors.New("the worker's current key is needed to keep it working during the grace window")

// currentKey is the key API_KEY holds now, which the rotation keeps as API_KEY_PREVIOUS: the
// caller's key whose fingerprint is the live one (--old-key-file, the key store, a key file).
// When the fingerprint is unknown, only a key the caller named as the old key is taken. When
// the serving version did not itself record its key (a secret edited outside flareform keeps
// stale tags), the key is first checked against the worker. Every failure comes before any
// write: sending a key clients do not hold would cut them off.
func (r *rotation) currentKey(ctx context.Context) (string, error) {
	st := r.st
	key := ""
	switch {
	case st.keyFP != "":
		if key = r.heldKey(st.keyFP); key == "" && r.opts.OldKey != "" {
			what := "the current key (fp " + st.keyFP + ")"
			if st.prevFP != "" && st.matches(st.prevFP, r.opts.OldKey) {
				what += "; it is the previous key, still valid until " + st.expires
			}
			return "", fmt.Errorf("%w: the old key given is not %s; nothing was changed. Pass the key clients use now with --old-key-file FILE",
				ErrOldKeyUnknown, what)
		}
	case r.opts.OldKey != "" && !(st.prevFP != "" && st.matches(st.prevFP, r.opts.OldKey)):
		key = r.opts.OldKey
	}
	if key == "" {
		return "", fmt.Errorf("%w: worker %s serves key %s, which this run does not hold, and a rotation sends it as %s "+
			"(the API may not copy a secret under another name); nothing was changed. Pass it with --old-key-file FILE, "+
			"or replace it without a grace window with --revoke", ErrOldKeyUnknown, st.name, describeFP(st.keyFP), RotationPreviousBinding)
	}
	if !st.keyVouched {
		check := r.probe.acceptsNow(ctx, "old key accepted before the change", key)
		r.res.Checks = append(r.res.Checks, check)
		if !check.Passed {
			return "", fmt.Errorf("%w: the worker does not accept the old key given (%s); nothing was changed. Pass the key clients use now with --old-key-file FILE",
				ErrOldKeyUnknown, check.Detail)
		}
	}
	return key, nil
}

func describeFP(fp string) string {
	if fp == "" {
		return "(fingerprint unknown)"
	}
	return "fp " + fp
}

// replaceUnhanded replaces a key that an interrupted run deployed but never handed over,
// keeping API_KEY_PREVIOUS (the key clients hold) and restarting its grace window.
func (r *rotation) replaceUnhanded(ctx context.Context) error {
	st := r.st
	newKey, err := r.newKey()
	if err != nil {
		return err
	}
	newFP := st.fingerprint(newKey)
	expires := time.Now().Add(r.opts.Grace).UTC().Format(time.RFC3339)
	change := settingsChange{
		secrets: map[string]string{RotationKeyBinding: newKey},
		plain:   map[string]string{RotationExpiresBinding: expires},
		tags:    rotationTags(st.tags, newFP, st.prevFP, newFP),
	}
	r.e.logf("%s: an interrupted run deployed key fp %s but never handed it over; replacing it with fp %s (the previous key stays valid until %s)",
		st.name, st.keyFP, newFP, expires)
	if err := r.e.patchRotationSettings(ctx, st, change, "flareform rotate-key: replace key fp "+st.keyFP+" that was never handed over"); err != nil {
		return fmt.Errorf("replace the key that was never handed over: %w", err)
	}
	st.applied(change, newFP, st.prevFP, newFP)
	r.res.Action = rotateActionReplaced
	return r.verifyAndHandOver(ctx, newKey, r.opts.OldKey, true)
}

// verifyAndHandOver checks that the new key works (and the old one, when known, still does),
// hands the new key over and then clears the pending mark.
func (r *rotation) verifyAndHandOver(ctx context.Context, newKey, oldKey string, handOver bool) error {
	r.res.NewKey = newKey
	checks := []KeyCheck{r.probe.expect(ctx, "new key accepted", newKey, r.probe.okStatus)}
	if r.st.hasPrevious && !r.st.previousExpired(time.Now()) {
		checks = append(checks, r.checkOptional(ctx, "old key still accepted", oldKey, r.probe.okStatus))
	}
	checks = append(checks, r.probe.expect(ctx, "random key rejected", randomKey(), r.probe.deniedStatus))
	r.res.Checks = append(r.res.Checks, checks...)
	if err := firstFailure(checks); err != nil {
		return fmt.Errorf("%w; the new key was not handed over, re-run the command to replace it", err)
	}
	// What the probes reached must still be this run's version, and no other run's version may
	// have been deployed between this run's read and its change (it would have been replaced).
	if err := r.e.checkStillServes(ctx, r.st); err != nil {
		return err
	}
	if err := r.checkNothingBetween(ctx); err != nil {
		return err
	}
	if handOver {
		if err := r.handOver(ctx, newKey); err != nil {
			return err
		}
	}
	return r.clearPending(ctx)
}

func (r *rotation) handOver(ctx context.Context, key string) error {
	if r.opts.Handover == nil {
		return nil
	}
	r.describe()
	// Set first: a JSON hand-over carries the result, and says in it that it is the hand-over.
	r.res.HandedOver = true
	if err := r.opts.Handover(ctx, key, r.res); err != nil {
		r.res.HandedOver = false
		return fmt.Errorf("hand over the new key (fp %s): %w; it is deployed and verified, re-run the command to complete", r.st.fingerprint(key), err)
	}
	return nil
}

// clearPending records on the worker that its key was handed over.
func (r *rotation) clearPending(ctx context.Context) error {
	st := r.st
	if st.pendingFP == "" {
		return nil
	}
	tags := rotationTags(st.tags, st.keyFP, st.prevFP, "")
	if err := r.e.setScriptTags(ctx, st, tags); err != nil {
		if r.opts.RecordKey != nil {
			// The key store holds the key: a plain re-run finds it, verifies it and completes.
			return fmt.Errorf("record that the new key (fp %s) was handed over: %w; it is deployed, works and is kept in the "+
				"project's key store: re-run the command to complete (it hands the same key over again)", st.keyFP, err)
		}
		return fmt.Errorf("record that the new key (fp %s) was handed over: %w; it is deployed and works: re-run with --from "+
			"(or --key-out) holding it to complete, as a plain re-run replaces it (the previous key stays valid)", st.keyFP, err)
	}
	st.tags, st.pendingFP = tags, ""
	return nil
}

// finish removes the previous key (it dies at once) and then its expiry, and verifies.
func (r *rotation) finish(ctx context.Context) error {
	st := r.st
	oldKey := r.opts.OldKey
	if oldKey == "" {
		oldKey = r.heldKey(st.prevFP)
	}
	changed, err := r.removePrevious(ctx, "flareform rotate-key --finish")
	if err != nil {
		return err
	}
	// Another rotation deployed between this run's read and its writes would have lost its
	// previous key's window to them: its version is put back, and the run fails.
	if err := r.checkNothingBetween(ctx); err != nil {
		return err
	}
	r.res.Action = rotateActionFinished
	if !changed {
		r.res.Action = rotateActionUnchanged
	}
	checks := []KeyCheck{
		r.checkOptional(ctx, "old key rejected", oldKey, r.probe.deniedStatus),
		r.checkOptional(ctx, "current key accepted", r.opts.NewKey, r.probe.okStatus),
		r.probe.expect(ctx, "random key rejected", randomKey(), r.probe.deniedStatus),
	}
	r.res.Checks = append(r.res.Checks, checks...)
	return firstFailure(checks)
}

// removePrevious deletes API_KEY_PREVIOUS, then API_KEY_PREVIOUS_EXPIRES and the rotation tags.
// Each step is idempotent, so an interrupted finish is completed by running it again.
func (r *rotation) removePrevious(ctx context.Context, message string) (changed bool, err error) {
	st := r.st
	if st.hasPrevious {
		r.e.logf("%s: removing the previous key (fp %s)", st.name, orUnknown(st.prevFP))
		if err := r.e.deleteSecret(ctx, st, RotationPreviousBinding, false); err != nil {
			return changed, fmt.Errorf("remove the previous key: %w", err)
		}
		st.hasPrevious, changed = false, true
	}
	tags := rotationTags(st.tags, st.keyFP, "", st.pendingFP)
	switch {
	case st.hasExpires && !st.expiryInert():
		if err := r.dropExpiry(ctx, tags, message); err != nil {
			return changed, fmt.Errorf("remove the previous key's grace deadline: %w", err)
		}
		changed = true
	case !sameStrings(tags, st.tags):
		if err := r.e.setScriptTags(ctx, st, tags); err != nil {
			return changed, fmt.Errorf("record on the script that the rotation ended: %w", err)
		}
		st.tags, st.prevFP = tags, ""
	}
	return changed, nil
}

// revoke deploys a new key and, in the same change, closes the previous key's window; then it
// removes the previous key for good, verifies that the old key is refused and hands over.
func (r *rotation) revoke(ctx context.Context) error {
	st := r.st
	if st.pendingKey() {
		if key := r.heldKey(st.keyFP); key != "" {
			r.res.Action = rotateActionResumed
			return r.completeRevoke(ctx, key, r.opts.OldKey)
		}
	}
	oldKey := r.opts.OldKey
	if oldKey == "" && !st.pendingKey() {
		oldKey = r.heldKey(st.keyFP)
	}
	newKey, err := r.newKey()
	if err != nil {
		return err
	}
	if !st.pendingKey() && st.matches(st.keyFP, newKey) {
		return errors.New("the new key is the current key; give a different key or let one be generated")
	}
	newFP := st.fingerprint(newKey)
	change := settingsChange{
		secrets: map[string]string{RotationKeyBinding: newKey},
		tags:    rotationTags(st.tags, newFP, "", newFP),
	}
	if st.hasPrevious {
		change.plain = map[string]string{RotationExpiresBinding: expiredAt}
	}
	r.e.logf("%s: revoking: deploying new key (fp %s); the old key (fp %s) stops working now", st.name, newFP, orUnknown(st.keyFP))
	if err := r.e.patchRotationSettings(ctx, st, change, "flareform rotate-key --revoke: new key fp "+newFP); err != nil {
		return fmt.Errorf("deploy new key: %w", err)
	}
	st.applied(change, newFP, "", newFP)
	r.res.Action = rotateActionRevoked
	return r.completeRevoke(ctx, newKey, oldKey)
}

func (r *rotation) completeRevoke(ctx context.Context, newKey, oldKey string) error {
	r.res.NewKey = newKey
	// Checked before removePrevious: the secret deletion's version carries no annotation of
	// this run, so after it the run could not tell its own versions from another run's.
	if err := r.checkNothingBetween(ctx); err != nil {
		return err
	}
	if _, err := r.removePrevious(ctx, "flareform rotate-key --revoke: remove previous key"); err != nil {
		return err
	}
	checks := []KeyCheck{
		r.probe.expect(ctx, "new key accepted", newKey, r.probe.okStatus),
		r.checkOptional(ctx, "old key rejected", oldKey, r.probe.deniedStatus),
		r.probe.expect(ctx, "random key rejected", randomKey(), r.probe.deniedStatus),
	}
	r.res.Checks = append(r.res.Checks, checks...)
	if err := firstFailure(checks); err != nil {
		return fmt.Errorf("%w; the new key was not handed over, re-run the command", err)
	}
	if err := r.handOver(ctx, newKey); err != nil {
		return err
	}
	return r.clearPending(ctx)
}

// checkOptional probes with key when the caller knows it, and records why not otherwise.
func (r *rotation) checkOptional(ctx context.Context, name, key string, want int) KeyCheck {
	if key == "" {
		return KeyCheck{Name: name, Skipped: "key unknown to this run; pass it (--old-key-file / --key-file) to check it"}
	}
	return r.probe.expect(ctx, name, key, want)
}

// heldKey is the caller's key whose fingerprint is fp, "" when none is.
func (r *rotation) heldKey(fp string) string {
	if fp == "" {
		return ""
	}
	candidates := append([]string{r.opts.NewKey, r.opts.OldKey}, r.opts.KnownKeys...)
	for _, k := range candidates {
		if k != "" && r.st.matches(fp, k) {
			return k
		}
	}
	return ""
}

// doneKey is the key an earlier run of this command handed over when that rotation is
// complete and its window still open; "" otherwise.
func (r *rotation) doneKey() string {
	st := r.st
	if !st.hasPrevious || st.previousExpired(time.Now()) || st.keyFP == "" {
		return ""
	}
	for _, k := range r.opts.DoneKeys {
		// matches, not fingerprint(k) == keyFP: fingerprints are salted, so a key this run
		// has not matched yet gets a fresh fingerprint that never equals the live one.
		if k != "" && st.matches(st.keyFP, k) {
			return k
		}
	}
	return ""
}

// newKey is the caller's key or a freshly generated one, recorded before it is deployed.
func (r *rotation) newKey() (string, error) {
	key := r.opts.NewKey
	if key == "" {
		var err error
		if key, err = generateKey(); err != nil {
			return "", err
		}
		r.st.fingerprints.forGeneratedKey(r.st.name, RotationKeyBinding, key)
		r.res.Generated = true
	}
	if r.opts.RecordKey != nil {
		if err := r.opts.RecordKey(key); err != nil {
			return "", fmt.Errorf("record the new key before deploying it: %w", err)
		}
	}
	return key, nil
}

// describe fills the result's phase and fingerprints from the state as it is now.
func (r *rotation) describe() {
	if r.cons != nil {
		r.cons.describe(r.res)
		return
	}
	st := r.st
	r.res.Phase = st.phase()
	r.res.KeyFingerprint = st.keyFP
	r.res.PreviousFingerprint, r.res.PreviousExpires = "", ""
	if st.hasPrevious {
		r.res.PreviousFingerprint = st.prevFP
		r.res.PreviousExpires = st.expires
	}
}

func firstFailure(checks []KeyCheck) error {
	for _, c := range checks {
		if !c.Passed && c.Skipped == "" {
			return fmt.Errorf("check %q failed: %s", c.Name, c.Detail)
		}
	}
	return nil
}

func randomKey() string {
	k, err := generateKey()
	if err != nil {
		return "flareform-random-probe-key" // still not a valid key
	}
	return k
}

func orUnknown(fp string) string {
	if fp == "" {
		return "unknown"
	}
	return fp
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// codeLatestNotDeployed is the API's refusal of a settings or secret edit while the script's
// newest version does not serve all traffic (cloudflare-operations.md 8.1).
const codeLatestNotDeployed = 10215

// explainLatestNotDeployed says what to do about a 10215 refusal: after a rollback or during a
// canary, a newer version than the serving one exists.
func explainLatestNotDeployed(err error) error {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != codeLatestNotDeployed {
		return err
	}
	return fmt.Errorf("%w; Cloudflare edits keys only while the newest version serves all traffic, and a newer version than the serving one exists (after a rollback, or a canary): run `flareform apply` (or `flareform promote`) first", err)
}
