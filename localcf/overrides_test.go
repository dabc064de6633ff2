package localcf

import (
	"net/http"
	"slices"
	"testing"
)

const (
	ovID      = "dc8dcd28-271b-4367-9840-6c244f84cb40"
	ovIDUpper = "DC8DCD28-271B-4367-9840-6C244F84CB40"
	ovIDBare  = "dc8dcd28271b436798406c244f84cb40"
)

// TestOverrideHeaderParsing: the override for script "app" is found only in a valid RFC 8941
// Dictionary whose "app" member is a string; anything else is no override at all.
func TestOverrideHeaderParsing(t *testing.T) {
	cases := []struct {
		name   string
		lines  []string
		want   string
		wantOK bool
	}{
		{"docs example", []string{`app="` + ovID + `"`}, ovID, true},
		{"uppercase id normalised", []string{`app="` + ovIDUpper + `"`}, ovID, true},
		{"hyphenless id normalised", []string{`app="` + ovIDBare + `"`}, ovID, true},
		{"other workers first", []string{`other="x", app="` + ovID + `"`}, ovID, true},
		{"tab and spaces around commas", []string{"other=\"x\" ,\t app=\"" + ovID + "\"  "}, ovID, true},
		{"parameters on the member", []string{`app="` + ovID + `";trace=?1;n=5`}, ovID, true},
		{"two header lines form one dictionary", []string{`other="x"`, `app="` + ovID + `"`}, ovID, true},
		{"duplicate key: last wins", []string{`app="` + ovIDBare + `", app="11111111-2222-4333-8444-555555555555"`}, "11111111-2222-4333-8444-555555555555", true},
		{"other worker's token value is still a dictionary", []string{`other=tok/en:x, app="` + ovID + `"`}, ovID, true},
		{"other worker's inner list, decimal, bytes, bool", []string{`a=(1 "b" c);p, b=-1.25, c=:YWJj:, d=?0, app="` + ovID + `"`}, ovID, true},
		{"escaped quote in another string", []string{`other="say \"hi\" \\ ok", app="` + ovID + `"`}, ovID, true},

		{"no header", nil, "", false},
		{"empty header", []string{""}, "", false},
		{"no entry for this script", []string{`other="` + ovID + `"`}, "", false},
		{"token instead of string", []string{`app=` + "dc8dcd28"}, "", false},
		{"single quotes", []string{`app='` + ovID + `'`}, "", false},
		{"bare key is boolean true", []string{`app`}, "", false},
		{"boolean value", []string{`app=?1`}, "", false},
		{"integer value", []string{`app=42`}, "", false},
		{"byte sequence value", []string{`app=:YWJj:`}, "", false},
		{"uppercase key is not an sf-key", []string{`App="` + ovID + `"`}, "", false},
		{"key starting with a digit", []string{`1app="x", app="` + ovID + `"`}, "", false},
		{"spaces around =", []string{`app = "` + ovID + `"`}, "", false},
		{"trailing comma", []string{`app="` + ovID + `",`}, "", false},
		{"leading comma", []string{`,app="` + ovID + `"`}, "", false},
		{"missing comma", []string{`app="` + ovID + `" other="x"`}, "", false},
		{"semicolon between members", []string{`other="x"; app="` + ovID + `"`}, "", false},
		{"unterminated string", []string{`app="` + ovID}, "", false},
		{"bad escape", []string{`app="a\x"`}, "", false},
		{"non-ASCII in another member", []string{`other="é", app="` + ovID + `"`}, "", false},
		{"empty value of another member", []string{`other=, app="` + ovID + `"`}, "", false},
		{"decimal with four fraction digits", []string{`other=1.2345, app="` + ovID + `"`}, "", false},
		{"integer with sixteen digits", []string{`other=1234567890123456, app="` + ovID + `"`}, "", false},
		{"unterminated inner list", []string{`other=(1 2, app="` + ovID + `"`}, "", false},
		{"bad boolean", []string{`other=?2, app="` + ovID + `"`}, "", false},
		{"a second line breaks the whole field", []string{`app="` + ovID + `"`, `other=`}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, l := range tc.lines {
				h.Add(versionOverridesHeader, l)
			}
			got, ok := overrideFor(h, "app")
			if ok != tc.wantOK || got != tc.want {
				t.Fatalf("overrideFor(%q) = %q, %v; want %q, %v", tc.lines, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestSFDictionaryValues: member kinds and string unescaping, which the override relies on.
func TestSFDictionaryValues(t *testing.T) {
	dict, err := parseSFDictionary(`s="a\"b\\c", t=*tok, i=-12, d=3.5, b=?0, f, l=(1 2)`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]sfMember{
		"s": {sfString, `a"b\c`}, "t": {sfToken, "*tok"}, "i": {sfInteger, "-12"}, "d": {sfDecimal, "3.5"},
		"b": {sfBoolean, "?0"}, "f": {sfBoolean, "?1"}, "l": {sfInnerList, ""},
	}
	if len(dict) != len(want) {
		t.Fatalf("parsed %d members, want %d: %v", len(dict), len(want), dict)
	}
	for k, w := range want {
		if dict[k] != w {
			t.Errorf("member %s = %+v, want %+v", k, dict[k], w)
		}
	}
}

// TestChooseBySharesAndKeys exercises the selection rule without workerd: shares are honoured,
// a 0% version is reached only by the override, a key sticks to one version per deployment,
// and the draws repeat under one seed.
func TestChooseBySharesAndKeys(t *testing.T) {
	const a, b = "aaaaaaaa-0000-4000-8000-000000000000", "bbbbbbbb-0000-4000-8000-000000000000"
	k := liveKey{"acct", "app"}
	split := &deployment{ID: "d1", Versions: []deploymentVersion{{a, 90}, {b, 10}}}
	draws := func(seed int64) []string {
		sp := newSplitter(seed)
		out := make([]string, 10000)
		for i := range out {
			out[i] = sp.choose(k, split, http.Header{})
		}
		return out
	}
	first := draws(7)
	nb := 0
	for _, id := range first {
		if id == b {
			nb++
		}
	}
	if nb < 900 || nb > 1100 {
		t.Fatalf("version B got %d of 10000 requests at 10%%", nb)
	}
	if again := draws(7); !slices.Equal(first, again) {
		t.Fatal("the same seed picked different versions")
	}
	if other := draws(8); slices.Equal(first, other) {
		t.Fatal("another seed picked exactly the same 10000 versions")
	}

	smoke := &deployment{ID: "d2", Versions: []deploymentVersion{{a, 100}, {b, 0}}}
	sp := newSplitter(1)
	for i := 0; i < 1000; i++ {
		if sp.choose(k, smoke, http.Header{}) != a {
			t.Fatal("a 0% version got traffic without the override")
		}
	}
	h := http.Header{versionOverridesHeader: {`app="` + b + `"`}}
	if got := sp.choose(k, smoke, h); got != b {
		t.Fatalf("override to the 0%% version chose %s", got)
	}

	seen := map[string]bool{}
	for i := 0; i < 40; i++ {
		key := http.Header{versionKeyHeader: {"user-" + string(rune('a'+i%26)) + string(rune('0'+i/26))}}
		got := sp.choose(k, split, key)
		for j := 0; j < 5; j++ {
			if again := sp.choose(k, split, key); again != got {
				t.Fatalf("key %v got %s, then %s", key, got, again)
			}
		}
		seen[got] = true
	}
	if len(seen) != 2 {
		t.Fatalf("40 keys at 90/10 all got one version: %v", seen)
	}
}
