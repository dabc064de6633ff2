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

// resolveKey reads an env or file key source and checks the key against the key rule.
// Generated keys are not resolved here: they only exist once apply creates them.
func resolveKey(src *spec.KeySource, getenv func(string) string) (string, error) {
	switch src.From {
	case keyFromEnv, keyFromFile:
		key, err := keysource.Resolve(src.From, src.Ref, getenv)
		if err != nil {
			return "", fmt.Errorf("api_key: %w", err)
		}
		return key, nil
	default:
		return "", fmt.Errorf("api_key: unknown source %q (want generate, env or file)", src.From)
	}
}

// sensitive renders a secret for plans: never the value, only its fingerprint.
func sensitive(fingerprint string) string {
	if fingerprint == "" {
		return "(sensitive)"
	}
	return "(sensitive, fp " + fingerprint + ")"
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
