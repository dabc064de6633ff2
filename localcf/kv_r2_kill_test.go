package localcf

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// kvKillChildEnv makes TestKVR2KillChild a server process that writes KV values, R2 objects and
// namespaces in a loop on the state directory it names, until TestKVR2Kill9 kills it.
const kvKillChildEnv = "LOCALCF_TEST_KV_CHILD_STATE_DIR"

// killValue is write i's value: 64 KiB of its counter, so a torn value shows as mixed counters.
func killValue(i int) string { return strings.Repeat(fmt.Sprintf("%08d", i), 8192) }

// wholeKillValue reports whether v is one write's value.
func wholeKillValue(v string) bool {
	return len(v) == 8*8192 && v == strings.Repeat(v[:8], 8192)
}

func TestKVR2KillChild(t *testing.T) {
	dir := os.Getenv(kvKillChildEnv)
	if dir == "" {
		t.Skip("the writing child of TestKVR2Kill9; runs only under it")
	}
	srv, err := Start(t.Context(), Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv)
	nsID := os.Getenv(kvKillChildEnv + "_NS")
	fmt.Println("ready")
	run := randomHex(4) // titles of earlier (killed) runs may still exist
	for i := 1; ; i++ {
		c.putKVValue(nsID, "hot", []byte(killValue(i)), "")
		c.putObject("kill-bucket", "hot", killValue(i))
		r := c.json(http.MethodPost, "/storage/kv/namespaces", map[string]any{"title": fmt.Sprintf("tmp-%s-%d", run, i)})
		var ns kvPublic
		if r.Status != http.StatusOK || json.Unmarshal(r.Env.Result, &ns) != nil {
			t.Fatalf("create: HTTP %d %s", r.Status, r.Body)
		}
		c.putKVValue(ns.ID, "k", []byte("v"), "")
		c.do(http.MethodDelete, "/storage/kv/namespaces/"+ns.ID, "", nil)
	}
}

// TestKVR2Kill9: a server killed (SIGKILL) in the middle of KV and R2 writes, namespace
// creations and deletions restarts with every value whole, and with no namespace half there.
func TestKVR2Kill9(t *testing.T) {
	dir := t.TempDir()
	srv, err := Start(t.Context(), Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv)
	nsID := c.createKV("kill-kv")
	expect(t, c.putKVValue(nsID, "hot", []byte(killValue(0)), ""), http.StatusOK, 0)
	expect(t, c.createBucket("kill-bucket"), http.StatusOK, 0)
	expect(t, c.putObject("kill-bucket", "hot", killValue(0)), http.StatusOK, 0)
	token, account := c.token, c.account
	srv.Close()

	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKVR2KillChild$")
		cmd.Env = append(os.Environ(), kvKillChildEnv+"="+dir, kvKillChildEnv+"_NS="+nsID)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child did not start: %q %v", line, err)
		}
		time.Sleep(time.Duration(80+round*90) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: the writing child ended before it was killed: %v", round, cmd.ProcessState)
		}

		srv, err := Start(t.Context(), Options{StateDir: dir})
		if err != nil {
			t.Fatalf("round %d: does not start after SIGKILL: %v", round, err)
		}
		c := &client{t: t, srv: srv, token: token, account: account}
		r := c.do(http.MethodGet, "/storage/kv/namespaces/"+nsID+"/values/hot", "", nil)
		if r.Status != http.StatusOK || !wholeKillValue(string(r.Body)) {
			srv.Close()
			t.Fatalf("round %d: KV value after SIGKILL: HTTP %d, %d bytes, whole=%v", round, r.Status, len(r.Body), wholeKillValue(string(r.Body)))
		}
		r = c.do(http.MethodGet, "/r2/buckets/kill-bucket/objects/hot", "", nil)
		if r.Status != http.StatusOK || !wholeKillValue(string(r.Body)) {
			srv.Close()
			t.Fatalf("round %d: R2 object after SIGKILL: HTTP %d, %d bytes", round, r.Status, len(r.Body))
		}
		// Every namespace left is whole: readable, with its one key or none.
		var all []kvPublic
		c.do(http.MethodGet, "/storage/kv/namespaces?per_page=1000", "", nil).result(t, &all)
		for _, ns := range all {
			keys, _ := c.kvKeys(ns.ID, "")
			if len(keys) > 1 || ns.Title == "" {
				srv.Close()
				t.Fatalf("round %d: namespace %+v holds %v", round, ns, keyNames(keys))
			}
		}
		t.Logf("round %d: %d namespaces, R2 object of write %s", round, len(all), r.Body[:8])
		srv.Close()
	}
}
