package provision

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Key fingerprints (docs/design/fingerprints.md) identify a managed key in script tags, plans, JSON
// output and logs without revealing it. A fingerprint is 32 lowercase hex digits: an 8-byte
// random salt, then 8 bytes of Argon2id over the key, the script name and the binding with
// that salt. Anyone can check a guess against a fingerprint (plan does, to tell whether the
// spec's key is the live one), but every guess costs one Argon2id run, and the salt makes
// every fingerprint need its own guesses.
const (
	fingerprintVersion   = "flareform-key-fingerprint-v2" // changing it makes every key look changed
	fingerprintSaltBytes = 8
	fingerprintHashBytes = 8
	fingerprintHexLen    = 2 * (fingerprintSaltBytes + fingerprintHashBytes)

	// Argon2id parameters: OWASP's 19 MiB, 2 passes, 1 lane; about 25 ms per guess on one
	// core of the machine that measured BenchmarkFingerprintGuess.
	argonTime      = 2
	argonMemoryKiB = 19 * 1024
	argonThreads   = 1
)

// NewKeyFingerprint fingerprints key with a fresh random salt.
func NewKeyFingerprint(scriptName, binding, key string) string {
	var salt [fingerprintSaltBytes]byte
	rand.Read(salt[:]) // never fails (crypto/rand crashes the program instead)
	return fingerprintWithSalt(salt[:], scriptName, binding, key)
}

// Keys flareform generates itself are 32 random bytes: no guessing gets near one, so what a
// slow hash buys for a person's key buys nothing for them, and their fingerprint is a salted
// SHA-256 instead, marked by a leading "g" (33 characters). That keeps about 20 ms of CPU per
// key (more in a fresh process, which first has to fault in Argon2id's 19 MiB) off a first
// deploy's path to its upload, and seconds off a fleet's.
const generatedFingerprintPrefix = "g"

// NewGeneratedKeyFingerprint fingerprints a key from generateKey with a fresh random salt.
// Never call it for a key a person chose: those need NewKeyFingerprint's Argon2id.
func NewGeneratedKeyFingerprint(scriptName, binding, key string) string {
	var salt [fingerprintSaltBytes]byte
	rand.Read(salt[:]) // never fails (crypto/rand crashes the program instead)
	return generatedFingerprintWithSalt(salt[:], scriptName, binding, key)
}

func generatedFingerprintWithSalt(salt []byte, scriptName, binding, key string) string {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(fingerprintVersion + "-generated\x00" + scriptName + "\x00" + binding + "\x00" + key))
	return generatedFingerprintPrefix + hex.EncodeToString(salt) + hex.EncodeToString(h.Sum(nil)[:fingerprintHashBytes])
}

// FingerprintMatches reports whether fp is a fingerprint of key on scriptName's binding,
// recomputing it with fp's own salt and scheme. A fingerprint of the older unsalted scheme never
// matches, so the key behind it is sent again with a new fingerprint.
func FingerprintMatches(fp, scriptName, binding, key string) bool {
	scheme, salted := fingerprintWithSalt, fp
	if rest, generated := strings.CutPrefix(fp, generatedFingerprintPrefix); generated {
		scheme, salted = generatedFingerprintWithSalt, rest
	}
	salt, ok := fingerprintSalt(salted)
	if !ok {
		return false
	}
	want := scheme(salt, scriptName, binding, key)
	return subtle.ConstantTimeCompare([]byte(want), []byte(fp)) == 1
}

func fingerprintSalt(fp string) ([]byte, bool) {
	if len(fp) != fingerprintHexLen {
		return nil, false
	}
	raw, err := hex.DecodeString(fp)
	if err != nil || hex.EncodeToString(raw) != fp { // lowercase only: tags are [a-z0-9-]
		return nil, false
	}
	return raw[:fingerprintSaltBytes], true
}

func fingerprintWithSalt(salt []byte, scriptName, binding, key string) string {
	// NUL separators keep ("ab", "c") and ("a", "bc") apart; none of the parts can hold one.
	password := []byte(fingerprintVersion + "\x00" + scriptName + "\x00" + binding + "\x00" + key)
	hash := argon2.IDKey(password, salt, argonTime, argonMemoryKiB, argonThreads, fingerprintHashBytes)
	return hex.EncodeToString(salt) + hex.EncodeToString(hash)
}

// fingerprinter is an engine's memory of fingerprints: a key gets one fingerprint per run (so
// plan and apply show the same), a key that matches a live fingerprint keeps it, and no
// (salt, key) pair is derived twice. It also bounds how many derivations (19 MiB each) run at
// once, since a fleet plans all its workers in parallel.
type fingerprinter struct {
	mu      sync.Mutex
	issued  map[keyIdentity]string // fingerprint chosen or verified for a key in this run
	matched map[fingerprintCheck]bool
	slots   chan struct{}
	// preferred: fingerprints a saved plan showed, per script and binding. A key that matches
	// one keeps it, so applying the saved plan uploads exactly the fingerprint it showed.
	preferred map[[2]string]string
}

type keyIdentity struct{ scriptName, binding, key string }

type fingerprintCheck struct {
	fp string
	id keyIdentity
}

func newFingerprinter() *fingerprinter {
	return &fingerprinter{
		issued:    map[keyIdentity]string{},
		matched:   map[fingerprintCheck]bool{},
		slots:     make(chan struct{}, runtime.GOMAXPROCS(0)),
		preferred: map[[2]string]string{},
	}
}

// forKey is the fingerprint this run uses for key: the one it verified or issued before, or a
// new one.
func (f *fingerprinter) forKey(scriptName, binding, key string) string {
	id := keyIdentity{scriptName, binding, key}
	f.mu.Lock()
	fp, ok := f.issued[id]
	f.mu.Unlock()
	if ok {
		return fp
	}
	f.mu.Lock()
	saved := f.preferred[[2]string{scriptName, binding}]
	f.mu.Unlock()
	f.slots <- struct{}{}
	if saved != "" && FingerprintMatches(saved, scriptName, binding, key) {
		fp = saved
	} else {
		fp = NewKeyFingerprint(scriptName, binding, key)
	}
	<-f.slots
	f.mu.Lock()
	defer f.mu.Unlock()
	if earlier, ok := f.issued[id]; ok { // a concurrent call won: keep one fingerprint per key
		return earlier
	}
	f.issued[id] = fp
	return fp
}

// forGeneratedKey is forKey for a key generateKey made: its fingerprint uses the fast scheme
// (NewGeneratedKeyFingerprint), and forKey gives that fingerprint for the key from then on.
func (f *fingerprinter) forGeneratedKey(scriptName, binding, key string) string {
	id := keyIdentity{scriptName, binding, key}
	fp := NewGeneratedKeyFingerprint(scriptName, binding, key)
	f.mu.Lock()
	defer f.mu.Unlock()
	if earlier, ok := f.issued[id]; ok {
		return earlier
	}
	f.issued[id] = fp
	return fp
}

// prefer makes fp the fingerprint forKey gives scriptName's binding when the key matches it.
func (f *fingerprinter) prefer(scriptName, binding, fp string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.preferred[[2]string{scriptName, binding}] = fp
}

// matches is FingerprintMatches, remembered; a match makes fp the key's fingerprint for this
// run, so an unchanged key keeps its live tag.
func (f *fingerprinter) matches(fp, scriptName, binding, key string) bool {
	if fp == "" || key == "" {
		return false
	}
	check := fingerprintCheck{fp, keyIdentity{scriptName, binding, key}}
	f.mu.Lock()
	ok, known := f.matched[check]
	f.mu.Unlock()
	if !known {
		f.slots <- struct{}{}
		ok = FingerprintMatches(fp, scriptName, binding, key)
		<-f.slots
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.matched[check] = ok
	if ok {
		f.issued[check.id] = fp
	}
	return ok
}
