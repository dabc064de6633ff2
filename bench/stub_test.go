package main

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// stubCall sends one request to the stub and decodes the envelope's result into out.
func stubCall(t *testing.T, s *nullAPI, method, path string, body *bytes.Buffer, contentType string, out any) int {
	t.Helper()
	if body == nil {
		body = &bytes.Buffer{}
	}
	req := httptest.NewRequest(method, "http://127.0.0.1:1/client/v4/accounts/acc/workers/"+path, body)
	req.Header.Set("Authorization", "Bearer tok")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var env struct {
		Success bool            `json:"success"`
		Result  json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("%s %s: not an envelope: %s", method, path, rec.Body)
	}
	if out != nil && env.Success {
		if err := json.Unmarshal(env.Result, out); err != nil {
			t.Fatalf("%s %s: result: %v", method, path, err)
		}
	}
	return rec.Code
}

func TestNullAPIAnswersAFirstDeploy(t *testing.T) {
	s := newNullAPI(0)
	if code := stubCall(t, s, http.MethodGet, "scripts/w1/settings", nil, "", nil); code != http.StatusNotFound {
		t.Fatalf("settings of a new script: %d, want 404", code)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreateFormField("metadata")
	part.Write([]byte(`{"main_module":"worker.js","annotations":{"workers/message":"flareform run 7"}}`))
	mw.Close()
	if code := stubCall(t, s, http.MethodPut, "scripts/w1", &body, mw.FormDataContentType(), nil); code != http.StatusOK {
		t.Fatalf("upload: %d", code)
	}
	var deps struct {
		Deployments []struct {
			Versions []struct {
				VersionID  string  `json:"version_id"`
				Percentage float64 `json:"percentage"`
			} `json:"versions"`
		} `json:"deployments"`
	}
	stubCall(t, s, http.MethodGet, "scripts/w1/deployments", nil, "", &deps)
	if len(deps.Deployments) != 1 || len(deps.Deployments[0].Versions) != 1 || deps.Deployments[0].Versions[0].Percentage != 100 {
		t.Fatalf("deployments = %+v, want one at 100%%", deps)
	}
	var v struct {
		Annotations map[string]string `json:"annotations"`
	}
	stubCall(t, s, http.MethodGet, "scripts/w1/versions/"+deps.Deployments[0].Versions[0].VersionID, nil, "", &v)
	if v.Annotations["workers/message"] != "flareform run 7" {
		t.Fatalf("version annotations = %v, want the uploaded message", v.Annotations)
	}
	var list []map[string]any
	stubCall(t, s, http.MethodGet, "scripts", nil, "", &list)
	if len(list) != 1 || list[0]["id"] != "w1" {
		t.Fatalf("script list = %v, want w1", list)
	}
	if code := stubCall(t, s, http.MethodPost, "scripts/w1/routes", nil, "", nil); code != http.StatusNotImplemented {
		t.Fatalf("an unknown call: %d, want 501 so the run fails visibly", code)
	}
	recs := s.take()
	if len(recs) != 6 || recs[0].TokenFP == "" || recs[0].TokenFP == "tok" {
		t.Fatalf("%d records (want 6), token fingerprint %q", len(recs), recs[0].TokenFP)
	}
}

func TestNullAPIRefusesBeyondTheRateLimit(t *testing.T) {
	s := newNullAPI(0)
	for i := range rateLimit {
		if code := stubCall(t, s, http.MethodGet, "subdomain", nil, "", nil); code != http.StatusOK {
			t.Fatalf("call %d: %d", i+1, code)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:1/client/v4/accounts/acc/workers/subdomain", nil)
	req.Header.Set("Authorization", "Bearer tok")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || rec.Header().Get("Ratelimit-Policy") == "" {
		t.Fatalf("call %d: %d %v, want 429 with Retry-After and the Ratelimit headers", rateLimit+1, rec.Code, rec.Header())
	}
	if got := statsOf(s.take()).Throttled; got != 1 {
		t.Fatalf("throttled = %d, want 1", got)
	}
}

// The stub lists a script's versions newest first, and names the new version in the upload's
// answer only under the deployment_id reading.
func TestNullAPIVersionsAndDeploymentID(t *testing.T) {
	s := newNullAPI(0)
	upload := func() map[string]any {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		part, _ := mw.CreateFormField("metadata")
		part.Write([]byte(`{"main_module":"worker.js"}`))
		mw.Close()
		var answer map[string]any
		if code := stubCall(t, s, http.MethodPut, "scripts/w1", &body, mw.FormDataContentType(), &answer); code != http.StatusOK {
			t.Fatalf("upload: %d", code)
		}
		return answer
	}
	if a := upload(); a["deployment_id"] != nil {
		t.Errorf("strict reading: the answer carries deployment_id %v", a["deployment_id"])
	}
	s.setDeploymentID(true)
	second := upload()
	id, _ := second["deployment_id"].(string)
	if len(id) != 32 {
		t.Fatalf("deployment_id reading: deployment_id %q, want 32 hex digits", id)
	}
	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	stubCall(t, s, http.MethodGet, "scripts/w1/versions", nil, "", &list)
	if len(list.Items) != 2 || strings.ReplaceAll(list.Items[0].ID, "-", "") != id {
		t.Errorf("versions = %+v, want 2, the second upload's first", list.Items)
	}
}
