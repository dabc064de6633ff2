// Package keysource is the one place flareform reads API keys from: environment variables and
// files named by the spec (`api_key.from`), by --from, --key-file and --old-key-file, and by
// FLAREFORM_API_KEY, and the Worker secrets a spec's `secrets:` names (secret.go). Every key is
// checked against one rule (Rule), every secret against a rule of its own (SecretRule), and
// files are read so that a hostile path (a FIFO, /dev/zero, /proc/self/environ, a symlink into
// /proc) is refused instead of hanging, growing memory without bound or shipping flareform's
// environment.
//
// Errors never contain a key or any part of a file's content.
package keysource

import (
	"fmt"
	"strings"
)

// Limits of the key rule. Generated keys (43 base64url characters) satisfy it.
const (
	MinKeyLen = 32
	MaxKeyLen = 512
	// MaxKeyFileBytes bounds a file holding one key: the longest key plus a newline fits
	// with room to spare.
	MaxKeyFileBytes = 4 << 10
)

// Rule is the key rule in words, for messages. A constant, so nothing formats it at every
// start of flareform; TestRuleNamesTheLimits keeps its numbers equal to MinKeyLen and MaxKeyLen.
const Rule = "a key is one line of 32 to 512 printable ASCII characters without spaces"

// Fix is how to get a key that satisfies Rule.
const Fix = "use a random key, e.g. the output of `openssl rand -hex 32`, or let flareform generate one"

// Error is a key or key source that flareform refuses. Problem never holds key material.
type Error struct {
	Problem string
	Fix     string
}

func (e *Error) Error() string { return e.Problem }

func refuse(fix, format string, args ...any) *Error {
	return &Error{Problem: fmt.Sprintf(format, args...), Fix: fix}
}

// Normalize turns raw (a variable's value or a file's content) into a key: a single trailing
// newline ("\n" or "\r\n", as editors leave one) is dropped, then the key must satisfy Rule.
func Normalize(raw string) (string, error) {
	key := strings.TrimSuffix(raw, "\n")
	if len(key) < len(raw) {
		key = strings.TrimSuffix(key, "\r")
	}
	if err := Check(key); err != nil {
		return "", err
	}
	return key, nil
}

// Check reports why key breaks Rule, nil when it does not. Only the kind of problem and the
// length of a short key are reported, never characters or where they are: the "key" may be
// any file (file:/etc/shadow), and a near-key in a message is a leaked key.
func Check(key string) error {
	if key == "" {
		return refuse(Fix, "the key is empty; %s", Rule)
	}
	if strings.ContainsAny(key, "\r\n") {
		return refuse(Fix, "the key holds more than one line; %s", Rule)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c > '~' {
			return refuse(Fix, "the key holds a %s; %s", describeByte(c), Rule)
		}
	}
	if len(key) < MinKeyLen {
		return refuse(Fix, "the key has %d characters, fewer than %d; %s", len(key), MinKeyLen, Rule)
	}
	if len(key) > MaxKeyLen {
		return refuse(Fix, "the key has %d characters, more than %d; %s", len(key), MaxKeyLen, Rule)
	}
	return nil
}

func describeByte(c byte) string {
	switch {
	case c == ' ' || c == '\t':
		return "space"
	case c < ' ' || c == 0x7f:
		return "control character"
	default:
		return "non-ASCII byte"
	}
}

// Kinds of key source that name a value: `env:NAME` and `file:PATH`.
const (
	KindEnv  = "env"
	KindFile = "file"
)

// Parse splits a source written as env:NAME or file:PATH (--from). src is the user's own
// argument, not a key, so it may be quoted in errors.
func Parse(src string) (kind, ref string, err error) {
	kind, ref, ok := strings.Cut(src, ":")
	if !ok || ref == "" || (kind != KindEnv && kind != KindFile) {
		return "", "", refuse("write env:NAME (a variable holding the key) or file:PATH (a file holding it)",
			"key source %q is not env:NAME or file:PATH", src)
	}
	if kind == KindEnv && !isEnvName(ref) {
		return "", "", refuse("use letters, digits and _, not starting with a digit, e.g. env:MY_API_KEY",
			"key source %q: %q is not an environment variable name", src, ref)
	}
	return kind, ref, nil
}

func isEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}

// Resolve reads the key that kind:ref names, with getenv for env sources, and checks it.
func Resolve(kind, ref string, getenv func(string) string) (string, error) {
	switch kind {
	case KindEnv:
		v := getenv(ref)
		if v == "" {
			return "", refuse(fmt.Sprintf("export %s=<the key> before running flareform (its value is never printed)", ref),
				"environment variable %s is empty or unset", ref)
		}
		key, err := Normalize(v)
		if err != nil {
			return "", fmt.Errorf("environment variable %s: %w", ref, err)
		}
		return key, nil
	case KindFile:
		return ReadKeyFile(ref)
	default:
		return "", refuse("use env:NAME or file:PATH", "unknown key source %q", kind)
	}
}

// ReadKeyFile reads a file holding one key (see ReadFile) and checks the key.
func ReadKeyFile(path string) (string, error) {
	data, err := ReadFile(path, MaxKeyFileBytes)
	if err != nil {
		return "", fmt.Errorf("key file %w", err)
	}
	key, err := Normalize(string(data))
	if err != nil {
		return "", fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}
