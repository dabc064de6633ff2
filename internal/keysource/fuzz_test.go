package keysource

import (
	"strings"
	"testing"
)

// FuzzNormalize: whatever the input, Normalize either returns a key that follows the rule or
// an error that shows no part of the input longer than a few characters.
func FuzzNormalize(f *testing.F) {
	for _, seed := range []string{"", "\n", goodKey, goodKey + "\r\n", "abcde", goodKey + "\n\n", "é" + goodKey} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		key, err := Normalize(raw)
		if err != nil {
			if len(raw) >= 8 && strings.Contains(err.Error(), raw) {
				t.Fatalf("error %q holds the input", err)
			}
			return
		}
		if len(key) < MinKeyLen || len(key) > MaxKeyLen || strings.ContainsAny(key, " \t\r\n") || Check(key) != nil {
			t.Fatalf("Normalize accepted %q", key)
		}
	})
}

// FuzzParse: Parse never panics and what it accepts resolves to a known kind with a reference.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{"env:MY_KEY", "file:./k", "file:", "env:1", ":", "generate", "env:A:B"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		kind, ref, err := Parse(src)
		if err != nil {
			return
		}
		if (kind != KindEnv && kind != KindFile) || ref == "" || kind+":"+ref != src {
			t.Fatalf("Parse(%q) = %q, %q", src, kind, ref)
		}
	})
}
