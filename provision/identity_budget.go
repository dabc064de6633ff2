package provision

import (
	"fmt"
	"strings"

	"github.com/flareform/flareform/provision/spec"
)

// maxAnnotation is the most a version's workers/message annotation holds: Cloudflare keeps the
// first 1000 bytes and drops the rest without an error (the local Cloudflare does the same).
const maxAnnotation = 1000

// checkIdentityFits refuses, at plan time and so before any write, a worker whose version
// annotation could outgrow maxAnnotation: what it records grows with its consumers, secrets and
// storage objects, and a truncated record would lose fields plan relies on (a key's fingerprint
// would look unknown, an ownership mark lost). The check takes the largest record an upload of
// w can write (worstIdentity), so it does not depend on where a rotation stands.
func checkIdentityFits(s *spec.Spec, w spec.Worker) error {
	n := len(worstIdentity(w).message())
	if n <= maxAnnotation {
		return nil
	}
	return specError(s, w, "key", fmt.Sprintf("worker %s records up to %d bytes about itself on each version (key fingerprints, consumers, secrets, storage it created), and a version's annotation holds %d", w.Name, n, maxAnnotation),
		"shorten the consumers' names, or bind fewer consumers, secrets or storage objects")
}

// worstIdentity is the largest annotation an upload of w can write: every fingerprint at its
// longest, every consumer in a key rotation, every storage object it declares owned, and the
// fixed-size unbound= field (a worker that binds nothing now may have unbound what an earlier
// spec declared).
func worstIdentity(w spec.Worker) versionIdentity {
	fp := strings.Repeat("0", fingerprintHexLen+len(generatedFingerprintPrefix))
	id := versionIdentity{
		BundleTag: bundleTagPrefix + strings.Repeat("0", 16), Run: strings.Repeat("0", 16), SmokePending: true,
		Unbound: unboundValue(strings.Repeat("0", maxUnboundVersionLen), ^uint64(0)),
		Keys:    map[string]string{}, Limits: map[string]string{}, Prev: map[string]string{}, Secrets: map[string]string{},
	}
	if w.APIKey != nil {
		id.Keys[w.APIKey.Binding] = fp
	}
	if len(w.Consumers) > 0 {
		id.Keys[spec.ConsumerTableBinding], id.Keys[spec.ConsumerSaltBinding] = fp, fp
	}
	for _, c := range w.Consumers {
		id.Keys[c.Key.Binding] = fp
		if c.RateLimit != nil {
			id.Limits[c.Name] = limiterField(spec.ConsumerLimiter(*c.RateLimit))
		}
		id.Prev[c.Name] = fp + "@" + "2006-01-02T15:04:05Z"
	}
	secretFP := strings.Repeat("0", fingerprintHexLen)
	for _, sec := range w.Secrets {
		id.Secrets[secretNameTag(sec.Binding)] = secretFP
	}
	for _, k := range kinds {
		if _, ok := k.(versionOwned); !ok {
			continue
		}
		for _, name := range sortedKeys(k.declared(w)) {
			id.Own = append(id.Own, strings.TrimPrefix(k.ownerTag(name), "ff-"))
		}
	}
	return id
}
