package keysource

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/flareform/flareform/internal/confined"
)

// Worker secrets (a worker's `secrets:`) follow a rule of their own, not the key rule: they are
// third-party values the user brings (a 20-character webhook secret, a PEM private key, a JSON
// service-account file, a token with a space), not keys flareform hands to clients. A secret is
// sent to Cloudflare as it is, so the only limits are Cloudflare's and what text can carry.

// MaxSecretBytes is the largest Worker secret: Cloudflare holds at most 5 KiB per secret.
const MaxSecretBytes = 5 << 10

// MaxSecretFileBytes bounds the read of a file holding one secret. It is well above
// MaxSecretBytes so that a file somewhat too large is reported with its size; a larger one is
// refused before it is read.
const MaxSecretFileBytes = 64 << 10

// SecretRule is the secret rule in words, for messages. TestSecretRuleNamesTheLimit keeps its
// number equal to MaxSecretBytes.
const SecretRule = "a secret is 1 to 5120 bytes of UTF-8 text without NUL bytes"

// SecretFix is how to give a secret that satisfies SecretRule.
const SecretFix = "give the secret as it is: an environment variable holding it, or a file holding only the secret (one final newline is dropped)"

// secretSizeFix is how to repair a secret larger than MaxSecretBytes.
const secretSizeFix = "that is Cloudflare's limit per Worker secret: keep larger data in KV or R2, or point the source at the secret alone"

// CheckSecret reports why value breaks SecretRule, nil when it does not. Like Check, it
// reports the kind of problem and the size, never the value or where in it the problem is.
func CheckSecret(value string) error {
	switch {
	case value == "":
		return refuse(SecretFix, "the secret is empty; %s", SecretRule)
	case len(value) > MaxSecretBytes:
		return refuse(secretSizeFix, "the secret is %d bytes; a Worker secret holds at most %d", len(value), MaxSecretBytes)
	case strings.IndexByte(value, 0) >= 0:
		return refuse(SecretFix, "the secret holds a NUL byte; %s", SecretRule)
	case !utf8.ValidString(value):
		return refuse(SecretFix, "the secret is not valid UTF-8 text; %s", SecretRule)
	}
	return nil
}

// NormalizeSecretFile turns a file's content into a secret: one trailing newline ("\n" or
// "\r\n", as editors leave one) is dropped, the rest is kept as it is (it may hold several
// lines, as a PEM key does), then it must satisfy SecretRule.
func NormalizeSecretFile(raw string) (string, error) {
	value := trimNewline(raw)
	if err := CheckSecret(value); err != nil {
		return "", err
	}
	return value, nil
}

// trimNewline drops one trailing "\n" or "\r\n".
func trimNewline(raw string) string {
	value := strings.TrimSuffix(raw, "\n")
	if len(value) < len(raw) {
		value = strings.TrimSuffix(value, "\r")
	}
	return value
}

// ResolveSecret reads the Worker secret that kind:ref names, with getenv for env sources, and
// checks it against SecretRule. A variable's value is used as it is; a file is read as
// ReadSecretFile reads it.
func ResolveSecret(kind, ref string, getenv func(string) string) (string, error) {
	switch kind {
	case KindEnv:
		v := getenv(ref)
		if v == "" {
			return "", refuse(fmt.Sprintf("export %s=<the secret> before running flareform (its value is never printed)", ref),
				"environment variable %s is empty or unset", ref)
		}
		if err := CheckSecret(v); err != nil {
			return "", fmt.Errorf("environment variable %s: %w", ref, err)
		}
		return v, nil
	case KindFile:
		return ReadSecretFile(ref)
	default:
		return "", refuse("use env:NAME or file:PATH", "unknown secret source %q", kind)
	}
}

// secretFile is the kind of file a secret is read from: the rules of a key file (package
// confined, no tree), with room for a file somewhat larger than a secret may be.
var secretFile = confined.Kind{Name: "secret file", Limit: MaxSecretFileBytes,
	Fix: "point it at a regular file holding only the secret (at most 5120 bytes, Cloudflare's limit for a Worker secret)"}

// ReadSecretFile reads a file holding one Worker secret under the rules of package confined
// (see ReadFile) and checks it (NormalizeSecretFile). The content never appears in an error.
func ReadSecretFile(path string) (string, error) {
	data, err := confined.ReadFile(path, secretFile, nil)
	if err != nil {
		return "", fmt.Errorf("secret file %w", asKeyError(err))
	}
	if value := trimNewline(string(data)); len(value) > MaxSecretBytes {
		// The file's size, as the user sees it (ls -l).
		return "", fmt.Errorf("secret file %s: %w", path,
			refuse(secretSizeFix, "the file is %d bytes; a Worker secret holds at most %d", len(data), MaxSecretBytes))
	}
	value, err := NormalizeSecretFile(string(data))
	if err != nil {
		return "", fmt.Errorf("secret file %s: %w", path, err)
	}
	return value, nil
}
