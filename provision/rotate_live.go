package provision

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/flareform/flareform/provision/cfapi"
)

// rotationState is what the live worker says about its keys.
type rotationState struct {
	accountID, name string
	versionID       string   // version serving all traffic; the previous key is copied from it
	bindings        []string // names of all bindings, in the API's order
	hasKey          bool     // API_KEY is a secret_text binding
	hasPrevious     bool
	hasExpires      bool
	expires         string
	tags            []string
	keyFP           string // fingerprint of API_KEY from its ff-key tag; "" = unknown
	// keyVouched: keyFP comes from the serving version's own annotation, which no edit outside
	// flareform can leave stale (a secret edit makes a version without one).
	keyVouched bool
	prevFP     string // fingerprint of API_KEY_PREVIOUS from its ff-prev tag
	pendingFP  string // a key deployed but not yet handed over (ff-pending tag)
	// deploys counts the versions this run deployed (settings changes, secret deletions), the
	// newest entries of the deployment history while no other run writes.
	deploys int
	// secretEdits are the versions this run's secret deletions deployed: they carry no
	// annotation, so the overlap check knows them as this run's by id.
	secretEdits []string
	// served is the serving version's annotation; a rotation's new version carries it on with
	// the new key's fingerprint, so plan still knows the code after a rotation.
	served       servedVersion
	fingerprints *fingerprinter
}

// readRotation reads the worker's bindings, tags and deployed version.
func (e *Engine) readRotation(ctx context.Context, accountID, name string) (*rotationState, error) {
	settings, err := e.getSettings(ctx, accountID, name)
	if err != nil {
		return nil, err
	}
	if settings == nil {
		return nil, fmt.Errorf("worker %s does not exist; deploy it with `flareform apply` first", name)
	}
	st := rotationStateFrom(accountID, name, settings)
	st.fingerprints = e.fingerprints
	if !st.hasKey {
		return nil, fmt.Errorf("worker %s has no %s secret to rotate; give it `api_key` in the spec and apply first", name, RotationKeyBinding)
	}
	if st.served, err = e.servedVersion(ctx, accountID, name); err != nil {
		return nil, err
	}
	if st.served.Split {
		// A key change would reach one version of the split only, and Cloudflare refuses
		// settings edits while the newest version does not serve all traffic.
		return nil, fmt.Errorf("a split deployment (a canary) of %s serves: run `flareform promote` or `flareform rollback` first", name)
	}
	st.versionID = st.served.ID
	// A rotation's versions carry the serving version's code, so its smoke test too: pending
	// only while that version's test has not passed (smokemark.go).
	st.served.Identity.SmokePending = st.served.Identity.SmokePending && !slices.Contains(st.tags, testedTag(st.served.ID))
	if fp := st.served.Identity.Keys[RotationKeyBinding]; st.served.Identified && fp != "" {
		st.keyFP, st.keyVouched = fp, true // the version vouches for its key; tags may predate a rollback
	}
	if err := e.identityAcrossSecretEdit(ctx, st); err != nil {
		return nil, err
	}
	return st, nil
}

// identityAcrossSecretEdit gives st the code identity of the version a secret edit was made
// from, when the serving version is such an edit and carries no annotation. A secret edit
// deploys a version that cannot carry one; --finish and --revoke make one (deleting
// API_KEY_PREVIOUS) and annotate the next version, so a run that died between the two left
// the code unknown to plan for good. A secret edit never changes the code, so the identity
// of the version it edited still holds for the code; the key's fingerprint is the one the
// tags record, as for any version without an annotation.
func (e *Engine) identityAcrossSecretEdit(ctx context.Context, st *rotationState) error {
	if st.served.Identified || st.served.ID == "" {
		return nil
	}
	raw, err := e.versionJSON(ctx, st.accountID, st.name, st.served.ID)
	if err != nil || versionAnnotation(raw, "workers/triggered_by") != "secret" {
		return err
	}
	history, err := e.deploymentHistory(ctx, st.accountID, st.name)
	if err != nil {
		return err
	}
	edited := ""
	for i, d := range history {
		if d.served == st.served.ID && i+1 < len(history) {
			edited = history[i+1].served
			break
		}
	}
	if edited == "" {
		return nil
	}
	if raw, err = e.versionJSON(ctx, st.accountID, st.name, edited); err != nil {
		return err
	}
	id, ok := parseIdentity(versionAnnotation(raw, "workers/message"))
	if !ok {
		return nil
	}
	// The tested tag names the edited version: a secret edit changes no code.
	id.SmokePending = id.SmokePending && !slices.Contains(st.tags, testedTag(edited))
	id.Keys = maps.Clone(id.Keys)
	delete(id.Keys, RotationKeyBinding)
	if st.keyFP != "" {
		if id.Keys == nil {
			id.Keys = map[string]string{}
		}
		id.Keys[RotationKeyBinding] = st.keyFP
	}
	st.served.Identity, st.served.Identified = id, true
	return nil
}

// versionJSON is a version's raw JSON, for its annotations.
func (e *Engine) versionJSON(ctx context.Context, accountID, name, versionID string) (string, error) {
	raw, err := e.api.Script(accountID, name).Version(ctx, versionID)
	if err != nil {
		return "", fmt.Errorf("read version %s: %w", versionID, err)
	}
	return raw, nil
}

func rotationStateFrom(accountID, name string, s *cfapi.Settings) *rotationState {
	st := &rotationState{accountID: accountID, name: name, tags: slices.Clone(s.Tags)}
	for _, b := range s.Bindings {
		st.bindings = append(st.bindings, b.Name)
		switch b.Name {
		case RotationKeyBinding:
			st.hasKey = b.Type == "secret_text"
		case RotationPreviousBinding:
			st.hasPrevious = true
		case RotationExpiresBinding:
			st.hasExpires, st.expires = true, b.Text
		}
	}
	st.keyFP = tagValue(st.tags, keyTagPrefix(RotationKeyBinding))
	st.prevFP = tagValue(st.tags, prevTagPrefix+tagSafe(RotationKeyBinding)+"-")
	st.pendingFP = tagValue(st.tags, pendingTagPrefix+tagSafe(RotationKeyBinding)+"-")
	return st
}

// tagValue is what follows prefix in the first tag that has it.
func tagValue(tags []string, prefix string) string {
	for _, t := range tags {
		if v, ok := strings.CutPrefix(t, prefix); ok {
			return v
		}
	}
	return ""
}

// fingerprint is key's fingerprint for this run: the live one when key is the live key.
func (st *rotationState) fingerprint(key string) string {
	return st.fingerprints.forKey(st.name, RotationKeyBinding, key)
}

// matches reports whether fp (from a tag) is key's fingerprint.
func (st *rotationState) matches(fp, key string) bool {
	return st.fingerprints.matches(fp, st.name, RotationKeyBinding, key)
}

// pendingKey reports whether the current key was deployed by a run that did not hand it over.
func (st *rotationState) pendingKey() bool {
	return st.pendingFP != "" && st.pendingFP == st.keyFP
}

func (st *rotationState) phase() string {
	if st.hasPrevious {
		return PhaseRotating
	}
	return PhaseStable
}

// previousExpired mirrors the worker: an expiry that does not parse closes the window.
func (st *rotationState) previousExpired(now time.Time) bool {
	return RotationExpired(st.expires, now)
}

// rotationInProgress reports whether the worker still accepts a previous key at now: a
// rotation's grace window is open.
func (st *rotationState) rotationInProgress(now time.Time) bool {
	return st.hasPrevious && !st.previousExpired(now)
}

// RotationExpired reports whether a worker with API_KEY_PREVIOUS_EXPIRES=expires rejects the
// previous key at now. Like the worker's Date.parse, anything unparsable counts as expired.
func RotationExpired(expires string, now time.Time) bool {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(expires))
	return err != nil || !now.Before(t)
}

// applied updates the state after change went through.
func (st *rotationState) applied(c settingsChange, keyFP, prevFP, pendingFP string) {
	if _, ok := c.secrets[RotationPreviousBinding]; ok {
		st.hasPrevious = true
	}
	if v, ok := c.plain[RotationExpiresBinding]; ok {
		st.hasExpires, st.expires = true, v
	}
	if slices.Contains(c.drop, RotationExpiresBinding) {
		st.hasExpires, st.expires = false, ""
	}
	st.tags, st.keyFP, st.prevFP, st.pendingFP = c.tags, keyFP, prevFP, pendingFP
	for name := range c.secrets {
		if !slices.Contains(st.bindings, name) {
			st.bindings = append(st.bindings, name)
		}
	}
}

// rotationTags replaces the rotation's tags in tags; empty fingerprints are left out.
func rotationTags(tags []string, keyFP, prevFP, pendingFP string) []string {
	keyPrefix := keyTagPrefix(RotationKeyBinding)
	prevPrefix := prevTagPrefix + tagSafe(RotationKeyBinding) + "-"
	pendingPrefix := pendingTagPrefix + tagSafe(RotationKeyBinding) + "-"
	var out []string
	for _, t := range tags {
		if strings.HasPrefix(t, keyPrefix) || strings.HasPrefix(t, prevPrefix) || strings.HasPrefix(t, pendingPrefix) {
			continue
		}
		out = append(out, t)
	}
	for _, tag := range []struct{ prefix, fp string }{{keyPrefix, keyFP}, {prevPrefix, prevFP}, {pendingPrefix, pendingFP}} {
		if tag.fp != "" {
			out = append(out, tag.prefix+tag.fp)
		}
	}
	return out
}

// settingsChange is one settings PATCH: every binding it does not name is inherited unchanged
// (an inherit binding under its own name; never old_name, whose renaming of secrets is
// UNCONFIRMED).
type settingsChange struct {
	secrets map[string]string // secret_text values to set
	plain   map[string]string // plain_text values to set
	drop    []string          // non-secret bindings to remove (secrets need deleteSecret)
	tags    []string
	// identity, when set, edits the new version's annotation (a consumer rotation records the
	// consumer's key, the table and the rotation in progress there).
	identity func(*versionIdentity)
}

// bindings lists the PATCH's bindings: live ones in their order, then new ones.
func (c settingsChange) bindings(live []string) []metadataBinding {
	out := []metadataBinding{}
	placed := map[string]bool{}
	for _, name := range live {
		if slices.Contains(c.drop, name) {
			continue
		}
		out = append(out, c.binding(name))
		placed[name] = true
	}
	for _, group := range []map[string]string{c.secrets, c.plain} {
		for _, name := range sortedKeys(group) {
			if !placed[name] {
				out, placed[name] = append(out, c.binding(name)), true
			}
		}
	}
	return out
}

func (c settingsChange) binding(name string) metadataBinding {
	if v, ok := c.secrets[name]; ok {
		return secretTextBinding(name, v)
	}
	if v, ok := c.plain[name]; ok {
		return plainTextBinding(name, v)
	}
	return inheritBinding(name)
}

// patchRotationSettings makes one settings change, which deploys a new version at once.
func (e *Engine) patchRotationSettings(ctx context.Context, st *rotationState, c settingsChange, message string) error {
	settings := scriptSettings{
		Bindings:    c.bindings(st.bindings),
		Tags:        c.tags,
		Annotations: versionAnnotations{Message: e.rotationMessage(st, c, message)},
	}
	// Encoded by cfapi.EncodeMultipart like uploads, so every multipart body flareform sends has
	// one explicit form.
	body, contentType, err := cfapi.EncodeMultipart("settings", settings, nil)
	if err != nil {
		return fmt.Errorf("update settings: %w", err)
	}
	// The change builds on the version this run read (its bindings, the key it copies): if
	// another run deployed since, stop rather than undo that run's work (guard.go).
	w, err := e.beginWrites(ctx, st.accountID, st.name, st.read(), false, "update settings")
	if err != nil {
		return err
	}
	if err := w.do(ctx, "update settings", func(ctx context.Context) error {
		return e.editSettings(ctx, st.accountID, st.name, contentType, body)
	}); err != nil {
		return err
	}
	st.deploys++
	for _, name := range c.drop {
		st.bindings = slices.DeleteFunc(st.bindings, func(n string) bool { return n == name })
	}
	return e.adoptOwnVersion(ctx, st)
}

// checkStillServes fails with ErrChanged when the serving version is no longer the one st read:
// the pre- and postcondition of the rotation's writes (guard.go).
func (e *Engine) checkStillServes(ctx context.Context, st *rotationState) error {
	now, err := e.readWorker(ctx, st.accountID, st.name)
	if err != nil {
		return fmt.Errorf("check the deployed version: %w", err)
	}
	if !st.read().same(now) {
		return changedError(st.name, fmt.Sprintf("%s serves now, this run read version %s", now, orNone(st.versionID)))
	}
	return nil
}

// read is what the rotation last read or deployed itself: the precondition of its next write.
func (st *rotationState) read() workerRead {
	return workerRead{exists: true, served: st.versionID}
}

// writes is the rotation's open guarded write for a write whose precondition the rotation
// checked just before (its probes, its overlap check) and whose postcondition its last call
// checks (checkStillServes).
func (e *Engine) rotationWrites(st *rotationState) *workerWrites {
	return &workerWrites{e: e, accountID: st.accountID, name: st.name, read: st.read()}
}

// editSettings sends one multipart settings PATCH (a new version, deployed at once).
func (e *Engine) editSettings(ctx context.Context, accountID, name, contentType string, body []byte) error {
	if err := e.api.Script(accountID, name).EditSettings(ctx, contentType, body); err != nil {
		return fmt.Errorf("update settings: %w", err)
	}
	return nil
}

// adoptOwnVersion reads the version a settings change deployed and makes it the one the next
// check expects. A version carrying flareform's annotation must name this run: otherwise
// another run's change landed on top of this one.
func (e *Engine) adoptOwnVersion(ctx context.Context, st *rotationState) error {
	sv, err := e.servedVersion(ctx, st.accountID, st.name)
	if err != nil {
		return fmt.Errorf("read the deployed version: %w", err)
	}
	if st.served.Identified && (!sv.Identified || sv.Identity.Run != e.runID) {
		return changedError(st.name, fmt.Sprintf("version %s serves, not the one this run deployed", orNone(sv.ID)))
	}
	identity := st.served
	st.served, st.versionID = sv, sv.ID
	if !sv.Identified {
		st.served.Identity, st.served.Identified = identity.Identity, identity.Identified
	}
	return nil
}

// rotationMessage is the new version's annotation: the serving version's identity (same code)
// with the key fingerprint this change sets, then the human message.
func (e *Engine) rotationMessage(st *rotationState, c settingsChange, message string) string {
	if !st.served.Identified {
		return message
	}
	id := st.served.Identity
	id.Keys = maps.Clone(id.Keys)
	if id.Keys == nil {
		id.Keys = map[string]string{}
	}
	if fp := tagValue(c.tags, keyTagPrefix(RotationKeyBinding)); fp != "" {
		id.Keys[RotationKeyBinding] = fp
	}
	if c.identity != nil {
		id.Limits, id.Prev = maps.Clone(id.Limits), maps.Clone(id.Prev)
		c.identity(&id)
	}
	id.Run = e.runID
	return id.message() + " " + message
}

// setScriptTags changes only the script's tags (no new version).
func (e *Engine) setScriptTags(ctx context.Context, st *rotationState, tags []string) error {
	return e.rotationWrites(st).do(ctx, "update tags", func(ctx context.Context) error {
		return e.putScriptTags(ctx, st.accountID, st.name, tags)
	})
}

// deleteSecret removes a secret; one already gone counts as removed, so a retry or re-run
// after a lost response succeeds.
//
// checked: the caller's previous call checked what serves (the put-back of another run's
// version); otherwise the delete first checks that the worker still serves what the rotation
// read, as the secret it deletes may be another rotation's by now.
func (e *Engine) deleteSecret(ctx context.Context, st *rotationState, name string, checked bool) error {
	w, err := e.beginWrites(ctx, st.accountID, st.name, st.read(), checked, "delete secret "+name)
	if err != nil {
		return err
	}
	err = w.do(ctx, "delete secret "+name, func(ctx context.Context) error {
		err := e.api.Script(st.accountID, st.name).DeleteSecret(ctx, name)
		if err != nil {
			var apiErr *cfapi.APIError
			if cfapi.IsNotFound(err) || (errors.As(err, &apiErr) && apiErr.Code == codeSecretNotFound) {
				return nil
			}
			return fmt.Errorf("delete secret %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if slices.Contains(st.bindings, name) {
		st.deploys++ // a secret edit deploys a new version
	}
	st.bindings = slices.DeleteFunc(st.bindings, func(n string) bool { return n == name })
	// Deleting a secret deploys a new version (which cannot carry an annotation): it is this
	// run's own change, so the next check expects it.
	id, err := e.findSecretEdit(ctx, st)
	if err != nil {
		return fmt.Errorf("read the deployed version after deleting %s: %w", name, err)
	}
	if id != st.versionID {
		st.secretEdits = append(st.secretEdits, id)
	}
	st.versionID = id
	return nil
}

// findSecretEdit finds the version this run's secret delete deployed: the first deployment
// after the version the rotation read whose version a secret edit made (annotation
// workers/triggered_by "secret"). Not simply what serves now: another run deploying right
// after the delete would be taken for this run's own edit and escape the overlap check. When
// none is found (the delete found nothing to delete) it is the version the rotation read.
func (e *Engine) findSecretEdit(ctx context.Context, st *rotationState) (string, error) {
	history, err := e.deploymentHistory(ctx, st.accountID, st.name)
	if err != nil {
		return "", err
	}
	read := slices.IndexFunc(history, func(d pastDeployment) bool { return d.served == st.versionID })
	if read < 0 {
		read = len(history)
	}
	for i := read - 1; i >= 0; i-- {
		id := history[i].served
		if id == "" || slices.Contains(st.secretEdits, id) {
			continue
		}
		raw, err := e.versionJSON(ctx, st.accountID, st.name, id)
		if err != nil {
			return "", err
		}
		if versionAnnotation(raw, "workers/triggered_by") == "secret" {
			return id, nil
		}
	}
	return st.versionID, nil
}

// codeSecretNotFound is what the secrets endpoint answers for a secret that does not exist.
const codeSecretNotFound = 10056
