package localcf

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// twoVersions uploads "app" (version v1, deployed) and a second version v2 (not deployed) and
// enables workers.dev. It returns the version ids, v1 first.
func twoVersions(t *testing.T, srv *Server) (c *client, v1, v2 string) {
	t.Helper()
	c = newClient(t, srv)
	c.mustUpload("app", defaultMeta(), testWorker("v1"))
	c.enableWorkersDev("app")
	ct, body := multipartBody(t, metaPart(t, defaultMeta()), modulePart("worker.js", testWorker("v2")))
	expect(t, c.do(http.MethodPost, "/workers/scripts/app/versions?bindings_inherit=strict", ct, body), http.StatusOK, 0)
	ids := c.versionIDs("app")
	return c, ids[1], ids[0]
}

// deploySplit posts a deployment of the given version ids and percentages.
func (c *client) deploySplit(script string, shares ...any) *apiResponse {
	c.t.Helper()
	var versions []map[string]any
	for i := 0; i+1 < len(shares); i += 2 {
		versions = append(versions, map[string]any{"version_id": shares[i], "percentage": shares[i+1]})
	}
	return c.json(http.MethodPost, "/workers/scripts/"+script+"/deployments",
		map[string]any{"strategy": "percentage", "versions": versions})
}

// devGet sends GET / to script on workers.dev with extra headers (name, value pairs) and
// returns the body, failing on anything but 200.
func devGet(t *testing.T, srv *Server, script string, headers ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.WorkersDevAddr()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = script + "." + srv.Subdomain() + ".workers.dev"
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("workers.dev %s: %v", script, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("workers.dev %s with %q: HTTP %d %s", script, headers, resp.StatusCode, body)
	}
	return string(body)
}

// splitRun deploys v1 90% / v2 10% on a server with seed and returns which version answered
// each of n requests.
func splitRun(t *testing.T, seed int64, n int) []string {
	t.Helper()
	srv := startTestServer(t, Options{TrafficSeed: seed})
	c, v1, v2 := twoVersions(t, srv)
	expect(t, c.deploySplit("app", v1, 90, v2, 10), http.StatusOK, 0)
	got := make([]string, n)
	for i := range got {
		got[i] = devGet(t, srv, "app")
	}
	return got
}

// TestSplitDeploymentSharesTraffic: a 90/10 deployment sends about 10% of requests to the
// second version, and two servers with the same seed answer the same sequence.
func TestSplitDeploymentSharesTraffic(t *testing.T) {
	const n = 400
	first := splitRun(t, 42, n)
	v2 := 0
	for _, body := range first {
		switch body {
		case "ok v2":
			v2++
		case "ok v1":
		default:
			t.Fatalf("unexpected answer %q", body)
		}
	}
	if v2 < n*5/100 || v2 > n*15/100 {
		t.Fatalf("v2 answered %d of %d requests at 10%% (want 5%% to 15%%)", v2, n)
	}
	if second := splitRun(t, 42, n); !slices.Equal(first, second) {
		t.Fatal("two servers with the same traffic seed routed the same requests differently")
	}
}

// TestVersionOverrideHeader: the override reaches a version at 0% every time; an override
// naming a version outside the deployment, or a malformed header, falls back to the
// percentages silently.
func TestVersionOverrideHeader(t *testing.T) {
	srv := startTestServer(t, Options{})
	c, v1, v2 := twoVersions(t, srv)
	ct, body := multipartBody(t, metaPart(t, defaultMeta()), modulePart("worker.js", testWorker("v3")))
	expect(t, c.do(http.MethodPost, "/workers/scripts/app/versions?bindings_inherit=strict", ct, body), http.StatusOK, 0)
	v3 := c.versionIDs("app")[0]
	expect(t, c.deploySplit("app", v1, 100, v2, 0), http.StatusOK, 0)

	const header = "Cloudflare-Workers-Version-Overrides"
	for i := 0; i < 20; i++ {
		if got := devGet(t, srv, "app", header, `app="`+v2+`"`); got != "ok v2" {
			t.Fatalf("request %d with the override to the 0%% version answered %q", i, got)
		}
		if got := devGet(t, srv, "app"); got != "ok v1" {
			t.Fatalf("request %d without the override answered %q", i, got)
		}
	}
	if got := devGet(t, srv, "app", header, `other="x", app="`+strings.ToUpper(v2)+`"`); got != "ok v2" {
		t.Fatalf("override with an uppercase id among other workers' entries answered %q", got)
	}
	fallbacks := [][]string{
		{header, `app="` + v3 + `"`},   // uploaded but not in the deployment
		{header, `app=` + v2[:8]},      // a token, not a string
		{header, `app="` + v2 + `",`},  // not a valid Dictionary
		{header, `other="` + v2 + `"`}, // no entry for this worker
	}
	for _, h := range fallbacks {
		if got := devGet(t, srv, "app", h...); got != "ok v1" {
			t.Fatalf("override %q answered %q, want the percentages' v1", h[1], got)
		}
	}
}

// TestVersionKeyAffinity: the same Cloudflare-Workers-Version-Key always gets the same version
// of a deployment, and different keys spread over both versions.
func TestVersionKeyAffinity(t *testing.T) {
	srv := startTestServer(t, Options{})
	c, v1, v2 := twoVersions(t, srv)
	expect(t, c.deploySplit("app", v1, 50, v2, 50), http.StatusOK, 0)
	seen := map[string]int{}
	for i := 0; i < 16; i++ {
		key := fmt.Sprintf("user-%d", i)
		first := devGet(t, srv, "app", "Cloudflare-Workers-Version-Key", key)
		for j := 0; j < 4; j++ {
			if got := devGet(t, srv, "app", "Cloudflare-Workers-Version-Key", key); got != first {
				t.Fatalf("key %s answered %q, then %q", key, first, got)
			}
		}
		seen[first]++
	}
	if seen["ok v1"] == 0 || seen["ok v2"] == 0 {
		t.Fatalf("16 keys at 50/50 all got one version: %v", seen)
	}
}

// TestDroppedVersionIsRetired: once a deployment no longer holds a version, its workerd
// process stops; at most the deployment's versions keep running.
func TestDroppedVersionIsRetired(t *testing.T) {
	srv := startTestServer(t, Options{})
	c, v1, v2 := twoVersions(t, srv)
	k := liveKey{srv.AccountID(), "app"}
	expect(t, c.deploySplit("app", v1, 50, v2, 50), http.StatusOK, 0)
	if got := devGet(t, srv, "app", "Cloudflare-Workers-Version-Overrides", `app="`+v2+`"`); got != "ok v2" {
		t.Fatalf("override to v2 answered %q", got)
	}
	if got := srv.live.serving(k); !slices.Equal(got, sorted(v1, v2)) {
		t.Fatalf("processes for %v, want both versions of the split", got)
	}
	srv.live.mu.Lock()
	v2proc := srv.live.workers[k].procs[v2].proc
	srv.live.mu.Unlock()

	expect(t, c.deploySplit("app", v1, 100), http.StatusOK, 0)
	if got := srv.live.serving(k); !slices.Equal(got, []string{v1}) {
		t.Fatalf("processes for %v after deploying v1 alone, want [%s]", got, v1)
	}
	select {
	case <-v2proc.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("v2's workerd process still runs after v2 left the deployment")
	}
	if got := devGet(t, srv, "app", "Cloudflare-Workers-Version-Overrides", `app="`+v2+`"`); got != "ok v1" {
		t.Fatalf("override to the dropped v2 answered %q, want v1", got)
	}
}

func sorted(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

// TestSplitRedeploysDropNoRequest keeps requests flowing while deployments alternate between
// splits and single versions: every request gets a 200 from a version, and afterwards only the
// last deployment's versions have processes.
func TestSplitRedeploysDropNoRequest(t *testing.T) {
	srv := startTestServer(t, Options{})
	c, v1, v2 := twoVersions(t, srv)
	ctx, stop := context.WithCancel(context.Background())
	errs := make(chan string, 4)
	done := make(chan int, 4)
	for g := 0; g < 4; g++ {
		go func() {
			n := 0
			for ctx.Err() == nil {
				req, _ := http.NewRequest(http.MethodGet, "http://"+srv.WorkersDevAddr()+"/", nil)
				req.Host = "app." + srv.Subdomain() + ".workers.dev"
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					break
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || (string(body) != "ok v1" && string(body) != "ok v2") {
					errs <- fmt.Sprintf("HTTP %d %q", resp.StatusCode, body)
					break
				}
				n++
			}
			done <- n
		}()
	}
	deployments := [][]any{{v1, 50, v2, 50}, {v2, 100}, {v1, 10, v2, 90}, {v1, 100}, {v2, 0, v1, 100}}
	for _, shares := range deployments {
		expect(t, c.deploySplit("app", shares...), http.StatusOK, 0)
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	total := 0
	for g := 0; g < 4; g++ {
		total += <-done
	}
	select {
	case e := <-errs:
		t.Fatalf("a request failed during redeploys: %s", e)
	default:
	}
	if total == 0 {
		t.Fatal("no request completed")
	}
	if got := srv.live.serving(liveKey{srv.AccountID(), "app"}); !slices.Equal(got, []string{v1}) {
		t.Fatalf("processes for %v after the last deployment (v1 100%%, v2 0%% never requested), want [%s]", got, v1)
	}
}
