package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf"
)

// TestStorageUnderEveryQuirk runs a worker with a secret, KV, R2 and D1 through its life against
// a local Cloudflare with each quirk at each reading (the others strict, as TestQuirkMatrix
// does): create and use, a changed secret, then the storage dropped from the spec while it holds
// data: refused, then --delete-data. Where the API may not list a bucket's objects and refuses to
// delete one that holds some (r2_no_object_list alone), --delete-data must fail naming the way
// out and leave the bucket; every other row ends with the account as the spec says.
func TestStorageUnderEveryQuirk(t *testing.T) {
	for _, name := range localcf.QuirkNames() {
		for _, lenient := range []bool{false, true} {
			names := slices.DeleteFunc(quirkMatrixBase.Names(), func(n string) bool { return n == name })
			row := name + "=strict"
			if lenient {
				names, row = append(names, name), name+"=on"
			}
			q, err := localcf.QuirksFromNames(names)
			if err != nil {
				t.Fatal(err)
			}
			t.Run(row, func(t *testing.T) {
				t.Parallel()
				runStorageQuirkRow(t, q)
			})
		}
	}
}

func runStorageQuirkRow(t *testing.T, q localcf.Quirks) {
	w := newStorageWorldWith(t, storageBlock, localcf.Options{RateLimit: 1 << 30, Quirks: q})
	w.run(exitOK, "apply", "--auto-approve")
	wantStore(t, w.srv, "first")
	w.wantSecret("after create")
	w.run(exitOK, "plan", "--detailed-exitcode")

	// A changed secret is planned as changed, sent, and then seen by the worker.
	w.secret = "whsec-" + randomKey(t)
	w.c.env["WEBHOOK_SECRET"] = w.secret
	if r := w.run(exitOK, "plan"); !strings.Contains(r.stdout, "secrets.WEBHOOK_SECRET: (sensitive") {
		t.Errorf("plan after the secret changed does not show it:\n%s", r.stdout)
	}
	w.run(exitOK, "apply", "--auto-approve")
	w.wantSecret("after the secret changed")
	w.run(exitOK, "plan", "--detailed-exitcode")

	// Dropped while KV and R2 hold data: refused, then deleted with --delete-data.
	w.dropStorage()
	w.run(exitError, "apply", "--auto-approve")
	if q.R2NoObjectList && !q.R2DeleteNonEmpty {
		r := w.run(exitError, "apply", "--auto-approve", "--delete-data")
		if !strings.Contains(r.stderr, "empty it") {
			t.Errorf("--delete-data on a bucket whose objects the API does not list: %s", r.stderr)
		}
		if status, _ := storageRaw(t, w.srv, "r2/buckets/"+storR2); status != http.StatusOK {
			t.Errorf("the bucket that could not be emptied is gone (status %d)", status)
		}
	} else {
		w.run(exitOK, "apply", "--auto-approve", "--delete-data")
		readAccountStorage(t, w.srv).wantOnly(t, "after apply --delete-data", nil, nil, nil)
		w.wantServes("two")
		w.run(exitOK, "plan", "--detailed-exitcode")
	}
	w.checkNoSecret()
}

// wantSecret checks that the worker holds the secret the test exported.
func (w *storageWorld) wantSecret(when string) {
	w.t.Helper()
	var seen struct{ Bound, Matches bool }
	if status := w.request("/secret", w.secret, &seen); status != http.StatusOK || !seen.Bound || !seen.Matches {
		w.t.Errorf("%s: the worker's secret: status %d, %+v; want it bound and equal to the value exported", when, status, seen)
	}
}
