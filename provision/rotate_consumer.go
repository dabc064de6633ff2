package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/flareform/flareform/internal/textwait"
	"github.com/flareform/flareform/provision/keystore"
	"github.com/flareform/flareform/provision/spec"
)

// Rotating one consumer's key (docs/rotation.md, "Consumers"). The consumer table is one secret
// Cloudflare never returns, so a rotation writes it whole: every entry from the keys flareform
// holds (their macs under the salt the key store holds), and the rotated consumer's entry with
// the new key's mac and, for a grace rotation, the old key's as prev_mac until prev_expires.
// The serving version's annotation says which keys are deployed (key.consumer:<name>) and which
// rotations are in progress (prev.<name>); the write is one guarded settings change
// (patchRotationSettings), checked for overlap like the owner's rotation.

// consumerSlot is one consumer of the live table as this run rewrites it.
type consumerSlot struct {
	name, binding, limiter string
	key, fp                string // its key (held) and the key's fingerprint
	// prevFP and prevExpires are its rotation in progress (window open), prevKey its previous
	// key when held: the table keeps prev_mac only with the key to make it from.
	prevKey, prevFP, prevExpires string
}

// consumerRotation is the live consumer table of one consumer rotation.
type consumerRotation struct {
	salt   string
	slots  []*consumerSlot // every consumer the serving version records, by name
	me     *consumerSlot   // the consumer rotated
	target string          // the worker's /.well-known/flareform URL
}

// ErrConsumerTableUnknown marks a consumer rotation refused before any write because the run
// cannot write the table again as it is: the salt, or another consumer's key, is not held.
var ErrConsumerTableUnknown = errors.New("the consumer table cannot be written again without changing other keys")

// rotateConsumer rotates, finishes or revokes the key of consumer opts.Consumer.
func (r *rotation) rotateConsumer(ctx context.Context) error {
	c, err := r.readConsumers(ctx)
	if err != nil {
		return err
	}
	r.cons = c
	if r.opts.Mode == RotateFinish {
		return r.finishConsumer(ctx)
	}
	return r.replaceConsumerKey(ctx)
}

// readConsumers reads the consumer table from the serving version's annotation and completes
// it with the keys flareform holds.
func (r *rotation) readConsumers(ctx context.Context) (*consumerRotation, error) {
	st, name := r.st, r.opts.Consumer
	id := st.served.Identity
	if !st.served.Identified || id.Keys[spec.ConsumerTableBinding] == "" || !slices.Contains(st.bindings, spec.ConsumerTableBinding) {
		return nil, fmt.Errorf("worker %s serves no consumer table flareform deployed; add consumers to the spec and run `flareform apply` first", st.name)
	}
	c := &consumerRotation{salt: r.heldConsumerSecret(ConsumerSaltStoreBinding, spec.ConsumerSaltBinding, id.Keys[spec.ConsumerSaltBinding], nil)}
	if c.salt == "" {
		return nil, fmt.Errorf("%w: the project's key store (.flareform/keys.json) does not hold worker %s's consumer salt, which every mac of the table "+
			"is made with; nothing was changed. Rotate from the checkout that deployed the consumers (its key store holds it)", ErrConsumerTableUnknown, st.name)
	}
	now := time.Now()
	for _, binding := range sortedKeys(id.Keys) {
		n, ok := strings.CutPrefix(binding, "consumer:")
		if !ok {
			continue
		}
		s := &consumerSlot{name: n, binding: binding, fp: id.Keys[binding]}
		if l := id.Limits[n]; l != "" {
			s.limiter = spec.RateLimiterBinding + "_" + l
		}
		s.key = r.heldConsumerKey(n, s.fp)
		if fp, expires, ok := parseConsumerPrev(id.Prev[n]); ok && !RotationExpired(expires, now) {
			s.prevFP, s.prevExpires, s.prevKey = fp, expires, r.heldConsumerKey(n, fp)
		}
		if n == name {
			c.me = s
		}
		c.slots = append(c.slots, s)
	}
	if c.me == nil {
		return nil, fmt.Errorf("worker %s has no consumer %s deployed; add it to the spec's consumers and run `flareform apply` first", st.name, name)
	}
	if err := c.checkOthersHeld(st.name); err != nil {
		return nil, err
	}
	target, err := r.e.smokeTarget(ctx, r.probe.host, WellKnownPath)
	if err != nil {
		return nil, err
	}
	c.target = target
	return c, nil
}

// checkOthersHeld refuses, before any write, a rotation that would change another consumer's
// entry: its key, or the previous key of its rotation in progress, must be held to make its mac.
func (c *consumerRotation) checkOthersHeld(script string) error {
	var missing []string
	for _, s := range c.slots {
		switch {
		case s == c.me:
		case s.key == "":
			missing = append(missing, s.name+" (its key)")
		case s.prevFP != "" && s.prevKey == "":
			missing = append(missing, s.name+" (the previous key of its rotation, valid until "+s.prevExpires+")")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: the table is one secret and is written whole, and this run does not hold the keys of consumer %s of %s; nothing was changed. "+
		"Pass them with --key-file FILE (<worker>/<consumer>=KEY lines) or FLAREFORM_API_KEY_<WORKER>__<CONSUMER>",
		ErrConsumerTableUnknown, strings.Join(missing, ", "), script)
}

// heldConsumerKey is the key of consumer name whose fingerprint is fp among the keys this run
// holds; "" when none is.
func (r *rotation) heldConsumerKey(name, fp string) string {
	var extra []string
	if name == r.opts.Consumer {
		extra = append([]string{r.opts.NewKey, r.opts.OldKey}, r.opts.KnownKeys...)
	}
	extra = append(extra, r.opts.ConsumerKeys[name]...)
	if r.e.cfg.Getenv != nil {
		extra = append(extra, r.e.cfg.Getenv(spec.ConsumerKeyEnv(r.st.name, name)))
	}
	return r.heldConsumerSecret(spec.ConsumerKeyBinding(name), spec.ConsumerKeyBinding(name), fp, extra)
}

// heldConsumerSecret matches fp (fingerprinted under binding) against the key store's entries
// of storeBinding, then extra.
func (r *rotation) heldConsumerSecret(storeBinding, binding, fp string, extra []string) string {
	if fp == "" {
		return ""
	}
	cands := slices.Clone(extra)
	if r.opts.Held != nil {
		if entries, err := r.opts.Held.Keys(r.st.name, storeBinding); err == nil {
			for _, en := range entries {
				cands = append(cands, en.Key)
			}
		}
	}
	for _, k := range cands {
		if k != "" && r.e.fingerprints.matches(fp, r.st.name, binding, k) {
			return k
		}
	}
	return ""
}

// pendingConsumerKey is the deployed key of the rotated consumer when the key store still holds
// it as pending: a run that deployed it died before its hand-over was recorded.
func (r *rotation) pendingConsumerKey() string {
	me := r.cons.me
	if r.opts.Held == nil {
		return ""
	}
	entries, err := r.opts.Held.Keys(r.st.name, me.binding)
	if err != nil {
		return ""
	}
	for _, en := range entries {
		if en.State == keystore.Pending && r.e.fingerprints.matches(me.fp, r.st.name, me.binding, en.Key) {
			return en.Key
		}
	}
	return ""
}

// replaceConsumerKey deploys a new key for the consumer: for a rotation the old key stays
// valid as prev_mac until now+grace; for a revoke every earlier key of the consumer is refused
// at once. A re-run after a crash that deployed but did not hand over resumes.
func (r *rotation) replaceConsumerKey(ctx context.Context) error {
	me, revoke := r.cons.me, r.opts.Mode == RotateRevoke
	if key := r.pendingConsumerKey(); key != "" {
		r.res.Action = rotateActionResumed
		r.e.logf("%s: resuming: consumer %s's key deployed by an interrupted run is verified and handed over now", r.st.name, me.name)
		return r.verifyConsumer(ctx, key, r.retiredConsumerKeys(revoke), true)
	}
	if r.opts.NewKey != "" && me.key == r.opts.NewKey {
		r.res.Action = rotateActionUnchanged
		r.e.logf("%s: the given key is already consumer %s's key; verifying", r.st.name, me.name)
		return r.verifyConsumer(ctx, me.key, r.retiredConsumerKeys(revoke), false)
	}
	if !revoke {
		if err := r.checkConsumerRotatable(); err != nil {
			return err
		}
	}
	old := r.oldConsumerKeys(revoke)
	newKey, err := r.newConsumerKey()
	if err != nil {
		return err
	}
	newFP := r.e.fingerprints.forKey(r.st.name, me.binding, newKey)
	me.prevKey, me.prevFP, me.prevExpires = "", "", ""
	message := "flareform rotate-key --revoke --consumer " + me.name + ": new key fp " + newFP
	r.res.Action = rotateActionRevoked
	if !revoke {
		me.prevKey, me.prevFP = me.key, me.fp
		me.prevExpires = time.Now().Add(r.opts.Grace).UTC().Format(time.RFC3339)
		message = "flareform rotate-key --consumer " + me.name + ": new key fp " + newFP
		r.res.Action = rotateActionRotated
		r.e.logf("%s: deploying consumer %s's new key (fp %s); the old key (fp %s) stays valid until %s", r.st.name, me.name, newFP, me.fp, me.prevExpires)
	} else {
		r.e.logf("%s: revoking: deploying consumer %s's new key (fp %s); its old keys stop working now", r.st.name, me.name, newFP)
	}
	me.key, me.fp = newKey, newFP
	if err := r.writeConsumerTable(ctx, message); err != nil {
		return fmt.Errorf("deploy consumer %s's new key: %w", me.name, explainLatestNotDeployed(err))
	}
	return r.verifyConsumer(ctx, newKey, old, true)
}

// checkConsumerRotatable refuses a rotation that needs what this run lacks (the current key,
// sent on as prev_mac) or that would cut the window of the rotation in progress.
func (r *rotation) checkConsumerRotatable() error {
	me := r.cons.me
	if me.prevFP != "" && !r.opts.DropPrevious {
		return &RotationInProgressError{Name: r.st.name + " --consumer " + me.name, PreviousFingerprint: me.prevFP, Expires: me.prevExpires}
	}
	if me.key == "" {
		return fmt.Errorf("%w: consumer %s of %s has key fp %s, which this run does not hold, and a rotation keeps it as prev_mac (a mac is made "+
			"from the key); nothing was changed. Pass it with --old-key-file FILE, or replace it without a grace window with --revoke",
			ErrOldKeyUnknown, me.name, r.st.name, me.fp)
	}
	if me.prevFP != "" {
		r.res.DroppedPrevious, r.res.DroppedPreviousExpires = me.prevFP, me.prevExpires
		r.e.logf("%s: --drop-previous: consumer %s's previous key (fp %s), valid until %s, is refused from this change on", r.st.name, me.name, me.prevFP, me.prevExpires)
	}
	return nil
}

// oldConsumerKeys are the rotated consumer's keys this run holds that a revoke kills (current
// and previous) or, for a rotation, the current key, which must keep working in the window.
func (r *rotation) oldConsumerKeys(revoke bool) []string {
	me := r.cons.me
	keys := []string{me.key}
	if revoke {
		keys = append(keys, me.prevKey, r.opts.OldKey)
	}
	return slices.DeleteFunc(slices.Compact(keys), func(k string) bool { return k == "" })
}

// retiredConsumerKeys are, once the consumer's new key is deployed, the keys it replaced that
// this run holds: the previous key of the rotation (valid in its window), or for a revoke the
// old key the caller named.
func (r *rotation) retiredConsumerKeys(revoke bool) []string {
	k := r.cons.me.prevKey
	if revoke {
		k = r.opts.OldKey
	}
	if k == "" {
		return nil
	}
	return []string{k}
}

// newConsumerKey is the caller's key (the spec's env:/file: source, --from) or a generated one,
// recorded (the key store keeps it pending) before the change that deploys it.
func (r *rotation) newConsumerKey() (string, error) {
	key := r.opts.NewKey
	if key == "" {
		var err error
		if key, err = generateKey(); err != nil {
			return "", err
		}
		r.e.fingerprints.forGeneratedKey(r.st.name, r.cons.me.binding, key)
		r.res.Generated = true
	}
	if r.opts.RecordKey != nil {
		if err := r.opts.RecordKey(key); err != nil {
			return "", fmt.Errorf("record the new key before deploying it: %w", err)
		}
	}
	return key, nil
}

// finishConsumer drops the consumer's prev_mac (its previous key dies with the change) and
// verifies. With no rotation recorded there is nothing to write.
func (r *rotation) finishConsumer(ctx context.Context) error {
	st, me := r.st, r.cons.me
	rec := st.served.Identity.Prev[me.name]
	old := r.opts.OldKey
	if fp, _, ok := parseConsumerPrev(rec); ok && old == "" {
		old = r.heldConsumerKey(me.name, fp)
	}
	r.res.Action = rotateActionUnchanged
	if rec != "" {
		if me.key == "" {
			return fmt.Errorf("%w: consumer %s's current key (fp %s) is not held, and the table keeps its mac; nothing was changed. "+
				"Pass it with --key-file FILE", ErrConsumerTableUnknown, me.name, me.fp)
		}
		me.prevKey, me.prevFP, me.prevExpires = "", "", ""
		r.e.logf("%s: removing consumer %s's previous key", st.name, me.name)
		if err := r.writeConsumerTable(ctx, "flareform rotate-key --finish --consumer "+me.name); err != nil {
			return fmt.Errorf("remove consumer %s's previous key: %w", me.name, explainLatestNotDeployed(err))
		}
		r.res.Action = rotateActionFinished
	}
	if err := r.checkNothingBetween(ctx); err != nil {
		return err
	}
	checks := []KeyCheck{r.refused(ctx, "old key rejected", old), r.answers(ctx, "current key accepted as "+me.name, me.name, me.key),
		r.refused(ctx, "random key rejected", randomKey())}
	r.res.Checks = append(r.res.Checks, checks...)
	return firstFailure(checks)
}

// writeConsumerTable deploys the table as the slots say, in one guarded settings change whose
// version records every consumer's key and rotation in progress.
func (r *rotation) writeConsumerTable(ctx context.Context, message string) error {
	st, c := r.st, r.cons
	table := consumerTable{V: 1, Consumers: []consumerEntry{}}
	for _, s := range c.slots {
		e := consumerEntry{Name: s.name, MAC: consumerMAC(c.salt, s.key), Limiter: s.limiter}
		if s.prevKey != "" {
			e.PrevMAC, e.PrevExpires = consumerMAC(c.salt, s.prevKey), s.prevExpires
		}
		table.Consumers = append(table.Consumers, e)
	}
	raw, err := json.Marshal(table)
	if err != nil {
		return fmt.Errorf("encode the consumer table: %w", err)
	}
	tableFP := r.e.fingerprints.forKey(st.name, spec.ConsumerTableBinding, string(raw))
	change := settingsChange{
		secrets:  map[string]string{spec.ConsumerTableBinding: string(raw)},
		tags:     slices.Clone(st.tags),
		identity: func(id *versionIdentity) { c.record(id, tableFP) },
	}
	return r.e.patchRotationSettings(ctx, st, change, message)
}

// record writes the slots into a version's annotation: keys, the table, rotations in progress.
func (c *consumerRotation) record(id *versionIdentity, tableFP string) {
	id.Keys[spec.ConsumerTableBinding] = tableFP
	if id.Prev == nil {
		id.Prev = map[string]string{}
	}
	for _, s := range c.slots {
		id.Keys[s.binding] = s.fp
		delete(id.Prev, s.name)
		if s.prevKey != "" {
			id.Prev[s.name] = s.prevFP + "@" + s.prevExpires
		}
	}
}

// verifyConsumer checks at /.well-known/flareform that the new key answers the consumer's name,
// that old keys answer it during a rotation's window and get 401 after a revoke, that every
// other consumer's key still answers its name and a random key gets 401; then it hands over.
func (r *rotation) verifyConsumer(ctx context.Context, newKey string, old []string, handOver bool) error {
	me := r.cons.me
	r.res.NewKey = newKey
	checks := []KeyCheck{r.answers(ctx, "new key accepted as "+me.name, me.name, newKey)}
	for _, k := range old {
		if r.opts.Mode == RotateRevoke {
			checks = append(checks, r.refused(ctx, "old key rejected", k))
		} else if k != newKey {
			checks = append(checks, r.answers(ctx, "old key still accepted as "+me.name, me.name, k))
		}
	}
	for _, s := range r.cons.slots {
		if s != me && s.key != "" {
			checks = append(checks, r.answers(ctx, "consumer "+s.name+"'s key still accepted", s.name, s.key))
		}
	}
	checks = append(checks, r.refused(ctx, "random key rejected", randomKey()))
	r.res.Checks = append(r.res.Checks, checks...)
	if err := firstFailure(checks); err != nil {
		return fmt.Errorf("%w; the new key was not handed over, re-run the command", err)
	}
	if err := r.e.checkStillServes(ctx, r.st); err != nil {
		return err
	}
	if err := r.checkNothingBetween(ctx); err != nil {
		return err
	}
	if !handOver || r.opts.Handover == nil {
		return nil
	}
	r.describe()
	r.res.HandedOver = true
	if err := r.opts.Handover(ctx, newKey, r.res); err != nil {
		r.res.HandedOver = false
		return fmt.Errorf("hand over consumer %s's new key (fp %s): %w; it is deployed, verified and kept in the project's key store: re-run the command to hand it over again",
			me.name, me.fp, err)
	}
	return nil
}

// answers checks that key opens the worker as consumer (expectConsumer, with its retries).
func (r *rotation) answers(ctx context.Context, name, consumer, key string) KeyCheck {
	if key == "" {
		return KeyCheck{Name: name, Skipped: "key unknown to this run; pass it (--key-file) to check it"}
	}
	c := KeyCheck{Name: name, Passed: true, Status: http.StatusOK}
	if err := r.e.expectConsumer(ctx, r.cons.target, r.probe.host, consumer, key); err != nil {
		c.Passed, c.Status, c.Detail = false, 0, err.Error()
	}
	return c
}

// refused checks that key gets 401 at /.well-known/flareform, waiting (Config.SmokeWait) for
// the change to reach the edge; skipped when the key is unknown.
func (r *rotation) refused(ctx context.Context, name, key string) KeyCheck {
	c := KeyCheck{Name: name}
	if key == "" {
		c.Skipped = "key unknown to this run; pass it (--old-key-file) to check it"
		return c
	}
	deadline := time.Now().Add(r.e.cfg.SmokeWait)
	for attempt := 1; ; attempt++ {
		res, err := r.e.smokeOnce(ctx, smokeReq{method: http.MethodGet, key: key}, r.cons.target, r.probe.host)
		if err == nil && res.status == http.StatusUnauthorized {
			c.Passed, c.Status, c.Detail = true, res.status, ""
			return c
		}
		if err != nil {
			c.Detail = err.Error()
		} else {
			c.Status, c.Detail = res.status, fmt.Sprintf("GET %s: status %d, want 401", WellKnownPath, res.status)
		}
		delay := min(100*time.Millisecond<<min(attempt-1, 4), time.Second)
		if time.Now().Add(delay).After(deadline) {
			c.Detail += fmt.Sprintf(" (after %d attempts in %s)", attempt, r.e.cfg.SmokeWait)
			return c
		}
		if err := textwait.Sleep(ctx, delay); err != nil {
			c.Detail += "; " + err.Error()
			return c
		}
	}
}

// describe fills the result from the consumer's entry as it is now.
func (c *consumerRotation) describe(res *RotateResult) {
	me := c.me
	res.Phase, res.KeyFingerprint = PhaseStable, me.fp
	res.PreviousFingerprint, res.PreviousExpires = "", ""
	if me.prevFP != "" {
		res.Phase, res.PreviousFingerprint, res.PreviousExpires = PhaseRotating, me.prevFP, me.prevExpires
	}
}
