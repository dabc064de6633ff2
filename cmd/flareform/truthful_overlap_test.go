package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf"
)

// overlapRounds is how often each overlap is repeated: the order two processes meet in varies
// from round to round.
const overlapRounds = 5

// copyProject copies a project directory (spec, src/ and, with keyStore, the key store in
// .flareform) to dst, as a second machine with the same checkout would have it.
func copyProject(t *testing.T, src, dst string, keyStore bool) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() && rel == ".flareform" && !keyStore {
			return filepath.SkipDir
		}
		if d.IsDir() && (rel == filepath.Join(".flareform", "local")) {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		if filepath.Base(path) == "lock" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatalf("copy project: %v", err)
	}
}

// slowUpload makes every upload (PUT of the script) of name wait ms before it is handled.
func slowUpload(srv *localcf.Server, name string, ms int) {
	srv.SetFaults([]localcf.FaultRule{{Path: "*/workers/scripts/" + name, Method: "PUT", Kind: "latency", LatencyMS: ms}}, 1)
}

// TestTruthfulOverlapTwoMachinesCreate: two applies of one new worker from two checkouts at
// once. Every run that exits 0 handed over (--key-out) a key that opens the worker afterwards;
// a run that fails names the worker.
func TestTruthfulOverlapTwoMachinesCreate(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specA := initBinProject(t, b, "race")
	specB := filepath.Join(t.TempDir(), "race", "flareform.yaml")
	copyProject(t, filepath.Dir(specA), filepath.Dir(specB), false)
	succeeded := 0
	for round := range overlapRounds {
		name := fmt.Sprintf("race%d", round)
		spec := fmt.Sprintf("project: race-%d\nworkers:\n%s", round, imageWorkerYAML(name, false))
		writeSpec(t, specA, spec)
		writeSpec(t, specB, spec)
		keys := t.TempDir()
		runs := []*proc{
			b.start("-f", specA, "apply", "--auto-approve", "--key-out", filepath.Join(keys, "a.key")),
			b.start("-f", specB, "apply", "--auto-approve", "--key-out", filepath.Join(keys, "b.key")),
		}
		for i, p := range runs {
			r := p.wait(t)
			keyFile := filepath.Join(keys, []string{"a.key", "b.key"}[i])
			if r.code != exitOK {
				if !strings.Contains(r.stderr, name) {
					t.Errorf("round %d run %d: exit %d without naming the worker:\n%s", round, i, r.code, r.stderr)
				}
				continue
			}
			succeeded++
			if got := postWith(t, srv, name, readKey(t, keyFile)); got != http.StatusOK {
				t.Errorf("round %d run %d exited 0 but its key gets %d\nstdout:\n%s\nstderr:\n%s", round, i, got, r.stdout, r.stderr)
			}
		}
	}
	if succeeded == 0 {
		t.Error("no apply of any round exited 0; the test proved nothing")
	}
}

// TestTruthfulOverlapSameDirLock: a second apply in the same project while the first is still
// uploading fails at once naming the holder; the first completes.
func TestTruthfulOverlapSameDirLock(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specPath := initBinProject(t, b, "locked")
	slowUpload(srv, "locked", 1000)
	first := b.start("-f", specPath, "apply", "--auto-approve", "--no-smoke")
	if !first.waitStderr("locked: uploading") {
		t.Fatalf("the first apply never uploaded:\n%s", first.wait(t).stderr)
	}
	second := b.run("-f", specPath, "apply", "--auto-approve", "--no-smoke")
	holder := "pid " + strconv.Itoa(first.cmd.Process.Pid) + ", flareform apply"
	if second.code != exitError || !strings.Contains(second.stderr, holder) {
		t.Errorf("the second apply: exit %d, stderr %q; want 1 naming %q", second.code, second.stderr, holder)
	}
	if r := first.wait(t); r.code != exitOK {
		t.Fatalf("the first apply: exit %d\n%s", r.code, r.stderr)
	}
	srv.SetFaults(nil, 1)
	if got := postWith(t, srv, "locked", keyInStore(t, specPath, "locked")); got != http.StatusOK {
		t.Errorf("the first apply's key gets %d", got)
	}
}

// TestTruthfulOverlapApplyAndRotate: apply (with its upload slowed) and rotate-key of the same
// worker from two checkouts at once. A rotate-key that exits 0 leaves its new key working and
// the old key working in its window, also after the apply ended.
func TestTruthfulOverlapApplyAndRotate(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specA := initBinProject(t, b, "images")
	keys := t.TempDir()
	oldKeyFile := filepath.Join(keys, "old.key")
	b.mustRun(0, "-f", specA, "apply", "--auto-approve", "--no-smoke", "--key-out", oldKeyFile)
	specB := filepath.Join(t.TempDir(), "images", "flareform.yaml")
	copyProject(t, filepath.Dir(specA), filepath.Dir(specB), true)
	oldKey := readKey(t, oldKeyFile)

	rotated := 0
	for round := range overlapRounds {
		editFile(t, specA, fmt.Sprintf(`MAX_PROMPT_CHARS: "%d"`, 1000-round), fmt.Sprintf(`MAX_PROMPT_CHARS: "%d"`, 999-round))
		newKeyFile := filepath.Join(keys, fmt.Sprintf("new%d.key", round))
		// The rounds vary the upload's delay and who starts first, so the two runs meet at
		// different steps.
		slowUpload(srv, "images", 150*(round+1))
		rotateArgs := []string{"-f", specB, "rotate-key", "images", "--key-out", newKeyFile, "--old-key-file", oldKeyFile}
		var rotate, apply *proc
		if round%2 == 1 {
			rotate = b.start(rotateArgs...)
		}
		apply = b.start("-f", specA, "apply", "--auto-approve", "--no-smoke")
		if round%2 == 0 {
			if !apply.waitStderr("images: uploading") {
				t.Fatalf("round %d: apply never uploaded:\n%s", round, apply.wait(t).stderr)
			}
			rotate = b.start(rotateArgs...)
		}
		rot, ar := rotate.wait(t), apply.wait(t)
		srv.SetFaults(nil, 1)
		t.Logf("round %d: apply exit %d, rotate-key exit %d", round, ar.code, rot.code)
		if rot.code != exitOK {
			if !strings.Contains(rot.stderr, "images") {
				t.Errorf("round %d: rotate-key failed without naming the worker:\n%s", round, rot.stderr)
			}
			settle(t, b, specB, oldKeyFile, newKeyFile)
		} else {
			rotated++
			newKey := readKey(t, newKeyFile)
			for what, key := range map[string]string{"new": newKey, "old (in its window)": oldKey} {
				if got := postWith(t, srv, "images", key); got != http.StatusOK {
					t.Errorf("round %d: rotate-key exited 0, apply exited %d; afterwards the %s key gets %d\napply stderr:\n%s\nrotate stderr:\n%s",
						round, ar.code, what, got, ar.stderr, rot.stderr)
				}
			}
		}
		newKey := readKey(t, newKeyFile)
		if ar.code != exitOK {
			// The apply that met the rotation is run again, as its error says; it must finish
			// without cutting the rotation's window.
			if !strings.Contains(ar.stderr, "changed while this run was applying") {
				t.Errorf("round %d: the apply failed for another reason:\n%s", round, ar.stderr)
			}
			b.mustRun(0, "-f", specA, "apply", "--auto-approve", "--no-smoke")
			for what, key := range map[string]string{"new": newKey, "old (in its window)": oldKey} {
				if got := postWith(t, srv, "images", key); got != http.StatusOK {
					t.Errorf("round %d: after the re-run of apply the %s key gets %d", round, what, got)
				}
			}
		}
		// End the window so the next round starts from one key again.
		b.mustRun(0, "-f", specB, "rotate-key", "images", "--finish", "--key-file", newKeyFile)
		oldKeyFile, oldKey = newKeyFile, newKey
		if got := postWith(t, srv, "images", oldKey); got != http.StatusOK {
			t.Fatalf("round %d: after settling, the current key gets %d", round, got)
		}
	}
	if rotated == 0 {
		t.Error("no rotate-key exited 0; the test proved nothing")
	}
}

// settle re-runs a rotation that failed while another run wrote, which must then complete.
func settle(t *testing.T, b *binCLI, specPath, oldKeyFile, newKeyFile string) {
	t.Helper()
	b.mustRun(0, "-f", specPath, "rotate-key", "images", "--key-out", newKeyFile, "--old-key-file", oldKeyFile)
}

// slowRotation makes every settings change (a rotation's deploy) of name wait ms.
func slowRotation(srv *localcf.Server, name string, ms int) {
	srv.SetFaults([]localcf.FaultRule{{Path: "*/workers/scripts/" + name + "/settings", Method: "PATCH", Kind: "latency", LatencyMS: ms}}, 1)
}

// TestTruthfulOverlapTwoRotations: two rotate-key runs of one worker at once. In one project
// directory the second fails at once naming the lock; from two checkouts at most one exits 0,
// and every key an exit-0 run handed over opens the worker afterwards.
func TestTruthfulOverlapTwoRotations(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specA := initBinProject(t, b, "images")
	keys := t.TempDir()
	current := filepath.Join(keys, "current.key")
	b.mustRun(0, "-f", specA, "apply", "--auto-approve", "--no-smoke", "--key-out", current)
	specB := filepath.Join(t.TempDir(), "images", "flareform.yaml")
	copyProject(t, filepath.Dir(specA), filepath.Dir(specB), true)

	// Same directory: the lock.
	slowRotation(srv, "images", 800)
	first := b.start("-f", specA, "rotate-key", "images", "--key-out", filepath.Join(keys, "first.key"))
	if !first.waitStderr("deploying new key") {
		t.Fatalf("the first rotate-key never deployed:\n%s", first.wait(t).stderr)
	}
	second := b.run("-f", specA, "rotate-key", "images", "--key-out", filepath.Join(keys, "second.key"))
	holder := "pid " + strconv.Itoa(first.cmd.Process.Pid) + ", flareform rotate-key"
	if second.code != exitError || !strings.Contains(second.stderr, holder) {
		t.Errorf("the second rotate-key in one directory: exit %d, stderr %q; want 1 naming %q", second.code, second.stderr, holder)
	}
	if r := first.wait(t); r.code != exitOK {
		t.Fatalf("the first rotate-key: exit %d\n%s", r.code, r.stderr)
	}
	revoke(t, b, specA, current)

	// Two checkouts.
	for round := range overlapRounds {
		slowRotation(srv, "images", 100*(round+1))
		outs := []string{filepath.Join(keys, fmt.Sprintf("a%d.key", round)), filepath.Join(keys, fmt.Sprintf("b%d.key", round))}
		runs := []*proc{
			b.start("-f", specA, "rotate-key", "images", "--key-out", outs[0], "--old-key-file", current),
			b.start("-f", specB, "rotate-key", "images", "--key-out", outs[1], "--old-key-file", current),
		}
		var handed []string
		for i, p := range runs {
			r := p.wait(t)
			t.Logf("round %d run %d: exit %d", round, i, r.code)
			if r.code == exitOK {
				handed = append(handed, readKey(t, outs[i]))
			} else if !strings.Contains(r.stderr, "images") {
				t.Errorf("round %d run %d: exit %d without naming the worker:\n%s", round, i, r.code, r.stderr)
			}
		}
		srv.SetFaults(nil, 1)
		if len(handed) > 1 {
			t.Errorf("round %d: both rotations exited 0", round)
		}
		for _, key := range handed {
			if got := postWith(t, srv, "images", key); got != http.StatusOK {
				t.Errorf("round %d: a key handed over by a rotate-key that exited 0 gets %d", round, got)
			}
		}
		revoke(t, b, specA, current)
	}
}

// revoke ends whatever the last rotations left with a revoke into path, which must work.
func revoke(t *testing.T, b *binCLI, specPath, path string) {
	t.Helper()
	os.Remove(path)
	b.mustRun(0, "-f", specPath, "rotate-key", "images", "--revoke", "--key-out", path)
}

// TestTruthfulOverlapLocal: two --local runs on one project at once. The second fails naming
// the lock (the project's for apply, the state directory's for plan); the state directory
// always loads afterwards.
func TestTruthfulOverlapLocal(t *testing.T) {
	t.Parallel()
	b := newBinCLI(t, nil)
	specPath := initBinProject(t, b, "images")
	f := []string{"-f", specPath, "--local"}
	slow := b.with(map[string]string{envLocalFaults: "latency@*/workers/scripts/images:ms=800:method=PUT"})
	for round := range overlapRounds {
		editFile(t, specPath, fmt.Sprintf(`MAX_PROMPT_CHARS: "%d"`, 1000-round), fmt.Sprintf(`MAX_PROMPT_CHARS: "%d"`, 999-round))
		first := slow.start(append(f, "apply", "--auto-approve", "--no-smoke")...)
		if !first.waitStderr("images: uploading") {
			t.Fatalf("round %d: the first --local apply never uploaded:\n%s", round, first.wait(t).stderr)
		}
		second, want := []string{"plan"}, "in use by another local Cloudflare"
		if round%2 == 1 {
			second, want = []string{"apply", "--auto-approve", "--no-smoke"}, "holds the lock"
		}
		r := b.run(append(f, second...)...)
		if r.code != exitError || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, strconv.Itoa(first.cmd.Process.Pid)) {
			t.Errorf("round %d: %s --local during an apply: exit %d, stderr %q; want 1, %q and the holder's pid",
				round, second[0], r.code, r.stderr, want)
		}
		if r := first.wait(t); r.code != exitOK {
			t.Fatalf("round %d: the first --local apply: exit %d\n%s", round, r.code, r.stderr)
		}
		b.mustRun(exitOK, append(f, "plan", "--detailed-exitcode")...)
	}
}
