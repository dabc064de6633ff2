package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/localcftest"
)

// storageCrash is one apply TestStorageCrashes kills at each of its API calls.
type storageCrash struct {
	name string
	// prepare deploys the start and edits the spec to what the command applies.
	prepare func(f *convFixture)
	// args is the command (without -f); the re-run is the same command.
	args []string
	// code is the exit code of the command run to its end (and of the re-run).
	code int
	// check checks the end state after the re-run.
	check func(f *convFixture)
}

var storageCrashes = []storageCrash{
	{
		// Adding kv, r2 and d1 to a deployed worker: the objects are created, then the upload
		// binds them.
		name: "add",
		prepare: func(f *convFixture) {
			f.mustCmd(exitOK, "apply", "--auto-approve")
			writeTestFile(f.t, f.spec, storageSpec("two", storageBlock))
		},
		args: []string{"apply", "--auto-approve"},
		code: exitOK,
		check: func(f *convFixture) {
			// The worker serves the spec and uses all three: a write then a read of each.
			wantStore(f.t, f.srv, "after-crash")
			wantServesMode(f, "two")
			// Nothing created twice, nothing left behind un-bound: exactly one object of each
			// name, and it is the one the worker binds.
			a := readAccountStorage(f.t, f.srv)
			a.wantOnly(f.t, "after the re-run", []string{storKV}, []string{storR2}, []string{storD1})
			wantBound(f.t, f.srv, a)
			f.wantInSpec()
		},
	},
	{
		// Removing kv, r2 and d1 that hold data (keys, objects, a table) with --delete-data: the
		// upload unbinds them, then they are deleted (the bucket emptied first).
		name: "remove-delete-data",
		prepare: func(f *convFixture) {
			f.mustCmd(exitOK, "apply", "--auto-approve")
			wantStore(f.t, f.srv, "one")
			wantStore(f.t, f.srv, "two")
			writeTestFile(f.t, f.spec, storageSpec("two", ""))
		},
		args: []string{"apply", "--auto-approve", "--delete-data"},
		code: exitOK,
		check: func(f *convFixture) {
			if requireDeleteAfterUnbind {
				readAccountStorage(f.t, f.srv).wantOnly(f.t, "after the re-run", nil, nil, nil)
			}
			wantServesMode(f, "two")
			if b := scriptStorageBindings(f.t, f.srv); len(b) != 1 {
				f.t.Errorf("after the re-run the worker binds %v, want the secret alone", b)
			}
			f.wantInSpec()
		},
	},
	{
		// No data lost: a plain apply removing an empty D1 database and a KV namespace that
		// holds a key (and changing a var) refuses before any write, killed or not, every
		// time; the database is not deleted either (the run writes nothing).
		name: "refuse-kv-holds-data",
		prepare: func(f *convFixture) {
			f.mustCmd(exitOK, "apply", "--auto-approve")
			id := readAccountStorage(f.t, f.srv).kv[storKV]
			if status, raw := storageAPI(f.t, f.srv, http.MethodPut, "storage/kv/namespaces/"+id+"/values/k-kept", "kv:kept"); status != http.StatusOK {
				f.t.Fatalf("PUT a KV key: %d %s", status, raw)
			}
			writeTestFile(f.t, f.spec, storageSpec("two", ""))
			f.srv.ResetRequests() // from here on, no write may reach the server
		},
		args: []string{"apply", "--auto-approve"},
		code: exitError,
		check: func(f *convFixture) {
			if recs := f.srv.Requests(); countWrites(recs) != 0 {
				var writes []string
				for _, r := range recs {
					if isWrite(r.Method) {
						writes = append(writes, r.Method+" "+r.Path)
					}
				}
				f.t.Errorf("the refused applies wrote: %v", writes)
			}
			a := readAccountStorage(f.t, f.srv)
			a.wantOnly(f.t, "after the refusals", []string{storKV}, nil, []string{storD1})
			if status, body := storageRaw(f.t, f.srv, "storage/kv/namespaces/"+a.kv[storKV]+"/values/k-kept"); status != http.StatusOK || body != "kv:kept" {
				f.t.Errorf("the namespace's key after the refusals: %d %q", status, body)
			}
			if b := scriptStorageBindings(f.t, f.srv); b["kv.CACHE"] != a.kv[storKV] || b["d1.DB"] != a.d1[storD1] {
				f.t.Errorf("the worker's bindings changed: %v", b)
			}
			wantServesMode(f, "one")
		},
	},
}

// requireDeleteAfterUnbind makes remove-delete-data require, after every kill, that the re-run
// with --delete-data deletes all three objects, including after a kill once the upload that
// unbinds them (and drops their ownership marks) had landed and before their deletes finished.
// The engine makes that true by recording, on that upload's version, the version it replaces
// and which of its storage the run deletes next (the annotation's unbound= field,
// provision/kind_unbound.go): the re-run's plan takes those objects as flareform's again.
const requireDeleteAfterUnbind = true

// refuseStorage is the start of refuse-kv-holds-data: a KV namespace and a D1 database.
const refuseStorage = "    kv:\n      CACHE: " + storKV + "\n    d1:\n      DB: " + storD1 + "\n"

// TestStorageCrashes kills, with SIGKILL, each storage apply of storageCrashes at each of its
// API calls, before the server saw the call (sent) and after it took effect (done), as
// TestConsumerKeyCrashes does for consumers, then runs the same command again:
//   - add (kv, r2 and d1 added to a deployed worker): the re-run exits 0, the worker writes
//     and reads all three, plan --detailed-exitcode is 0, the account holds exactly one object
//     of each name (none created twice) and the worker binds it (none left un-bound);
//   - remove-delete-data (all three removed, holding data, with --delete-data; the re-run with
//     --delete-data too): the re-run exits 0, the worker serves the spec without them, plan is
//     clean and all three are gone, also after a kill once the upload that unbinds them had
//     landed (requireDeleteAfterUnbind);
//   - refuse-kv-holds-data (a plain apply removing an empty D1 and a KV namespace that holds a
//     key, and changing a var): the killed run and the re-run write nothing at all (the local
//     Cloudflare's request log), the re-run refuses (exit 1), the key and the database are
//     still there and the worker still binds them.
//
// In each, WEBHOOK_SECRET's value and the API token appear in no output and no project file.
//
// What breaks it: an apply that deletes storage without the data check (or checks after its
// upload) writes in refuse-kv-holds-data; a create that is not found again after a crash (a
// plan that does not bind an object that exists under its name) makes a second namespace or a
// failed create, caught by wantOnly; an ownership mark that is lost between the upload that
// unbinds an object and its delete (an upload that does not record the objects it unbinds as
// unbound=) leaves the object behind, caught by remove-delete-data's wantOnly after about half
// of its kill points, those after the unbinding upload.
func TestStorageCrashes(t *testing.T) {
	t.Parallel()
	for _, sc := range storageCrashes {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			calls := calibrateStorageCrash(t, sc)
			for step := range calls {
				for _, after := range []bool{false, true} {
					t.Run(fmt.Sprintf("call%02d-%s", step, map[bool]string{false: "sent", true: "done"}[after]), func(t *testing.T) {
						t.Parallel()
						runStorageCrash(t, sc, step, after)
					})
				}
			}
		})
	}
}

// newStorageCrashFixture is a convFixture (own local Cloudflare, project) around the storage
// project, deployed by sc.prepare.
func newStorageCrashFixture(t *testing.T, sc storageCrash) *convFixture {
	t.Helper()
	srv := localcftest.New(t, localcf.Options{RateLimit: 1 << 30})
	secret := "whsec-" + randomKey(t)
	c := newCLI(t, map[string]string{
		envAPIBaseURL:    srv.APIBaseURL(),
		envAPIToken:      srv.Token(),
		envAccountID:     srv.AccountID(),
		"WEBHOOK_SECRET": secret,
	})
	f := &convFixture{t: t, srv: srv, c: c, keyDir: t.TempDir(), keys: map[string]string{}}
	for name, part := range secretAndParts("WEBHOOK_SECRET value", secret, map[string]string{}) {
		f.remember(name, part)
	}
	storage := ""
	switch sc.name {
	case "remove-delete-data":
		storage = storageBlock
	case "refuse-kv-holds-data":
		storage = refuseStorage
	}
	f.spec = storageProject(t, "one", storage)
	sc.prepare(f)
	return f
}

// calibrateStorageCrash runs the command once without a kill, checks it and returns how many
// API calls it made (the gate numbers them as the crash runs will).
func calibrateStorageCrash(t *testing.T, sc storageCrash) int {
	f := newStorageCrashFixture(t, sc)
	gate := newCallGate(t, f.srv.APIBaseURL(), -1, false)
	r := f.startBinary(gate.url, sc.args).wait(t)
	f.record(r)
	if r.code != sc.code {
		t.Fatalf("calibration: %s without a kill: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", sc.name, r.code, sc.code, r.stdout, r.stderr)
	}
	if sc.code == exitError {
		checkStorageRefusal(t, r)
	}
	sc.check(f)
	checkNoLeaks(t, f)
	calls := gate.forwarded()
	if len(calls) == 0 {
		t.Fatalf("calibration: %s made no API call", sc.name)
	}
	var list []string
	for _, c := range calls {
		list = append(list, c.method+" "+strings.TrimPrefix(c.path, "/client/v4/accounts/"+f.srv.AccountID()))
	}
	t.Logf("%s makes %d API calls: %s", sc.name, len(calls), strings.Join(list, ", "))
	if t.Failed() {
		t.FailNow()
	}
	return len(calls)
}

// runStorageCrash kills the command at API call step, runs it again and checks (see
// TestStorageCrashes).
func runStorageCrash(t *testing.T, sc storageCrash, step int, afterHandled bool) {
	f := newStorageCrashFixture(t, sc)
	var runs []result
	defer func() {
		if t.Failed() {
			t.Logf("reproduce: go test ./cmd/flareform -run '^TestStorageCrashes$/^%s$/^call%02d-%s$' -count=1",
				sc.name, step, map[bool]string{false: "sent", true: "done"}[afterHandled])
			logRuns(t, runs)
		}
	}()

	gate := newCallGate(t, f.srv.APIBaseURL(), -1, afterHandled)
	n, held := 0, ""
	gate.holdWhen = func(r *http.Request) bool {
		n++
		if n-1 != step {
			return false
		}
		held = r.Method + " " + strings.TrimPrefix(r.URL.Path, "/client/v4/accounts/"+f.srv.AccountID())
		return true
	}
	p := f.startBinary(gate.url, sc.args)
	var killed result
	if gate.waitHeld(t, p) {
		f.crashed = true
		killed = p.kill9(t)
		gate.end(false)
		t.Logf("killed at call %d, %s (%s)", step, held, map[bool]string{false: "before the server saw it", true: "after it took effect"}[afterHandled])
	} else {
		killed = p.wait(t)
		t.Logf("the run ended (exit %d) before call %d", killed.code, step)
	}
	f.record(killed)
	runs = append(runs, killed)
	if sc.name == "remove-delete-data" && f.crashed {
		b := scriptStorageBindings(t, f.srv)
		unbound := b["kv.CACHE"] == "" && b["r2.IMAGES"] == "" && b["d1.DB"] == ""
		t.Logf("after the kill the worker binds %v (storage unbound: %t); account: %s", b, unbound, readAccountStorage(t, f.srv))
	}

	rerun := f.cmd(sc.args...)
	runs = append(runs, rerun)
	if rerun.code != sc.code {
		t.Fatalf("the re-run after the crash: exit %d, want %d (%s)", rerun.code, sc.code, lastLine(rerun.stderr))
	}
	if sc.code == exitError {
		checkStorageRefusal(t, rerun)
	}
	sc.check(f)
	checkNoLeaks(t, f)
}

// checkStorageRefusal checks refuse-kv-holds-data's refusal: it names the namespace that holds
// data and both flags, not the empty database.
func checkStorageRefusal(t *testing.T, r result) {
	t.Helper()
	msg := lastLine(r.stderr)
	for _, want := range []string{"kv_namespace " + storKV + " (holds 1 key)", "--delete-data", "--keep-data", "nothing was changed"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(msg, "d1_database") {
		t.Errorf("the refusal names the empty database: %s", msg)
	}
}

// wantServesMode checks that the worker serves MODE mode.
func wantServesMode(f *convFixture, mode string) {
	f.t.Helper()
	var got struct{ Mode string }
	if status := storageRequest(f.t, f.srv, "/ping", "", &got); status != http.StatusOK || got.Mode != mode {
		f.t.Errorf("the worker serves MODE %q (status %d), want %q", got.Mode, status, mode)
	}
}
