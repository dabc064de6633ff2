package jsclients

import "testing"

func TestSatisfiesEnginesRanges(t *testing.T) {
	cases := []struct {
		version, rng string
		want         bool
	}{
		{"v20.20.2", ">=22.12.0", false},
		{"v22.23.3", ">=22.12.0", true},
		{"v22.12.0", ">=22.12.0", true},
		{"v22.11.9", ">=22.12.0", false},
		{"v20.19.1", "^20.19.0 || >=22.12.0", true},
		{"v21.0.0", "^20.19.0 || >=22.12.0", false},
		{"v20.18.0", "^20.19.0 || >=22.12.0", false},
		{"v18.5.0", ">=16.17.0", true},
		{"v18.5.0", ">= 16.17.0", true},
		{"v22.1.0", "22", true},
		{"v23.0.0", "22.x", false},
		{"v22.1.5", "~22.1", true},
		{"v22.2.0", "~22.1.3", false},
		{"v0.2.9", "^0.2.3", true},
		{"v0.3.0", "^0.2.3", false},
		{"v19.9.9", "18 - 19", true},
		{"v20.0.0", "18 - 19", false},
		{"v18.0.0", ">18", false},
		{"v19.0.0", ">18", true},
		{"v18.5.0", "<=18", true},
		{"v1.0.0", "*", true},
		{"v20.1.0", ">=18.0.0 <21", true},
		{"v21.0.0", ">=18.0.0 <21", false},
		{"v22.0.0-pre", ">=22", true},
	}
	for _, c := range cases {
		got, err := Satisfies(c.version, c.rng)
		if err != nil {
			t.Errorf("Satisfies(%q, %q): %v", c.version, c.rng, err)
			continue
		}
		if got != c.want {
			t.Errorf("Satisfies(%q, %q) = %v, want %v", c.version, c.rng, got, c.want)
		}
	}
}

func TestSatisfiesRejectsGarbage(t *testing.T) {
	for _, c := range []struct{ version, rng string }{
		{"v22", ">=22.0.0"},      // not a full version
		{"v22.1.0", ">=twenty"},  // not a number
		{"v22.1.0", ">=1.2.3.4"}, // too many parts
		{"banana", ">=22.12.0"},  // not a version at all
	} {
		if _, err := Satisfies(c.version, c.rng); err == nil {
			t.Errorf("Satisfies(%q, %q) accepted it", c.version, c.rng)
		}
	}
}
