package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf"
)

// postWith sends the text-to-image request with key to the deployed worker.
func postWith(t *testing.T, srv *localcf.Server, worker, key string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+srv.WorkersDevAddr()+"/",
		strings.NewReader(`{"prompt":"a lighthouse"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = worker + "." + srv.Subdomain() + ".workers.dev"
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

func readKey(t *testing.T, path string) string {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %o, want 600", path, info.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestRotateKeyCommand walks rotate, finish, a stdout rotation and a JSON revoke through the CLI
// and checks that every key appears only where it is handed over.
func TestRotateKeyCommand(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")
	f := []string{"-f", specPath}
	keys := t.TempDir()
	current := filepath.Join(keys, "images.key")
	c.mustRun(0, append(f, "apply", "--auto-approve", "--key-out", current)...)
	first := readKey(t, current)
	firstCopy := filepath.Join(keys, "first.key")
	if err := os.WriteFile(firstCopy, []byte(first+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	outputs := map[string][]string{} // where each key may appear
	handoverRuns := map[int]bool{}

	// 1. Rotate into the same --key-out file: it held the old key, which is checked too.
	r := c.mustRun(0, append(f, "rotate-key", "images", "--key-out", current)...)
	second := readKey(t, current)
	if second == first || r.stdout != "" {
		t.Fatalf("rotation: key changed %t, stdout %q (want empty: the key went to the file)", second != first, r.stdout)
	}
	for _, want := range []string{"rotated (phase rotating)", "old key still accepted", "rotate-key images --finish"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("rotation summary lacks %q:\n%s", want, r.stderr)
		}
	}
	if postWith(t, srv, "images", first) != http.StatusOK || postWith(t, srv, "images", second) != http.StatusOK {
		t.Error("during the window both keys must work")
	}
	c.mustRun(exitOK, append(f, "plan", "--detailed-exitcode")...)

	// 2. Finish: the old key is refused, and the command verified it.
	r = c.mustRun(0, append(f, "rotate-key", "images", "--finish", "--key-file", current, "--old-key-file", firstCopy)...)
	if !strings.Contains(r.stderr, "finished (phase stable)") || !strings.Contains(r.stderr, "old key rejected") {
		t.Errorf("finish summary:\n%s", r.stderr)
	}
	if postWith(t, srv, "images", first) != http.StatusUnauthorized || postWith(t, srv, "images", second) != http.StatusOK {
		t.Error("after finish the old key must get 401 and the new one 200")
	}

	// 3. Rotate with the key handed over on stdout: stdout is exactly the key.
	c.env[envAPIKey] = second
	r = c.mustRun(0, append(f, "rotate-key", "images", "--grace", "1h")...)
	third := strings.TrimSpace(r.stdout)
	if len(third) < 43 || strings.Contains(third, "\n") || strings.Contains(r.stderr, third) {
		t.Fatalf("stdout hand-over %q is not one key line (or the key is in stderr)", r.stdout)
	}
	handoverRuns[len(c.transcript)-2] = true
	outputs[third] = append(outputs[third], "stdout of the stdout rotation")
	if postWith(t, srv, "images", third) != http.StatusOK || postWith(t, srv, "images", second) != http.StatusOK {
		t.Error("after the stdout rotation both keys must work")
	}

	// 4. Revoke with the JSON hand-over: every earlier key is refused at once.
	c.env[envAPIKey] = third
	r = c.mustRun(0, append(f, "rotate-key", "images", "--revoke", "--json")...)
	var res struct {
		Action     string `json:"action"`
		Phase      string `json:"phase"`
		HandedOver bool   `json:"handed_over"`
		APIKey     string `json:"api_key"`
		Checks     []struct {
			Name   string `json:"name"`
			Passed bool   `json:"passed"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("revoke --json stdout is not one JSON document: %v\n%s", err, r.stdout)
	}
	handoverRuns[len(c.transcript)-2] = true
	if res.Action != "revoked" || res.Phase != "stable" || !res.HandedOver || len(res.APIKey) < 43 {
		t.Fatalf("revoke result %+v", res)
	}
	for _, ch := range res.Checks {
		if !ch.Passed {
			t.Errorf("revoke check %q did not pass", ch.Name)
		}
	}
	for name, key := range map[string]string{"second": second, "third": third} {
		if got := postWith(t, srv, "images", key); got != http.StatusUnauthorized {
			t.Errorf("%s key right after revoke: %d, want 401", name, got)
		}
	}
	if postWith(t, srv, "images", res.APIKey) != http.StatusOK {
		t.Error("the revoke's new key does not work")
	}

	// No key in any output except its own hand-over.
	for name, key := range map[string]string{"first": first, "second": second, "third": third, "revoke": res.APIKey} {
		for i, out := range c.transcript {
			if strings.Contains(out, key) && !(handoverRuns[i] && (key == third || key == res.APIKey)) {
				t.Errorf("the %s key appears in output #%d", name, i)
			}
		}
	}
	if n := strings.Count(strings.Join(c.transcript, "\n"), third); n != 1 {
		t.Errorf("the stdout-handed key appears %d times in all output, want 1", n)
	}
	assertSecretsOnlyIn(t, map[string]string{"first key": first, "second key": second}, nil, "", filepath.Dir(specPath))
}

func TestRotateKeyCommandRejectsBadInput(t *testing.T) {
	_, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")
	f := []string{"-f", specPath}
	c.env["SHORT_KEY"] = "tooshort"
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"rotate-key", "nope"}, `no worker "nope"`},
		{[]string{"rotate-key", "images", "--from", "env:SHORT_KEY"}, "fewer than 32"},
		{[]string{"rotate-key", "images", "--from", "vault:x"}, "env:NAME or file:PATH"},
		{[]string{"rotate-key", "images", "--finish", "--revoke"}, "none of the others can be"},
		{[]string{"rotate-key", "images"}, "does not exist"},
	}
	for _, tc := range cases {
		r := c.mustRun(exitError, append(f, tc.args...)...)
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: stderr %q, want it to mention %q", tc.args, r.stderr, tc.want)
		}
		if strings.Contains(r.stderr, "tooshort") {
			t.Errorf("%v: the key value appears in the error", tc.args)
		}
	}
}

// A rotation sends the key it retires as API_KEY_PREVIOUS (the API may not copy a secret under
// another name), so rotate-key needs it. The key store has every key flareform generated; a key
// made elsewhere (here: the store is gone, as on another machine) must be passed, and without it
// rotate-key stops before any write and says how.
func TestRotateKeyNeedsTheKeyItRetires(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")
	f := []string{"-f", specPath}
	keys := t.TempDir()
	first := filepath.Join(keys, "first.key")
	c.mustRun(0, append(f, "apply", "--auto-approve", "--key-out", first)...)
	if err := os.Remove(filepath.Join(filepath.Dir(specPath), ".flareform", "keys.json")); err != nil {
		t.Fatal(err)
	}

	srv.ResetRequests()
	r := c.mustRun(exitError, append(f, "rotate-key", "images", "--key-out", filepath.Join(keys, "second.key"))...)
	if !strings.Contains(r.stderr, "--old-key-file") || !strings.Contains(r.stderr, "nothing was changed") {
		t.Errorf("rotation without the old key: stderr does not ask for --old-key-file:\n%s", r.stderr)
	}
	if n := countWrites(srv.Requests()); n != 0 {
		t.Errorf("the refused rotation made %d writes", n)
	}
	if _, err := os.Stat(filepath.Join(keys, "second.key")); err == nil {
		t.Error("the refused rotation wrote a key file")
	}

	c.mustRun(0, append(f, "rotate-key", "images", "--old-key-file", first, "--key-out", filepath.Join(keys, "second.key"))...)
	old, second := readKey(t, first), readKey(t, filepath.Join(keys, "second.key"))
	if postWith(t, srv, "images", old) != http.StatusOK || postWith(t, srv, "images", second) != http.StatusOK {
		t.Error("after the rotation with --old-key-file both keys must work")
	}
}

// TestRotateKeyRefusedWhileRotationInProgress: a second rotate-key inside the first one's grace
// window used to print one line and exit 0 while it cut that window: the oldest key, promised a
// day, got 401 at once. It is refused before any write, naming when the window ends and the
// ways out; --drop-previous does it on purpose and says so. An apply rotating a changed env key
// during a rotation is refused the same way, and rotate-key --finish (allowed for such a worker)
// lets it go on.
func TestRotateKeyRefusedWhileRotationInProgress(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")
	f := []string{"-f", specPath}
	keys := t.TempDir()
	k1, k2, k3 := filepath.Join(keys, "k1"), filepath.Join(keys, "k2"), filepath.Join(keys, "k3")
	c.mustRun(0, append(f, "apply", "--auto-approve", "--key-out", k1)...)
	c.mustRun(0, append(f, "rotate-key", "images", "--key-out", k2)...)
	first, second := readKey(t, k1), readKey(t, k2)

	srv.ResetRequests()
	r := c.mustRun(exitError, append(f, "rotate-key", "images", "--key-out", k3)...)
	if missing := lacks(r.stderr, "rotation is in progress", "valid until", "--finish", "--revoke", "--drop-previous", "nothing was changed"); missing != "" {
		t.Errorf("the refused rotation does not say %q:\n%s", missing, r.stderr)
	}
	if n := countWrites(srv.Requests()); n != 0 {
		t.Errorf("the refused rotation made %d writes: %v", n, callsOf(srv.Requests()))
	}
	if _, err := os.Stat(k3); err == nil {
		t.Error("the refused rotation wrote a key file")
	}
	for name, key := range map[string]string{"first": first, "second": second} {
		if got := postWith(t, srv, "images", key); got != http.StatusOK {
			t.Errorf("the %s key after the refused rotation gets %d, want 200", name, got)
		}
	}

	// On purpose: the new rotation starts and the first key is cut off, and the output says so.
	r = c.mustRun(0, append(f, "rotate-key", "images", "--drop-previous", "--key-out", k3)...)
	if missing := lacks(r.stderr, "rotated (phase rotating)", "dropped key", "--drop-previous"); missing != "" {
		t.Errorf("the --drop-previous rotation does not say %q:\n%s", missing, r.stderr)
	}
	third := readKey(t, k3)
	for key, want := range map[string]int{first: http.StatusUnauthorized, second: http.StatusOK, third: http.StatusOK} {
		if got := postWith(t, srv, "images", key); got != want {
			t.Errorf("after --drop-previous a key gets %d, want %d", got, want)
		}
	}
	c.mustRun(exitError, append(f, "rotate-key", "images", "--drop-previous", "--finish")...)

	// apply rotating an env key inside a window: refused; rotate-key --finish (allowed for a
	// worker whose key the spec reads from env) ends the window, and apply goes on.
	c.mustRun(0, append(f, "rotate-key", "images", "--finish", "--key-file", k3)...)
	one, two := "env-key-one-0123456789abcdefghijklmnop", "env-key-two-0123456789abcdefghijklmnop"
	editFile(t, specPath, "from: generate", "from: env:IMAGES_API_KEY")
	c.env["IMAGES_API_KEY"], c.env[envAPIKey] = one, third
	c.mustRun(0, append(f, "apply", "--auto-approve")...) // rotation third -> one
	c.env["IMAGES_API_KEY"], c.env[envAPIKey] = two, one
	srv.ResetRequests()
	r = c.mustRun(exitError, append(f, "apply", "--auto-approve")...)
	if missing := lacks(r.stderr, "rotation is in progress", "rotate-key images --finish", "nothing was changed"); missing != "" {
		t.Errorf("apply changing the key during a rotation does not say %q:\n%s", missing, r.stderr)
	}
	if n := countWrites(srv.Requests()); n != 0 {
		t.Errorf("the refused apply made %d writes: %v", n, callsOf(srv.Requests()))
	}
	if got := postWith(t, srv, "images", third); got != http.StatusOK {
		t.Errorf("the previous key after the refused apply gets %d, want 200", got)
	}
	c.mustRun(0, append(f, "rotate-key", "images", "--finish")...)
	c.mustRun(0, append(f, "apply", "--auto-approve")...) // rotation one -> two
	for key, want := range map[string]int{third: http.StatusUnauthorized, one: http.StatusOK, two: http.StatusOK} {
		if got := postWith(t, srv, "images", key); got != want {
			t.Errorf("after finish and apply a key gets %d, want %d", got, want)
		}
	}
}
