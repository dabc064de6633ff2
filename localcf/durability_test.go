package localcf

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childStateEnv makes the test binary act as a server process that writes to state in a loop
// until it is killed (see TestKill9LeavesLoadableState).
const childStateEnv = "LOCALCF_TEST_CHILD_STATE_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childStateEnv); dir != "" {
		os.Exit(runWritingChild(dir))
	}
	os.Exit(m.Run())
}

// runWritingChild starts a server on dir, prints "ready", then changes state as fast as it can:
// script tags (a counter), the workers.dev toggle and new accounts. None of these start workerd,
// so SIGKILL leaves no orphan processes behind.
func runWritingChild(dir string) int {
	srv, err := Start(context.Background(), Options{StateDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	base := srv.APIBaseURL() + "/accounts/" + srv.AccountID() + "/workers/scripts/app"
	fmt.Println("ready")
	for i := 1; ; i++ {
		body := fmt.Sprintf(`{"tags":["n-%d"]}`, i)
		req, _ := http.NewRequest(http.MethodPatch, base+"/script-settings", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+srv.Token())
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		req, _ = http.NewRequest(http.MethodPost, base+"/subdomain", strings.NewReader(fmt.Sprintf(`{"enabled":%v}`, i%2 == 0)))
		req.Header.Set("Authorization", "Bearer "+srv.Token())
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		if i%5 == 0 {
			_, _, _ = srv.AddAccount(fmt.Sprintf("team-%d", i))
		}
	}
}

func TestKill9LeavesLoadableState(t *testing.T) {
	dir := t.TempDir()
	const secret = "sealed-secret-value-7f3a9c"
	// Seed the state with a deployed script and a secret, then close normally.
	srv, err := Start(context.Background(), Options{StateDir: dir})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	token, account := srv.Token(), srv.AccountID()
	c := newClient(t, srv)
	c.mustUpload("app", defaultMeta(map[string]any{"type": "secret_text", "name": "API_KEY", "text": secret}), testWorker("v1"))
	srv.Close()

	for round := 0; round < 3; round++ {
		killChildMidWrite(t, dir, time.Duration(50+round*70)*time.Millisecond)
		srv, err := Start(context.Background(), Options{StateDir: dir})
		if err != nil {
			t.Fatalf("round %d: state does not load after SIGKILL: %v", round, err)
		}
		if srv.Token() != token || srv.AccountID() != account {
			srv.Close()
			t.Fatalf("round %d: identity changed across restarts", round)
		}
		c := newClient(t, srv)
		var settings struct {
			Tags []string `json:"tags"`
		}
		c.do(http.MethodGet, "/workers/scripts/app/script-settings", "", nil).result(t, &settings)
		if len(settings.Tags) != 1 || !strings.HasPrefix(settings.Tags[0], "n-") {
			srv.Close()
			t.Fatalf("round %d: tags %v, want the child's counter", round, settings.Tags)
		}
		// The persisted deployment starts lazily in workerd with its sealed secret.
		c.enableWorkersDev("app")
		if env := c.envOf("app"); env["secret"] != secret || env["version"] != "v1" {
			srv.Close()
			t.Fatalf("round %d: reloaded worker env %v", round, env)
		}
		srv.Close()
	}
	assertNoPlaintext(t, dir, token, secret)
}

// killChildMidWrite runs the writing child on dir and SIGKILLs it after d of writes.
func killChildMidWrite(t *testing.T, dir string, d time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childStateEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not start: %q %v", line, err)
	}
	time.Sleep(d)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	_ = cmd.Wait()
}

// assertNoPlaintext fails if any file under dir contains one of the credentials.
func assertNoPlaintext(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if strings.Contains(string(data), s) {
				t.Errorf("%s contains a credential in plain text (%s)", path, fingerprint(s))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRequestLog(t *testing.T) {
	dir := t.TempDir()
	srv := startTestServer(t, Options{StateDir: dir})
	c := newClient(t, srv)
	c.mustUpload("app", defaultMeta(), testWorker("v1"))
	expect(t, c.json(http.MethodPut, "/workers/scripts/app/secrets", map[string]string{"name": "K", "text": "log-secret-123", "type": "secret_text"}), 200, 0)
	recs := srv.Requests()
	if len(recs) != 2 {
		t.Fatalf("request log has %d records, want 2: %+v", len(recs), recs)
	}
	r := recs[0]
	if r.Method != http.MethodPut || !strings.HasSuffix(r.Path, "/workers/scripts/app") || r.Query != "bindings_inherit=strict" ||
		r.Status != 200 || r.ReqBytes == 0 || r.TokenFP != fingerprint(srv.Token()) || r.Time.IsZero() {
		t.Fatalf("record %+v", r)
	}
	// The admin endpoint serves the same log, and DELETE empties it.
	resp, err := adminGet(srv, "requests")
	if err != nil {
		t.Fatal(err)
	}
	var viaAdmin []RequestRecord
	json.NewDecoder(resp.Body).Decode(&viaAdmin)
	resp.Body.Close()
	if len(viaAdmin) != 2 {
		t.Fatalf("/__localcf/requests returned %d records", len(viaAdmin))
	}
	srv.ResetRequests()
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("%d records after reset", n)
	}
	// The file keeps every line, without the token or the secret.
	data, err := os.ReadFile(filepath.Join(dir, requestsFile))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(data), "\n"); lines != 2 {
		t.Fatalf("requests.jsonl has %d lines, want 2", lines)
	}
	assertNoPlaintext(t, dir, srv.Token(), "log-secret-123")
}

func TestAdminInfo(t *testing.T) {
	srv := startTestServer(t, Options{})
	resp, err := adminGet(srv, "info")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info map[string]string
	json.NewDecoder(resp.Body).Decode(&info)
	want := map[string]string{"api_base_url": srv.APIBaseURL(), "api_token": srv.Token(), "account_id": srv.AccountID(),
		"subdomain": srv.Subdomain(), "workers_dev_addr": srv.WorkersDevAddr()}
	for k, v := range want {
		if info[k] != v || v == "" {
			t.Errorf("info[%s] = %q, want %q", k, info[k], v)
		}
	}
	if !accountIDPattern.MatchString(srv.AccountID()) {
		t.Errorf("account id %q is not 32 lowercase hex", srv.AccountID())
	}
	// Faults set over the admin API apply to the Cloudflare API only.
	base := strings.TrimSuffix(srv.APIBaseURL(), "/client/v4")
	req, _ := http.NewRequest(http.MethodPut, base+"/__localcf/faults", strings.NewReader(`{"seed":1,"rules":[{"path":"*/workers/subdomain","kind":"503","count":1}]}`))
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT faults: %v %v", resp, err)
	}
	resp.Body.Close()
	c := newClient(t, srv)
	if r := c.do(http.MethodGet, "/workers/subdomain", "", nil); r.Status != 503 {
		t.Fatalf("faulted call answered %d", r.Status)
	}
	expect(t, c.do(http.MethodGet, "/workers/subdomain", "", nil), 200, 0)
	if rules, _ := srv.faults.Rules(); len(rules) != 1 {
		t.Fatalf("rules %v", rules)
	}
}

// adminGet reads an admin endpoint with the default account's token, as clients do.
func adminGet(srv *Server, endpoint string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(srv.APIBaseURL(), "/client/v4")+"/__localcf/"+endpoint, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	return http.DefaultClient.Do(req)
}
