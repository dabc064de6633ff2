package provision

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Two plans of the same state read the same: a reviewer matches the plan of a pull request to
// the plan main applies. A managed key appears in words that depend on the state alone, never
// as a fingerprint, whose salt is new for every new key and would differ on every run.
func TestPlansOfTheSameStateReadTheSame(t *testing.T) {
	h := newHarness(t)
	h.env["IMG_KEY"] = "first-env-key-0123456789abcdefghijkl"
	s := specOf(imageWorker(t, "image-api", "IMG_KEY"), imageWorker(t, "gen-api", ""))
	// Each run is a new process: a new engine, with no fingerprint remembered from another.
	twoRuns := func(stage string) *Plan {
		t.Helper()
		a := newHarnessOn(t, h, func(*Config) {}).plan(t, s)
		b := newHarnessOn(t, h, func(*Config) {}).plan(t, s)
		ja, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("%s: two plans of the same state differ:\n%s\n%s", stage, ja, jb)
		}
		for _, wp := range a.Workers {
			for _, fp := range []string{wp.desired.keyFP, wp.live.keyFingerprints["API_KEY"]} {
				if fp != "" && strings.Contains(string(ja), fp) {
					t.Errorf("%s: the plan shows the fingerprint %s:\n%s", stage, fp, ja)
				}
			}
		}
		return a
	}
	keyChange := func(p *Plan, worker string) Change {
		t.Helper()
		for _, wp := range p.Workers {
			for _, c := range wp.Changes {
				if wp.Name == worker && c.Path == "secrets.API_KEY" {
					return c
				}
			}
		}
		t.Fatalf("no key change for %s: %+v", worker, p.Workers)
		return Change{}
	}

	p := twoRuns("nothing deployed")
	if c := keyChange(p, "image-api"); c.Op != OpAdd || c.New != keyNew {
		t.Errorf("a new env key: %+v, want %q", c, keyNew)
	}
	if c := keyChange(p, "gen-api"); c.Op != OpAdd || c.New != keyGenerated {
		t.Errorf("a key apply generates: %+v, want %q", c, keyGenerated)
	}
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	if p := twoRuns("deployed"); p.HasChanges() {
		t.Errorf("deployed, the plan still changes: %+v", p.Workers)
	}

	h.env["IMG_KEY"] = "second-env-key-0123456789abcdefghijk"
	p = twoRuns("key changed")
	want := fmt.Sprintf(keyChangedGrace, "24h")
	if c := keyChange(p, "image-api"); c.Op != OpChange || c.Old != keyLive || c.New != want {
		t.Errorf("a changed env key: %+v, want %q -> %q", c, keyLive, want)
	}
}

func TestGraceText(t *testing.T) {
	for d, want := range map[string]string{"24h0m0s": "24h", "1h30m0s": "1h30m", "1m0s": "1m", "45s": "45s", "2h0m30s": "2h0m30s"} {
		dur, err := time.ParseDuration(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := graceText(dur); got != want {
			t.Errorf("graceText(%s) = %q, want %q", d, got, want)
		}
	}
}
