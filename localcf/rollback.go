package localcf

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// codeSecretsChanged refuses a rollback across a secret change unless ?force=true
// (cloudflare-operations.md 1.1; wrangler's CANNOT_ROLLBACK_WITH_MODIFIED_SECERT_CODE).
const codeSecretsChanged = 10220

// checkSecretRollback refuses (10220) a deployment that would serve a version older than the
// newest version of the active deployment when their secrets differ: a secret whose value or
// type changed, or one only either version has. Deploying the newest active version or a newer
// one (a canary) is never a rollback. The strict reading: every version of the new deployment
// is checked, one at 0% too, as the override header reaches it. The caller holds mu or opMu.
func (s *Server) checkSecretRollback(sc *script, versions []deploymentVersion) *apiError {
	newest := sc.newestActiveVersion()
	if newest == nil {
		return nil
	}
	for _, dv := range versions {
		v := sc.version(dv.VersionID)
		if v == nil || v.Number >= newest.Number {
			continue
		}
		changed, err := s.changedSecrets(v, newest)
		if err != nil {
			return errInternal(fmt.Errorf("compare the secrets of versions %d and %d: %w", v.Number, newest.Number, err))
		}
		if len(changed) > 0 {
			return newAPIError(http.StatusBadRequest, codeSecretsChanged,
				"A secret has changed since version %s was active; to roll back anyway, send the request again with ?force=true. The following secrets have changed: %s",
				v.ID, strings.Join(changed, ", "))
		}
	}
	return nil
}

// changedSecrets lists, sorted, the names of the secret bindings whose value or type differs
// between a and b, or that only one of them has.
func (s *Server) changedSecrets(a, b *version) ([]string, error) {
	av, err := s.secretValues(a)
	if err != nil {
		return nil, err
	}
	bv, err := s.secretValues(b)
	if err != nil {
		return nil, err
	}
	var changed []string
	for name, val := range av {
		if other, ok := bv[name]; !ok || other != val {
			changed = append(changed, name)
		}
	}
	for name := range bv {
		if _, ok := av[name]; !ok {
			changed = append(changed, name)
		}
	}
	slices.Sort(changed)
	return changed, nil
}

// secretValues maps v's secret bindings to a comparable form of type and value. Sealing is
// randomised, so equal values are compared unsealed; the binding object's own name field is
// left out, as an inherited secret keeps the object it was uploaded with.
func (s *Server) secretValues(v *version) (map[string]string, error) {
	out := map[string]string{}
	for _, b := range v.Bindings {
		if !b.isSecret() {
			continue
		}
		plain, err := s.sealer.open(b.Sealed)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", b.Name, err)
		}
		var fields map[string]any
		if err := json.Unmarshal(plain, &fields); err != nil {
			return nil, fmt.Errorf("secret %s: %w", b.Name, err)
		}
		delete(fields, "name")
		canon, err := json.Marshal(fields) // map keys sorted: one form per value
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", b.Name, err)
		}
		out[b.Name] = b.Type + "\x00" + string(canon)
	}
	return out, nil
}
