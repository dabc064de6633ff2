package provision

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/bundler"
	"github.com/flareform/flareform/provision/cfapi"
)

// Two applies through the engine, then a plain API upload by someone else: History lists the
// versions newest first, says which serves and which are flareform's, and whether a smoke test
// passed on them, in three reads and no write.
func TestHistoryListsDeployedVersionsNewestFirst(t *testing.T) {
	h := newHarness(t)
	h.env["IMG_KEY"] = "history-key-0123456789abcdef0123456789"
	w := imageWorker(t, "image-api", "IMG_KEY")
	h.deploy(t, specOf(w), ApplyOptions{SkipSmoke: true}) // no smoke test: nothing pending
	w.Vars = map[string]string{"MAX_PROMPT_CHARS": "50"}
	_, res := h.deploy(t, specOf(w), ApplyOptions{})
	if !res.Workers[0].Smoke.Passed {
		t.Fatalf("second apply's smoke test: %+v", res.Workers[0].Smoke)
	}

	h.srv.ResetRequests()
	hist, err := h.eng.History(t.Context(), "", "image-api", 0)
	if err != nil {
		t.Fatal(err)
	}
	if total, writes := h.apiCalls(); total != 3 || writes != 0 {
		t.Errorf("History made %d calls (%d writes), want 3 reads", total, writes)
	}
	if len(hist.Versions) != 2 || len(hist.Deployments) != 2 {
		t.Fatalf("History = %d versions, %d deployments; want 2 and 2: %+v", len(hist.Versions), len(hist.Deployments), hist)
	}
	second, first := hist.Versions[0], hist.Versions[1]
	if second.ID != res.Workers[0].VersionID || second.Number <= first.Number {
		t.Errorf("versions not newest first: %+v, then %+v; the second apply made %s", second, first, res.Workers[0].VersionID)
	}
	if second.Percentage != 100 || first.Percentage != 0 {
		t.Errorf("percentages %v and %v, want 100 for the serving version and 0", second.Percentage, first.Percentage)
	}
	for _, v := range hist.Versions {
		if !v.Flareform || !strings.HasPrefix(v.Message, "flareform (bundle ff-bundle-") || !strings.Contains(v.Message, ", run ") ||
			strings.Contains(v.Message, "key.") || v.Created.IsZero() {
			t.Errorf("flareform version %+v: want flareform=true, a created time and a readable message without key fields", v)
		}
	}
	if second.Smoke != SmokePassed || first.Smoke != "" {
		t.Errorf("smoke %q and %q, want passed for the tested version and none for the one uploaded with --skip-smoke", second.Smoke, first.Smoke)
	}
	active := hist.Deployments[0]
	if !active.Active || hist.Deployments[1].Active || len(active.Versions) != 1 || active.Versions[0].VersionID != second.ID ||
		active.Versions[0].Percentage != 100 || !active.Created.After(hist.Deployments[1].Created) {
		t.Errorf("deployments %+v: want the newest first and active, serving %s at 100%%", hist.Deployments, second.ID)
	}

	bundled, err := bundler.Bundle(t.Context(), bundler.Options{Entry: w.Main})
	if err != nil {
		t.Fatal(err)
	}
	h.rawUpload(t, "image-api", bundled.Code, map[string]string{"MAX_PROMPT_CHARS": "7"})
	hist, err = h.eng.History(t.Context(), "", "image-api", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist.Versions) != 2 || len(hist.Deployments) != 2 {
		t.Fatalf("History with limit 2 = %d versions, %d deployments", len(hist.Versions), len(hist.Deployments))
	}
	other := hist.Versions[0]
	if other.Flareform || other.Smoke != "" || other.Percentage != 100 || hist.Versions[1].ID != second.ID || hist.Versions[1].Percentage != 0 {
		t.Errorf("after another party's upload: %+v; want it first, not flareform's, no smoke state, serving 100%%", hist.Versions)
	}
}

func TestHistoryOfAnUnknownWorkerNamesTheAccountsWorkers(t *testing.T) {
	h := newHarness(t)
	h.deploy(t, specOf(imageWorker(t, "image-api", "")), ApplyOptions{SkipSmoke: true})
	_, err := h.eng.History(t.Context(), "", "image-apj", 0)
	var uw *UnknownWorkerError
	if !errors.As(err, &uw) || fmt.Sprint(uw.Known) != "[image-api]" || !strings.Contains(err.Error(), "image-api") {
		t.Fatalf("History of a missing worker: %v; want an UnknownWorkerError listing image-api", err)
	}
	if _, err := h.eng.History(t.Context(), "", "../settings", 0); err == nil || errors.As(err, &uw) {
		t.Errorf("History of an invalid name: %v; want a refusal before any call", err)
	}
}

func TestReadableMessage(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ours     bool
	}{
		{"flareform ff-bundle-0123456789abcdef key.API_KEY=fp1 run=aa11 smoke=pending", "flareform (bundle ff-bundle-0123456789abcdef, run aa11)", true},
		{"flareform ff-bundle-0123456789abcdef", "flareform (bundle ff-bundle-0123456789abcdef)", true},
		{"flareform ff-bundle-0123456789abcdef key.API_KEY=fp2 run=bb22 flareform rotate-key: new key fp fp2",
			"flareform (bundle ff-bundle-0123456789abcdef, run bb22): flareform rotate-key: new key fp fp2", true},
		{"fix the header", "fix the header", false},
		{"flareform rollback after failed smoke test", "flareform rollback after failed smoke test", false},
		{"", "", false},
	} {
		got, ours := readableMessage(tc.in)
		if got != tc.want || ours != tc.ours {
			t.Errorf("readableMessage(%q) = %q, %v; want %q, %v", tc.in, got, ours, tc.want, tc.ours)
		}
	}
}

// A gradual deployment splits traffic: each version shows its share; deployments come out
// newest first whatever order they were read in, and only the newest is active.
func TestBuildHistorySplitTraffic(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &historyReads{
		versions: []cfapi.VersionInfo{{ID: "v3", Number: 3}, {ID: "v2", Number: 2}, {ID: "v1", Number: 1}},
		deployments: []cfapi.Deployment{
			{ID: "d1", Created: t0, Versions: []cfapi.DeploymentVersion{{VersionID: "v1", Percentage: 100}}},
			{ID: "d2", Created: t0.Add(time.Hour), TriggeredBy: "deployment",
				Versions: []cfapi.DeploymentVersion{{VersionID: "v1", Percentage: 90}, {VersionID: "v3", Percentage: 10}}},
		},
	}
	h := buildHistory("w", r, 10)
	if got := fmt.Sprint(h.Versions[0].Smoke, ",", h.Versions[1].Smoke, ",", h.Versions[2].Smoke); got != ",," {
		t.Errorf("smoke states of versions without annotations %q, want none", got)
	}
	got := fmt.Sprint(h.Versions[0].Percentage, h.Versions[1].Percentage, h.Versions[2].Percentage)
	if got != "10 0 90" {
		t.Errorf("percentages of v3 v2 v1 = %s, want 10 0 90", got)
	}
	if h.Deployments[0].ID != "d2" || !h.Deployments[0].Active || h.Deployments[1].Active {
		t.Errorf("deployments %+v, want d2 first and the only active one", h.Deployments)
	}
	if h := buildHistory("w", r, 1); len(h.Versions) != 1 || len(h.Deployments) != 1 || h.Versions[0].Percentage != 10 {
		t.Errorf("limit 1: %+v", h)
	}
}

// The tested tag names the last version that passed: it passed, a pending version newer than
// it did not, and one older than it may have before the tag moved on (unknown).
func TestSmokeStates(t *testing.T) {
	pending := "flareform ff-bundle-0123456789abcdef run=aa smoke=pending"
	versions := []cfapi.VersionInfo{{ID: "v4", Message: pending}, {ID: "v3", Message: "by hand"}, {ID: "v2", Message: pending},
		{ID: "v1", Message: pending}}
	for _, tc := range []struct {
		tags []string
		want string
	}{
		{[]string{"flareform", testedTag("v2")}, "pending,,passed,"},
		{[]string{testedTag("v4")}, "passed,,,"},
		{nil, "pending,,pending,pending"},                       // none passed, or the tagged one is older than these
		{[]string{testedTag("v0")}, "pending,,pending,pending"}, // a version older than the list
	} {
		if got := strings.Join(smokeStates(versions, tc.tags), ","); got != tc.want {
			t.Errorf("tags %v: states %s, want %s", tc.tags, got, tc.want)
		}
	}
}

// A versions list without annotations (the SDK's type has none) costs one read per version
// for its message, and the message is then read as the list would have said it.
func TestHistoryReadsMissingAnnotations(t *testing.T) {
	const msg = "flareform ff-bundle-0123456789abcdef run=cc33 smoke=pending"
	var versionReads int
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, result string) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"success":true,"errors":[],"messages":[],"result":%s}`, result)
	}
	base := "/client/v4/accounts/acct/workers/scripts/w"
	mux.HandleFunc("GET "+base+"/versions", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, `{"items":[{"id":"v1","number":1,"metadata":{"created_on":"2026-01-02T03:04:05Z","source":"api","author_email":"a@example.com"}}]}`)
	})
	mux.HandleFunc("GET "+base+"/versions/v1", func(w http.ResponseWriter, _ *http.Request) {
		versionReads++
		reply(w, `{"id":"v1","number":1,"annotations":{"workers/message":"`+msg+`"}}`)
	})
	mux.HandleFunc("GET "+base+"/deployments", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, `{"deployments":[{"id":"d1","created_on":"2026-01-02T03:04:05Z","source":"api","strategy":"percentage","versions":[{"version_id":"v1","percentage":100}]}]}`)
	})
	mux.HandleFunc("GET "+base+"/script-settings", func(w http.ResponseWriter, _ *http.Request) { reply(w, `{"tags":[]}`) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e, err := New(Config{APIBaseURL: srv.URL + "/client/v4", APIToken: "t", AccountID: "acct", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	hist, err := e.History(t.Context(), "", "w", 0)
	if err != nil {
		t.Fatal(err)
	}
	v := hist.Versions[0]
	if versionReads != 1 || !v.Flareform || v.Smoke != SmokePending || v.Author != "a@example.com" || v.Source != "api" || v.Percentage != 100 {
		t.Errorf("version %+v after %d reads; want flareform's, pending, by a@example.com, at 100%%, after one read", v, versionReads)
	}
}
