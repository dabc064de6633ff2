package provision

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision/spec"
)

// Key sources of `api_key.from`.
const (
	keyFromGenerate = "generate"
	keyFromEnv      = "env"
	keyFromFile     = "file"
)

// keyTagPrefix is the start of the tag that records the fingerprint of binding's key.
func keyTagPrefix(binding string) string {
	return "ff-key-" + tagSafe(binding) + "-"
}

func keyTag(binding, fingerprint string) string {
	return keyTagPrefix(binding) + fingerprint
}

// tagSafe lowers s and replaces everything outside [a-z0-9-] with '-'.
func tagSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		default:
			return '-'
		}
	}, s)
}

// generateKey returns 32 random bytes as unpadded base64url.
func generateKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// resolveKey reads an env or file key source and checks the key against the key rule and
// against the account's credentials (the spec loader checked both already; a key file may have
// changed since). Generated keys are not resolved here: they only exist once apply creates them.
func resolveKey(src *spec.KeySource, getenv func(string) string) (string, error) {
	switch src.From {
	case keyFromEnv, keyFromFile:
		key, err := keysource.Resolve(src.From, src.Ref, getenv)
		if err != nil {
			return "", fmt.Errorf("api_key: %w", err)
		}
		if problem := spec.AccountCredentialKey(src.From, src.Ref, key, getenv); problem != "" {
			return "", fmt.Errorf("api_key: %s", problem)
		}
		return key, nil
	default:
		return "", fmt.Errorf("api_key: unknown source %q (want generate, env or file)", src.From)
	}
}

// GeneratesKey reports whether applying the plan generates a new key for this worker, which
// the caller must then hand over. False for a plan read back from JSON.
func (w *WorkerPlan) GeneratesKey() bool {
	return w.desired != nil && w.desired.genKey && w.Action != ActionNoOp
}

// GeneratesKeys reports whether applying p generates any key.
func (p *Plan) GeneratesKeys() bool {
	for i := range p.Workers {
		if p.Workers[i].GeneratesKey() {
			return true
		}
	}
	return false
}

// KeyMatches reports whether key is the key whose fingerprint (as tags, annotations and plans
// show it) is fp for script's binding.
func KeyMatches(script, binding, key, fp string) bool {
	return key != "" && fp != "" && FingerprintMatches(fp, script, binding, key)
}

// MissingKeyError lists workers whose smoke test needs a key nobody gave.
type MissingKeyError struct {
	Workers []string // "image-api (API_KEY, fp 0123abcd4567)"
}

func (e *MissingKeyError) Error() string {
	return fmt.Sprintf("no key for %s, so the smoke test could not check the authorised answer; nothing was changed. "+
		"Pass the key with --key-file FILE or FLAREFORM_API_KEY, rotate to a new one with `flareform rotate-key WORKER --revoke`, "+
		"or skip the smoke test with --no-smoke", strings.Join(e.Workers, ", "))
}

// checkSmokeKeys refuses, before anything is written, a plan whose smoke tests would have to
// skip the authorised request for want of the worker's key.
func (e *Engine) checkSmokeKeys(p *Plan, opts ApplyOptions) error {
	if opts.SkipSmoke {
		return nil
	}
	var missing []string
	for i := range p.Workers {
		wp := &p.Workers[i]
		d := wp.desired
		if d == nil || wp.Action == ActionNoOp || wp.Action == ActionDelete || d.worker.APIKey == nil ||
			!willSmoke(d, p.subdomain, opts) || d.genKey || d.key != "" {
			continue
		}
		if e.smokeKeyFor(wp, opts) == "" {
			fp := ""
			if wp.live != nil {
				fp = wp.live.keyFingerprints[d.worker.APIKey.Binding]
			}
			missing = append(missing, fmt.Sprintf("%s (%s, %s)", wp.Name, d.worker.APIKey.Binding, orUnknownFP(fp)))
		}
	}
	if len(missing) > 0 {
		return &MissingKeyError{Workers: missing}
	}
	return nil
}

func orUnknownFP(fp string) string {
	if fp == "" {
		return "fingerprint unknown"
	}
	return "fp " + fp
}

// smokeKeyFor picks the key the smoke test of wp uses: a key the caller gave for it (Keys), else
// the first candidate that is the deployed key. When the deployed key's fingerprint is unknown,
// the first key given is tried: the smoke test then tells whether it works.
func (e *Engine) smokeKeyFor(wp *WorkerPlan, opts ApplyOptions) string {
	w := wp.desired.worker
	var cands []string
	if k := e.smokeKey(w, opts.Keys); k != "" {
		cands = append(cands, k)
	}
	if opts.KeyCandidates != nil {
		cands = append(cands, opts.KeyCandidates(w)...)
	}
	if len(cands) == 0 || w.APIKey == nil {
		return ""
	}
	fp := ""
	if wp.live != nil {
		fp = wp.live.keyFingerprints[w.APIKey.Binding]
	}
	if fp == "" {
		return cands[0]
	}
	for _, k := range cands {
		if KeyMatches(w.Name, w.APIKey.Binding, k, fp) {
			return k
		}
	}
	return ""
}

// LiveKey is the fingerprint of the managed key the worker serves now ("" when unknown or the
// worker has none), with its binding.
func (w *WorkerPlan) LiveKey() (binding, fp string) {
	if w.desired == nil || w.desired.worker.APIKey == nil || w.live == nil {
		return "", ""
	}
	binding = w.desired.worker.APIKey.Binding
	return binding, w.live.keyFingerprints[binding]
}
