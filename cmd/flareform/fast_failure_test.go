package main

import (
	"encoding/json"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/faults"
	"github.com/flareform/flareform/localcf/localcftest"
)

const someAccount = "0123456789abcdef0123456789abcdef"

// stderrLines counts the lines a run printed on stderr.
func stderrLines(r result) int {
	return strings.Count(strings.TrimRight(r.stderr, "\n"), "\n") + 1
}

// An API that cannot be reached (nothing listens on the port, the host does not exist) ends a
// command within 5 seconds in at most 5 lines, saying so in plain words: no retries of what
// waiting does not fix.
func TestUnreachableAPIFailsFastAndShort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/client/v4"
	ln.Close()
	c := newCLI(t, map[string]string{envAPIToken: "some-token", envAccountID: someAccount})
	specPath := initProject(t, c, "images") // the model check reads the Workers AI catalog too
	for _, tc := range []struct{ name, base, cause string }{
		{"closed port", closed, "connection refused"},
		{"unknown host", "http://flareform-test-no-such-host.invalid/client/v4", "unknown host flareform-test-no-such-host.invalid"},
	} {
		c.env[envAPIBaseURL] = tc.base
		for _, args := range [][]string{{"plan"}, {"apply", "--auto-approve"}, {"destroy", "--auto-approve"}, {"whoami"}} {
			start := time.Now()
			r := c.run(append([]string{"-f", specPath}, args...)...)
			took := time.Since(start)
			what := tc.name + ": " + strings.Join(args, " ")
			if r.code != exitError || took > 5*time.Second || stderrLines(r) > 5 {
				t.Errorf("%s: exit %d after %s in %d lines, want exit 1 within 5s in at most 5 lines:\n%s", what, r.code, took.Round(time.Millisecond), stderrLines(r), r.stderr)
			}
			if want := "cannot reach the Cloudflare API at " + tc.base + " (" + tc.cause + ")"; !strings.Contains(r.stderr, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", what, want, r.stderr)
			}
			if strings.Contains(r.stderr, "retrying") {
				t.Errorf("%s: retried what waiting does not fix:\n%s", what, r.stderr)
			}
		}
	}
}

// A token Cloudflare rejects is found by the token check and said once, in plain words with the
// fix, not as the first read's 401/403.
func TestBadTokenIsOnePlainError(t *testing.T) {
	srv, env := startStandalone(t)
	mustToken := func(o localcf.TokenOptions) string {
		t.Helper()
		tok, err := srv.AddToken(o)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	otherAccount, _, err := srv.AddAccount("")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, token, want string }{
		{"unknown", "not-a-token-flareform-knows-of-0000000000", "Cloudflare does not accept the API token in CLOUDFLARE_API_TOKEN (Invalid API Token)"},
		{"disabled", mustToken(localcf.TokenOptions{Disabled: true}), "the API token in CLOUDFLARE_API_TOKEN is disabled"},
		{"expired", mustToken(localcf.TokenOptions{ExpiresOn: time.Now().Add(-time.Hour)}), "the API token in CLOUDFLARE_API_TOKEN is expired on "},
		{"another account's account token", mustToken(localcf.TokenOptions{AccountID: otherAccount, AccountOwned: true}),
			"the API token in CLOUDFLARE_API_TOKEN is not valid for account " + srv.AccountID()},
	}
	c := newCLI(t, env)
	specPath := plainProject(t, "tokens", helloWorker)
	for _, tc := range cases {
		c.env[envAPIToken] = tc.token
		for _, cmd := range []string{"plan", "output"} {
			r := c.run("-f", specPath, cmd)
			if r.code != exitError || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%s token, %s: exit %d, stderr lacks %q:\n%s", tc.name, cmd, r.code, tc.want, r.stderr)
			}
			if n := len(regexp.MustCompile(`(?m)^Error: `).FindAllString(r.stderr, -1)); n != 1 || strings.Contains(r.stderr, "code 10000") || stderrLines(r) > 2 {
				t.Errorf("%s token, %s: want one plain error line, got:\n%s", tc.name, cmd, r.stderr)
			}
		}
	}
}

// A user token Cloudflare accepts, used with an account it has no access to: the reads' 403
// comes with what to do.
func TestValidTokenOfAnotherAccount(t *testing.T) {
	srv, env := startStandalone(t)
	_, token, err := srv.AddAccount("")
	if err != nil {
		t.Fatal(err)
	}
	env[envAPIToken] = token // valid, but another account's
	c := newCLI(t, env)
	specPath := plainProject(t, "elsewhere", helloWorker)
	r := c.mustRun(exitError, "-f", specPath, "plan")
	if want := "Cloudflare accepts CLOUDFLARE_API_TOKEN, but the token may not do this in account " + env[envAccountID]; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
}

// An account API token (which /user/tokens/verify does not know) is verified with its account,
// and deploys; whoami tells it from a user token.
func TestAccountTokenIsVerifiedWithItsAccount(t *testing.T) {
	srv, env := startStandalone(t)
	tok, err := srv.AddToken(localcf.TokenOptions{AccountOwned: true})
	if err != nil {
		t.Fatal(err)
	}
	schemas := jsonSchemas(t)
	c := newCLI(t, env)
	specPath := plainProject(t, "acct", helloWorker)
	for _, tc := range []struct{ token, kind string }{{srv.Token(), "user"}, {tok, "account"}} {
		c.env[envAPIToken] = tc.token
		doc := assertJSONShape(t, schemas, "whoami", c.mustRun(exitOK, "-f", specPath, "whoami", "--json"), "whoami --json")
		token, _ := doc["token"].(map[string]any)
		account, _ := doc["account"].(map[string]any)
		if doc["ok"] != true || token["kind"] != tc.kind || token["status"] != "active" || account["id"] != srv.AccountID() || account["workers_access"] != true {
			t.Errorf("whoami --json with a %s token: %v", tc.kind, doc)
		}
		text := c.mustRun(exitOK, "-f", specPath, "whoami").stdout
		if !strings.Contains(text, "active, "+tc.kind+" API token") || !strings.Contains(text, srv.AccountID()) {
			t.Errorf("whoami with a %s token:\n%s", tc.kind, text)
		}
	}
	c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve")
}

// whoami reports a token that is not active (exit 1, the object with ok false) and a token
// Cloudflare does not know (exit 1, the error shape).
func TestWhoamiReportsUnusableTokens(t *testing.T) {
	srv, env := startStandalone(t)
	disabled, err := srv.AddToken(localcf.TokenOptions{Disabled: true})
	if err != nil {
		t.Fatal(err)
	}
	schemas := jsonSchemas(t)
	c := newCLI(t, env)
	c.env[envAPIToken] = disabled
	r := c.mustRun(exitError, "whoami", "--json")
	doc := assertJSONShape(t, schemas, "whoami", r, "whoami --json, disabled token")
	if token, _ := doc["token"].(map[string]any); doc["ok"] != false || token["status"] != "disabled" {
		t.Errorf("whoami of a disabled token: %v", doc)
	}
	if !strings.Contains(r.stderr, "is disabled") {
		t.Errorf("stderr %q", r.stderr)
	}
	c.env[envAPIToken] = "not-a-token-flareform-knows-of-0000000000"
	assertJSONShape(t, schemas, "error", c.mustRun(exitError, "whoami", "--json"), "whoami --json, unknown token")
}

// The token check goes alongside the first reads: one request, and no round trip of its own.
func TestTokenCheckAddsNoRoundTrip(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := plainProject(t, "quick", helloWorker)
	srv.SetFaults([]faults.Rule{{Path: "/client/v4/*", Kind: faults.KindLatency, LatencyMS: 150}}, 1)
	t.Cleanup(func() { srv.SetFaults(nil, 0) })
	srv.ResetRequests()
	c.mustRun(exitOK, "-f", specPath, "plan")
	isVerify := func(r localcf.RequestRecord) bool { return strings.HasSuffix(r.Path, "/tokens/verify") }
	// A check still out when the command is done is cancelled; the server logs it once it
	// notices.
	var recs []localcf.RequestRecord
	var verifies int
	for deadline := time.Now().Add(2 * time.Second); verifies == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		recs = srv.Requests()
		verifies = len(slices.DeleteFunc(slices.Clone(recs), func(r localcf.RequestRecord) bool { return !isVerify(r) }))
	}
	others := slices.DeleteFunc(slices.Clone(recs), isVerify)
	if verifies != 1 || len(others) == 0 {
		t.Fatalf("%d verify requests among %d, want 1: %v", verifies, len(recs), callsOf(recs))
	}
	if with, without := localcftest.RoundTrips(recs), localcftest.RoundTrips(others); with != without {
		t.Errorf("the token check made the plan %d round trips instead of %d: %v", with, without, callsOf(recs))
	}
}

// With --local the local account stands in for a literal account_id in the spec, with a note.
func TestLocalTakesALiteralAccountID(t *testing.T) {
	c := newCLI(t, map[string]string{})
	specPath := plainProject(t, "literal", helloWorker)
	appendFile(t, specPath, "account_id: "+someAccount+"\n")
	r := c.mustRun(exitOK, "-f", specPath, "apply", "--local", "--auto-approve", "--json")
	if !strings.Contains(r.stderr, "in place of the spec's account_id "+someAccount) {
		t.Errorf("no note that the local account stands in:\n%s", r.stderr)
	}
	var res struct {
		Workers []struct{ Name, Action, Error string } `json:"workers"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Workers) != 1 || res.Workers[0].Error != "" {
		t.Errorf("apply --local: %v\n%s", err, r.stdout)
	}
	if _, err := filepath.Abs(specPath); err != nil {
		t.Fatal(err)
	}
}
