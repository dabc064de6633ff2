// Package compatflags knows the compatibility flags of the pinned workerd, so validate can
// refuse a misspelt flag (with the nearest real one) before any upload.
//
// workerd has no command that lists its flags, but its binary embeds the Cap'n Proto schema
// of workerd/io/compatibility-date.capnp: the struct's field names (camelCase) each followed
// by their enable flag, date and disable flag (snake_case). Extract reads that schema out of
// the binary; `go generate` stores the result in flags_gen.go, and a test checks that the
// stored list still matches the installed workerd.
package compatflags

import (
	"bytes"
	"errors"
	"slices"

	"github.com/flareform/flareform/internal/lazyre"
)

//go:generate go run ./gen

// schemaMarker starts the embedded schema of the CompatibilityFlags struct.
var schemaMarker = []byte("workerd/io/compatibility-date.capnp:CompatibilityFlags")

// flagName is how every flag is spelt: lowercase words joined by '_'.
var flagName = lazyre.Regexp{Expr: `^[a-z][a-z0-9]*(_[a-z0-9]+)*$`}

// schemaToken is any identifier or date of the schema; the first printable run that is not
// one ends it.
var schemaToken = lazyre.Regexp{Expr: `^[A-Za-z0-9_-]+$`}

// notFlags are lowercase words of the schema that are not flag names: the `experimental`
// annotation and the `obsoleteN` placeholders of retired fields.
var notFlags = lazyre.Regexp{Expr: `^(experimental|obsolete[0-9]+)$`}

// Known reports whether the pinned workerd knows flag (enabling or disabling one).
func Known(flag string) bool {
	_, ok := slices.BinarySearch(knownFlags, flag)
	return ok
}

// All returns every flag the pinned workerd knows, sorted.
func All() []string { return slices.Clone(knownFlags) }

// WorkerdVersion is the workerd version the list was generated from.
func WorkerdVersion() string { return generatedFrom }

// Extract lists the compatibility flags named in a workerd binary, sorted and unique.
//
// Cap'n Proto stores each text NUL-terminated at the start of an 8-byte word, so only
// printable runs that start on a word boundary (counted from the schema's name, itself a text)
// and end in NUL are schema texts; the rest is pointer data. The first such text that is not
// an identifier or a date ends the schema.
func Extract(binary []byte) ([]string, error) {
	start := bytes.Index(binary, schemaMarker)
	if start < 0 {
		return nil, errors.New("no compatibility-date schema in the workerd binary")
	}
	seen := map[string]bool{}
	for _, text := range schemaTexts(binary[start:]) {
		if !schemaToken.MatchString(text) {
			break
		}
		if flagName.MatchString(text) && !notFlags.MatchString(text) {
			seen[text] = true
		}
	}
	if len(seen) == 0 {
		return nil, errors.New("the compatibility-date schema in the workerd binary names no flags")
	}
	out := make([]string, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	slices.Sort(out)
	return out, nil
}

// schemaTexts yields, in order, the word-aligned NUL-terminated printable texts of at least
// three characters in data after its first text, up to the first one that is not a schema
// token (included, so the caller sees where the schema ends).
func schemaTexts(data []byte) []string {
	var texts []string
	first := true
	for off := 0; off < len(data); off += 8 {
		end := off
		for end < len(data) && data[end] > 0x20 && data[end] < 0x7f {
			end++
		}
		if end-off < 3 || end >= len(data) || data[end] != 0 {
			continue
		}
		text := string(data[off:end])
		off += (end - off) / 8 * 8 // skip the words the text fills
		if first {
			first = false // the schema's own name
			continue
		}
		texts = append(texts, text)
		if !schemaToken.MatchString(text) {
			return texts
		}
	}
	return texts
}
