package provision

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision/cfapi"
	"github.com/flareform/flareform/provision/spec"
)

// Secrets besides the managed API key (`secrets:`, issue 25). Each is a secret_text binding
// whose value the spec names by source (env:NAME or file:PATH, under the secret rule,
// keysource.SecretRule), sent in the worker's one upload. Like the API key, a value is never
// compared, printed or saved: plan compares a salted Argon2id fingerprint of the spec's value
// (fingerprint.go) with the one the serving version's annotation records, and shows only
// "(sensitive, new)" or "(sensitive, changed)".
//
// The annotation holds at most 1000 bytes (cloudflare-operations.md 1.3: Cloudflare truncates
// the rest, and with it the run id), so the secrets are recorded compactly, in one field:
//
//	sec=<salt: 16 hex>.<name tag: 8 hex><hash: 16 hex>.<name tag><hash>…
//
// Every secret of a version shares the salt, and the binding name is replaced by an 8-hex tag
// (secretNameTag), so each secret costs 25 bytes whatever its name: 16 secrets take 420 bytes.
// A secret's fingerprint is the salt and its hash, the API key's 32-hex format, so matching
// uses FingerprintMatches as it is. The binding name is part of the hashed input, so a tag
// that two names share by chance never makes a changed value look unchanged: the value is sent
// again. The binding names themselves are the live secret_text bindings (settings).
//
// Whenever a secret is sent, every secret of the spec is fingerprinted again under a new salt:
// one salt per version keeps the record one field. A version without the field (an older one,
// or another tool's) records none: a secret the spec names is then sent again; a secret the
// annotation does not record is not flareform's, and is kept as it is.

// secretField is the annotation field that records the secrets' fingerprints.
const secretField = "sec"

const (
	secretTagHexLen  = 8
	secretHashHexLen = 2 * fingerprintHashBytes
	secretSaltHexLen = 2 * fingerprintSaltBytes
)

// secretNameTag is the 8 hex digits that stand for binding in the annotation.
func secretNameTag(binding string) string {
	sum := sha256.Sum256([]byte("flareform-secret-name-v1\x00" + binding))
	return hex.EncodeToString(sum[:])[:secretTagHexLen]
}

// secretFields renders secrets (name tag -> fingerprint) as annotation fields: one per salt,
// which is one for every version flareform uploads.
func secretFields(secrets map[string]string) []string {
	bySalt := map[string][]string{}
	for _, tag := range sortedKeys(secrets) {
		fp := secrets[tag]
		if len(tag) != secretTagHexLen || !isLowerHex(fp, fingerprintHexLen) {
			continue // not one of ours (a generated-key fingerprint, or garbled): not recorded
		}
		bySalt[fp[:secretSaltHexLen]] = append(bySalt[fp[:secretSaltHexLen]], tag+fp[secretSaltHexLen:])
	}
	var out []string
	for _, salt := range sortedKeys(bySalt) {
		out = append(out, secretField+"="+salt+"."+strings.Join(bySalt[salt], "."))
	}
	return out
}

// parseSecretField adds the entries of one sec= field's value to secrets (name tag ->
// fingerprint); malformed entries are skipped, so a damaged record makes a secret look unknown
// (sent again), never unchanged.
func parseSecretField(value string, secrets map[string]string) {
	parts := strings.Split(value, ".")
	salt := parts[0]
	if !isLowerHex(salt, secretSaltHexLen) {
		return
	}
	for _, e := range parts[1:] {
		if isLowerHex(e, secretTagHexLen+secretHashHexLen) {
			secrets[e[:secretTagHexLen]] = salt + e[secretTagHexLen:]
		}
	}
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// applySecrets takes the secrets' fingerprints from the serving version's annotation, by the
// live secret_text bindings' names.
func (live *liveWorker) applySecrets(id versionIdentity) {
	live.secretFPs = map[string]string{}
	if len(id.Secrets) == 0 {
		return
	}
	for name := range live.secrets {
		if fp, ok := id.Secrets[secretNameTag(name)]; ok {
			live.secretFPs[name] = fp
		}
	}
}

// secretsDesired is what apply needs for the worker's secrets. values never leave the process:
// the plan's JSON and the saved plan hold sources and fingerprints only.
type secretsDesired struct {
	values map[string]string // binding -> the value the spec's source holds
	fps    map[string]string // binding -> fingerprint the upload's annotation records
	send   []string          // bindings the upload sends by value
	remove []string          // bindings the upload drops (removed from the spec)
	// inherit are the other live secrets, kept by name when the upload removes one: then
	// keep_bindings ["secret_text"] cannot be used, as it would keep the removed one too.
	inherit []string
	// unsure are removed secrets the upload alone must drop (no delete is possible after a
	// rollback, see removeSecrets), by their live fingerprint: the upload's annotation still
	// records them, so should the API have kept one anyway, the next plan removes it again.
	unsure map[string]string
}

// secretSourceError is a secret whose value could not be read at plan time.
type secretSourceError struct {
	binding string
	err     error
	fix     string
}

func (e *secretSourceError) Error() string { return "secrets." + e.binding + ": " + e.err.Error() }
func (e *secretSourceError) Unwrap() error { return e.err }

// secretSourceErrors are all of a worker's unreadable secrets, reported together.
type secretSourceErrors []*secretSourceError

func (l secretSourceErrors) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// secretSpecErrors ties unreadable secrets to their spec lines (withSpecPosition).
func secretSpecErrors(s *spec.Spec, w spec.Worker, err error) (error, bool) {
	var l secretSourceErrors
	if !errors.As(err, &l) {
		return nil, false
	}
	out := make(spec.ErrorList, len(l))
	for i, e := range l {
		out[i] = specError(s, w, "secrets."+e.binding, e.Error(), e.fix)
	}
	return errorListOrNil(out), true
}

// resolveSecret reads a secret's value from its source under the secret rule, with the spec
// loader's keysource.ResolveSecret (a file may have changed since). A secret that is the
// Cloudflare account's own credentials is refused: the worker, and whoever runs code in it,
// would hold a token that can change every worker of the account.
func resolveSecret(src spec.KeySource, getenv func(string) string) (string, *secretSourceError) {
	if src.From != keyFromEnv && src.From != keyFromFile {
		return "", &secretSourceError{binding: src.Binding, err: fmt.Errorf("unknown source %q", src.From),
			fix: "write env:NAME or file:PATH"}
	}
	value, err := keysource.ResolveSecret(src.From, src.Ref, getenv)
	if err != nil {
		fix := "set the secret's source"
		if rule := (*keysource.Error)(nil); errors.As(err, &rule) && rule.Fix != "" {
			fix = rule.Fix
		}
		return "", &secretSourceError{binding: src.Binding, err: err, fix: fix}
	}
	credFix := "give the worker a token of its own, in a variable or file of its own"
	if src.From == keyFromEnv && slices.Contains(spec.AccountCredentialVars, src.Ref) {
		return "", &secretSourceError{binding: src.Binding, fix: credFix,
			err: fmt.Errorf("%s holds the Cloudflare account's credentials, which flareform deploys with: the worker would hold a token that can change every worker of the account", src.Ref)}
	}
	for _, name := range spec.AccountCredentialVars {
		// A secret is used as it is, spaces included: compare it trimmed, as cred is.
		if cred := strings.TrimSpace(getenv(name)); cred != "" && subtle.ConstantTimeCompare([]byte(cred), []byte(strings.TrimSpace(value))) == 1 {
			return "", &secretSourceError{binding: src.Binding, fix: credFix,
				err: fmt.Errorf("the value is that of %s, the Cloudflare account's credentials, which flareform deploys with", name)}
		}
	}
	return value, nil
}

// diffSecrets decides which secrets the upload sends, keeps and drops. A secret the serving
// version's annotation records but the spec no longer names is removed; a secret_text binding
// the annotation does not record (set with wrangler, or the API key's) is none of its business.
func (e *Engine) diffSecrets(d *desiredWorker, live *liveWorker, add func(Change)) error {
	w := d.worker
	removed := removedSecrets(w, live)
	if len(w.Secrets) == 0 && len(removed) == 0 {
		return nil
	}
	if len(w.Secrets) > spec.MaxSecrets {
		return fmt.Errorf("worker %s: %d secrets; a worker has at most %d (each one's fingerprint is recorded in its version's 1000-byte annotation)", w.Name, len(w.Secrets), spec.MaxSecrets)
	}
	sd := &secretsDesired{values: map[string]string{}, fps: map[string]string{}}
	var bad secretSourceErrors
	for _, src := range w.Secrets {
		value, err := resolveSecret(src, e.cfg.Getenv)
		if err != nil {
			bad = append(bad, err)
			continue
		}
		sd.values[src.Binding] = value
	}
	if len(bad) > 0 {
		return bad
	}
	// Compared at once: each comparison is an Argon2id run (about 25 ms).
	same := make([]bool, len(w.Secrets))
	var wg sync.WaitGroup
	for i, src := range w.Secrets {
		b := src.Binding
		if fp := liveSecretFP(live, b); live.secrets[b] && fp != "" {
			wg.Add(1)
			go func() { defer wg.Done(); same[i] = e.fingerprints.matches(fp, w.Name, b, sd.values[b]) }()
		}
	}
	wg.Wait()
	allSame := true
	for i, src := range w.Secrets {
		b := src.Binding
		path := "secrets." + b
		switch {
		case same[i]:
			sd.fps[b] = liveSecretFP(live, b)
			if live.newerUndeployed {
				// After a rollback the upload would keep the newest version's secrets, not the
				// serving one's: the values are sent again (the plan shows the code change).
				sd.send = append(sd.send, b)
			}
			continue
		case !live.secrets[b]:
			add(Change{Path: path, Op: OpAdd, New: keyNew})
		case liveSecretFP(live, b) == "":
			add(Change{Path: path, Op: OpChange, Old: keyLiveUnknown, New: keySentAgain})
		default:
			add(Change{Path: path, Op: OpChange, Old: keyLive, New: keyChanged})
		}
		allSame = false
		sd.send = append(sd.send, b)
	}
	if !allSame {
		sd.fps = e.fingerprints.forSecretSet(w.Name, sd.values)
	}
	if len(removed) > 0 && e.cfg.Canary > 0 {
		// Removing deletes the secret from the serving version too (removeSecrets): the stable
		// side of the split would lose it.
		return fmt.Errorf("--canary cannot remove secrets (%s of %s): the stable version would lose them too; apply the removal without --canary", strings.Join(removed, ", "), w.Name)
	}
	for _, b := range removed {
		add(Change{Path: "secrets." + b, Op: OpRemove, Old: keyLive})
		sd.remove = append(sd.remove, b)
		if live.newerUndeployed {
			if sd.unsure == nil {
				sd.unsure = map[string]string{}
			}
			sd.unsure[b] = live.secretFPs[b]
		}
	}
	if len(sd.remove) > 0 {
		for _, b := range sortedKeys(live.secrets) {
			if !slices.Contains(sd.remove, b) && !slices.Contains(sd.send, b) {
				sd.inherit = append(sd.inherit, b)
			}
		}
		if live.previousKey {
			sd.inherit = append(sd.inherit, RotationPreviousBinding)
		}
	}
	d.secrets = sd
	return nil
}

// liveSecretFP is the fingerprint the serving version records for a secret: its sec= entry,
// else a key.<BINDING> field or key tag (how an API key is recorded), which older annotations
// may hold for the binding.
func liveSecretFP(live *liveWorker, binding string) string {
	if fp := live.secretFPs[binding]; fp != "" {
		return fp
	}
	return live.keyFingerprints[binding]
}

// removedSecrets are the live secrets the serving version's annotation records as the spec's
// and the spec no longer names (the managed key and the consumer table are never among them).
func removedSecrets(w spec.Worker, live *liveWorker) []string {
	var out []string
	for _, b := range sortedKeys(live.secretFPs) {
		switch {
		case !live.secrets[b], reservedBindings[b], b == spec.ConsumerTableBinding, b == spec.ConsumerSaltBinding:
		case w.APIKey != nil && w.APIKey.Binding == b:
		case slices.ContainsFunc(w.Secrets, func(s spec.KeySource) bool { return s.Binding == b }):
		default:
			out = append(out, b)
		}
	}
	return out
}

// appendSecretBindings adds the secrets the upload sends by value and, when it removes one,
// an inherit binding for every other live secret it does not send (see keepBindings).
func appendSecretBindings(d *desiredWorker, out []metadataBinding) []metadataBinding {
	sd := d.secrets
	if sd == nil {
		return out
	}
	for _, b := range sd.send {
		out = append(out, secretTextBinding(b, sd.values[b]))
	}
	if len(sd.remove) == 0 {
		return out
	}
	placed := map[string]bool{}
	for _, b := range out {
		placed[b.Name] = true
	}
	for _, b := range sd.inherit {
		if !placed[b] {
			out = append(out, inheritBinding(b))
		}
	}
	return out
}

// keepBindings is an upload's keep_bindings: secret_text, so the secrets it does not send
// survive (implicit retention is not a documented contract), except when it removes a secret,
// which keep_bindings would keep: then every other secret is inherited by name instead.
func keepBindings(d *desiredWorker) []string {
	if d.secrets != nil && len(d.secrets.remove) > 0 {
		return []string{}
	}
	return []string{"secret_text"}
}

// secretIdentity records the secrets' fingerprints in the uploaded version's identity.
func secretIdentity(id *versionIdentity, d *desiredWorker) {
	if d.secrets == nil || len(d.secrets.fps)+len(d.secrets.unsure) == 0 {
		return
	}
	id.Secrets = make(map[string]string, len(d.secrets.fps)+len(d.secrets.unsure))
	for _, fps := range []map[string]string{d.secrets.unsure, d.secrets.fps} {
		for b, fp := range fps {
			id.Secrets[secretNameTag(b)] = fp
		}
	}
}

// forSecretSet fingerprints every secret of a worker (binding -> value) under one new salt. A
// set this run fingerprinted before keeps its fingerprints, and so does a value that still
// matches the fingerprint a saved plan showed, so apply uploads what the plan showed. (Should
// some values of a saved plan no longer match, the set gets two salts; that plan is stale and is
// refused, and the stale reasons name only the secrets that changed.)
func (f *fingerprinter) forSecretSet(scriptName string, values map[string]string) map[string]string {
	f.mu.Lock()
	issued, preferred := map[string]string{}, map[string]string{}
	for b, v := range values {
		issued[b] = f.issued[keyIdentity{scriptName, b, v}]
		if fp := f.preferred[[2]string{scriptName, b}]; fp != "" {
			preferred[b] = fp
		}
	}
	f.mu.Unlock()
	if oneSalt(issued) {
		return issued
	}
	fps := f.matching(scriptName, preferred, values)
	if len(fps) < len(values) {
		var salt [fingerprintSaltBytes]byte
		rand.Read(salt[:]) // never fails (crypto/rand crashes the program instead)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for b, v := range values {
			if fps[b] != "" {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.slots <- struct{}{}
				fp := fingerprintWithSalt(salt[:], scriptName, b, v)
				<-f.slots
				mu.Lock()
				fps[b] = fp
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	f.issue(scriptName, fps, values)
	return fps
}

// oneSalt reports whether every fingerprint is set and all share one salt.
func oneSalt(fps map[string]string) bool {
	salt := ""
	for _, fp := range fps {
		if len(fp) != fingerprintHexLen || (salt != "" && fp[:secretSaltHexLen] != salt) {
			return false
		}
		salt = fp[:secretSaltHexLen]
	}
	return salt != ""
}

// matching is the fingerprints of fps that match their binding's value, checked at once.
func (f *fingerprinter) matching(scriptName string, fps, values map[string]string) map[string]string {
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for b, fp := range fps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if f.matches(fp, scriptName, b, values[b]) {
				mu.Lock()
				out[b] = fp
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

func (f *fingerprinter) issue(scriptName string, fps, values map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for b, v := range values {
		f.issued[keyIdentity{scriptName, b, v}] = fps[b]
	}
}

// secretInputs are the worker's secrets as a saved plan records them: source and fingerprint.
func secretInputs(d *desiredWorker) []KeyReference {
	var out []KeyReference
	for _, src := range d.worker.Secrets {
		ref := KeyReference{Binding: src.Binding, Source: src.From + ":" + src.Ref}
		if d.secrets != nil {
			ref.Fingerprint = d.secrets.fps[src.Binding]
		}
		out = append(out, ref)
	}
	return out
}

// compareSecretInputs says which of a worker's secrets differ between a saved plan and now.
func compareSecretInputs(was, is WorkerInputs) []string {
	if slices.Equal(was.Secrets, is.Secrets) {
		return nil
	}
	now := map[string]KeyReference{}
	for _, r := range is.Secrets {
		now[r.Binding] = r
	}
	var names []string
	for _, r := range was.Secrets {
		if n, ok := now[r.Binding]; !ok || n != r {
			names = append(names, r.Binding)
		}
		delete(now, r.Binding)
	}
	names = append(names, sortedKeys(now)...)
	return []string{fmt.Sprintf("the secrets %s of worker %s changed", strings.Join(names, ", "), was.Name)}
}

// preferSavedSecrets makes this run's plan reuse the secret fingerprints a saved plan showed.
func (e *Engine) preferSavedSecrets(w WorkerInputs) {
	for _, r := range w.Secrets {
		if r.Fingerprint != "" {
			e.fingerprints.prefer(w.Name, r.Binding, r.Fingerprint)
		}
	}
}

// SecretValues are the values of w's secrets that resolve with getenv, for the callers that
// redact known secrets from what they print (tail). Unreadable ones are left out.
func SecretValues(w spec.Worker, getenv func(string) string) []string {
	var out []string
	for _, src := range w.Secrets {
		if v, err := resolveSecret(src, getenv); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// rollbackSecretsNote says, for a rollback to target, which of the spec's secrets that version
// holds other values of. A rollback is not refused for them, unlike for the API key: clients do
// not hold these secrets, and each version keeps the values it was deployed with in Cloudflare,
// so going back restores the target's own values (which its code ran with); the next apply
// sends the spec's values again. The note names secrets, never a value.
func (e *Engine) rollbackSecretsNote(ctx context.Context, accountID string, w spec.Worker, target string) (string, error) {
	if len(w.Secrets) == 0 {
		return "", nil
	}
	msg, _, err := e.versionMessageOf(ctx, accountID, w.Name, target)
	if err != nil {
		return "", fmt.Errorf("read version %s: %w", target, err)
	}
	id, _ := parseIdentity(msg) // a version gone or not flareform's records no secret
	var differ, unknown []string
	for _, src := range w.Secrets {
		fp := id.Secrets[secretNameTag(src.Binding)]
		value, rerr := resolveSecret(src, e.cfg.Getenv)
		switch {
		case fp == "" || rerr != nil:
			unknown = append(unknown, src.Binding)
		case !e.fingerprints.matches(fp, w.Name, src.Binding, value):
			differ = append(differ, src.Binding)
		}
	}
	var notes []string
	if len(differ) > 0 {
		notes = append(notes, fmt.Sprintf("version %s holds other values of %s than the spec: a version keeps the secrets it was deployed with, so the rollback restores those (the next apply sends the spec's again)",
			target, strings.Join(differ, ", ")))
	}
	if len(unknown) > 0 {
		notes = append(notes, fmt.Sprintf("flareform cannot tell whether version %s holds the spec's values of %s (no record on the version, or the spec's source is unset here); it runs with the values it was deployed with",
			target, strings.Join(unknown, ", ")))
	}
	return strings.Join(notes, "; "), nil
}

// removeSecrets deletes the secrets the plan removes, just before the upload. The upload alone
// would drop them only where an upload keeps no secret it does not name or inherit: whether
// Cloudflare keeps the previous version's secrets anyway is UNCONFIRMED (localcf quirk
// implicit_secret_retention), and a secret kept that way would no longer be recorded, so no
// later plan would remove it. A delete deploys a new version of the serving code without the
// secret (a secret edit, which carries no annotation); the upload follows at once, and this
// run counts those versions as its own in its checks (isOwnVersion). After a rollback (a newer
// version than the serving one) Cloudflare refuses secret edits: then the upload's omission is
// what removes them.
func (e *Engine) removeSecrets(ctx context.Context, accountID string, wp *WorkerPlan) error {
	sd := wp.desired.secrets
	if !removesSecrets(wp) {
		return nil
	}
	script := e.api.Script(accountID, wp.Name)
	for _, b := range sd.remove {
		e.logf("%s: removing secret %s", wp.Name, b)
		err := script.DeleteSecret(ctx, b)
		var apiErr *cfapi.APIError
		if err != nil && !cfapi.IsNotFound(err) && !(errors.As(err, &apiErr) && apiErr.Code == codeSecretNotFound) {
			return fmt.Errorf("delete secret %s: %w", b, err)
		}
	}
	// The versions the deletes deployed: the newest deployments after the one the plan read,
	// as long as a secret edit made their version (another party's upload ends the search, and
	// the check after the upload reports it).
	history, err := e.deploymentHistory(ctx, accountID, wp.Name)
	if err != nil {
		return fmt.Errorf("read the deployments after deleting secrets: %w", err)
	}
	for _, d := range history {
		if d.served == "" || d.served == wp.live.versionID {
			break
		}
		raw, err := e.versionJSON(ctx, accountID, wp.Name, d.served)
		if err != nil {
			return fmt.Errorf("read the version deleting secrets deployed: %w", err)
		}
		if versionAnnotation(raw, "workers/triggered_by") != "secret" {
			break
		}
		e.secretEdits.add(wp.Name, d.served)
	}
	return nil
}

// removesSecrets reports whether apply deletes secrets before wp's upload (removeSecrets).
func removesSecrets(wp *WorkerPlan) bool {
	d := wp.desired
	return d != nil && d.secrets != nil && len(d.secrets.remove) > 0 && wp.live != nil && wp.live.exists && !wp.live.newerUndeployed
}

// secretEditLog remembers the versions this engine's secret deletes deployed, per script.
type secretEditLog struct {
	mu       sync.Mutex
	versions map[string][]string
}

func (l *secretEditLog) add(script, version string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.versions == nil {
		l.versions = map[string][]string{}
	}
	l.versions[script] = append(l.versions[script], version)
}

// has reports whether version is one this engine's secret deletes deployed on script.
func (l *secretEditLog) has(script, version string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.versions[script], version)
}
