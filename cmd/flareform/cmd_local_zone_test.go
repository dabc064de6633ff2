package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf"
)

// TestLocalZoneFlagAddsZones: --zone (repeatable, any case) adds zones to the account's state,
// where the next server finds them; a name that cannot be a zone is refused before the start.
func TestLocalZoneFlagAddsZones(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // start, print, stop
	out, errOut := &syncBuffer{}, &syncBuffer{}
	ios := &IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}
	code := run(ctx, ios, []string{"local", "--state", state, "--zone", "example.com", "--zone", "Example.ORG."}, func(string) string { return "" })
	if code != exitOK {
		t.Fatalf("local --zone exited %d; stderr:\n%s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "Zones:             example.com, example.org") {
		t.Errorf("the banner does not list the zones:\n%s", out.String())
	}
	srv, err := localcf.Start(context.Background(), localcf.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	zones := srv.Zones()
	if len(zones) != 2 || zones[0].Name != "example.com" || zones[1].Name != "example.org" || zones[0].AccountID != srv.AccountID() {
		t.Fatalf("zones in the state: %+v", zones)
	}

	code, _, stderr := runLocalThenStop(t, "--zone", "*.example.com")
	if code != exitError || !strings.Contains(stderr, "--zone") || !strings.Contains(stderr, "wildcard") {
		t.Errorf("--zone *.example.com: exit %d, stderr %q", code, stderr)
	}
}
