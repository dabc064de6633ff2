package provision

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// What a version is, recorded on the version itself.
//
// Script tags belong to the script, not to a version: a rollback (ours, the dashboard's or a
// gradual deployment) changes what serves without changing them. So everything plan compares
// that tags cannot vouch for (the code, the managed key's fingerprint) is written into the
// `workers/message` annotation of every version flareform creates, and plan reads it back from
// the version the active deployment serves. The annotation also carries the id of the run
// that made the version, so a run can tell its own version from one another run put there.
//
// Format: "flareform ff-bundle-<16 hex> key.<BINDING>=<fp> sec=<…> run=<16 hex> smoke=pending", fields
// separated by spaces, unknown fields ignored. smoke=pending marks a version uploaded by an
// apply that smoke-tests it: until the script carries that version's tested tag (smokemark.go)
// no smoke test has passed on it. The leading "flareform ff-bundle-…" is what earlier releases
// wrote, so their versions are still recognised. sec= records the fingerprints of the secrets
// besides the API key (secrets.go). own=kv-<12 hex>,r2-<12 hex>,… lists the storage objects
// the worker's flareform created (kind_storage.go): a rollback to a version without a mark only
// makes flareform leave that object alone, never delete it. unbound=<version id>/<16 hex> is
// written by an upload that stops binding storage the plan deletes after it (kind_unbound.go):
// it names the version that bound those objects and, as a bit mask over that version's own=
// list, which of them, so a run killed between the upload and the deletes leaves them to the
// next plan instead of forgetting them.

// versionIdentity is what a version's annotation says about it.
type versionIdentity struct {
	BundleTag string            // ff-bundle-<16 hex>; "" when the version is not flareform's
	Keys      map[string]string // binding -> key fingerprint
	// Limits are the consumers' limiters: consumer name -> "<limit>_<period>" (consumers.go).
	Limits map[string]string
	// Prev are the consumers in a key rotation: consumer name -> "<previous key fp>@<expires>"
	// (rotate_consumer.go). The table is a secret, so only this says a prev_mac is deployed.
	Prev map[string]string
	Run  string // id of the run that created the version
	// SmokePending: the version was uploaded to be smoke-tested; only its tested tag
	// (smokemark.go) says the test passed.
	SmokePending bool
	// Own are the ownership marks of the storage objects the worker's flareform created
	// (kind_storage.go): their ownership tags without "ff-", written as one own= field.
	Own []string
	// Unbound names the version whose bound and marked storage the plan of this upload deletes
	// after it, and which of those objects ("<version id>/<mask>", kind_unbound.go); "" when
	// nothing is pending.
	Unbound string
	// Secrets are the fingerprints of the spec's secrets besides the API key, by the tag of
	// their binding name (secrets.go); written compactly, as sec= fields.
	Secrets map[string]string
}

const annotationPrefix = "flareform"

// message renders the identity as a version's workers/message annotation (at most 1000 bytes).
func (id versionIdentity) message() string {
	parts := []string{annotationPrefix, id.BundleTag}
	for _, b := range sortedKeys(id.Keys) {
		if fp := id.Keys[b]; fp != "" {
			parts = append(parts, "key."+b+"="+fp)
		}
	}
	parts = append(parts, secretFields(id.Secrets)...)
	for _, name := range sortedKeys(id.Limits) {
		parts = append(parts, "limit."+name+"="+id.Limits[name])
	}
	for _, name := range sortedKeys(id.Prev) {
		parts = append(parts, "prev."+name+"="+id.Prev[name])
	}
	if len(id.Own) > 0 {
		parts = append(parts, "own="+strings.Join(id.Own, ","))
	}
	if id.Unbound != "" {
		parts = append(parts, unboundField+"="+id.Unbound)
	}
	if id.Run != "" {
		parts = append(parts, "run="+id.Run)
	}
	if id.SmokePending {
		parts = append(parts, "smoke=pending")
	}
	return strings.Join(parts, " ")
}

// parseIdentity reads a workers/message annotation; ok is false for a version flareform did not
// create (no annotation, or someone else's message).
func parseIdentity(message string) (id versionIdentity, ok bool) {
	fields := strings.Fields(message)
	if len(fields) < 2 || fields[0] != annotationPrefix || !strings.HasPrefix(fields[1], bundleTagPrefix) {
		return versionIdentity{}, false
	}
	id = versionIdentity{BundleTag: fields[1], Keys: map[string]string{}, Limits: map[string]string{}, Prev: map[string]string{}}
	for _, f := range fields[2:] {
		k, v, found := strings.Cut(f, "=")
		switch {
		case !found:
		case k == "run":
			id.Run = v
		case k == "smoke":
			id.SmokePending = v == "pending"
		case k == "own":
			id.Own = strings.Split(v, ",")
		case k == unboundField:
			id.Unbound = v
		case k == secretField:
			if id.Secrets == nil {
				id.Secrets = map[string]string{}
			}
			parseSecretField(v, id.Secrets)
		case strings.HasPrefix(k, "key."):
			id.Keys[strings.TrimPrefix(k, "key.")] = v
		case strings.HasPrefix(k, "limit."):
			id.Limits[strings.TrimPrefix(k, "limit.")] = v
		case strings.HasPrefix(k, "prev."):
			id.Prev[strings.TrimPrefix(k, "prev.")] = v
		}
	}
	return id, true
}

// newRunID identifies one run of apply or rotate-key in the versions it creates.
func newRunID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Project membership is a script tag: it belongs to the script (a rollback must not change
// which project owns a worker), and the script list returns tags, so one call finds every
// worker of a project.
const projectTagPrefix = "ff-project-"

// projectTag is the tag of the spec's project and environment: 16 hex of SHA-256, so it fits
// any tag charset and length limit whatever the names are.
func projectTag(project, env string) string {
	if project == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("flareform-project-v1\x00" + project + "\x00" + env))
	return projectTagPrefix + hex.EncodeToString(sum[:8])
}

// isFlareformTag reports the tags plan and apply own (rotation's ff-prev/ff-pending tags are
// rotate-key's and are kept as they are).
func isFlareformTag(t string) bool {
	return t == managedTag || strings.HasPrefix(t, bundleTagPrefix) || strings.HasPrefix(t, "ff-key-") ||
		strings.HasPrefix(t, projectTagPrefix) || isOwnershipTag(t)
}
