package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision/spec"
)

// A multi-line PEM key, as a file: holds it: no header can carry it, so the test offers it to
// the worker as a POST's body.
const pemSecret = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7pem\n" +
	"c2VjcmV0LXRlc3QtdmFsdWUtbm90LWEtcmVhbC1rZXk=\n-----END PRIVATE KEY-----"

// seesPosted asks the deployed worker whether env[name] equals value, offered as the body.
func (h *harness) seesPosted(t testing.TB, script, name, value string) (present, equal bool) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+h.srv.WorkersDevAddr()+"/?name="+name, strings.NewReader(value))
	req.Host = script + "." + h.srv.Subdomain() + ".workers.dev"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var got struct{ Present, Equal bool }
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("worker answered %d %q: %v", res.StatusCode, b, err)
	}
	return got.Present, got.Equal
}

// Secrets follow the secret rule, not the key rule: a multi-line PEM key from a file (its final
// newline dropped), a 3-byte webhook secret and a token with a space reach the worker as they
// are, a plan after the apply is empty, and no value appears in the plan, result or log. A file
// grown past Cloudflare's 5 KiB limit since the spec was loaded fails the plan at the secret's
// line, without its content.
func TestSecretValuesReachTheWorkerAsTheyAre(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	pemPath := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(pemPath, []byte(pemSecret+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env["OPENAI_KEY"] = openAIKey1
	h.env["SHORT_HOOK"] = "a1b"
	h.env["SPACED"] = "token with a space"
	w := secretWorker(t, "sec-values")
	w.Secrets = append(w.Secrets,
		spec.KeySource{Binding: "PEM_KEY", From: keyFromFile, Ref: pemPath},
		spec.KeySource{Binding: "SHORT_HOOK", From: keyFromEnv, Ref: "SHORT_HOOK"},
		spec.KeySource{Binding: "SPACED", From: keyFromEnv, Ref: "SPACED"})
	w.Pos["secrets.PEM_KEY"] = spec.Position{Line: 13, Col: 7}

	p, res := h.deploy(t, specOf(w), ApplyOptions{})
	if got := fmtChanges(p.Workers[0].Changes); !strings.Contains(got, "secrets.PEM_KEY add (sensitive, new)") {
		t.Errorf("first plan: %s", got)
	}
	if present, equal := h.seesPosted(t, "sec-values", "PEM_KEY", pemSecret); !present || !equal {
		t.Errorf("the worker's PEM_KEY: present %t, equal to the file's content without its final newline %t", present, equal)
	}
	if _, equal := h.seesPosted(t, "sec-values", "PEM_KEY", pemSecret+"\r\n"); equal {
		t.Error("the worker's PEM_KEY kept the file's final newline")
	}
	h.wantSees(t, "sec-values", "SHORT_HOOK", "a1b")
	h.wantSees(t, "sec-values", "SPACED", "token with a space")
	if again := h.plan(t, specOf(w)); again.HasChanges() {
		t.Fatalf("plan after apply has changes: %s", fmtChanges(again.Workers[0].Changes))
	}
	texts := planTexts(p)
	resJSON, _ := json.Marshal(res)
	texts["result JSON"], texts["log"] = string(resJSON), h.log.String()
	for what, s := range texts {
		if strings.Contains(s, "c2VjcmV0LXRlc3QtdmFsdWUtbm90LWEtcmVhbC1rZXk=") || strings.Contains(s, "token with a space") {
			t.Errorf("a secret value appears in the %s", what)
		}
	}

	// The file grew past the limit after the spec was loaded: refused at its line by plan.
	if err := os.WriteFile(pemPath, bytes.Repeat([]byte(pemSecret+"\n"), 40), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := h.eng.Plan(context.Background(), specOf(w))
	var at *spec.Error
	if !errors.As(err, &at) {
		t.Fatalf("plan with an oversize secret file: %v (%T), want a spec error", err, err)
	}
	want := "flareform.yaml:13:7: workers.sec-values: secrets.PEM_KEY: secret file " + pemPath + ": the file is 6200 bytes"
	if got := at.Error(); !strings.HasPrefix(got, want) ||
		!strings.Contains(got, "a Worker secret holds at most 5120") || strings.Contains(got, "c2VjcmV0") {
		t.Errorf("error %q, want it to start with %q and name the limit, not the content", got, want)
	}
	if keysource.MaxSecretBytes >= 40*(len(pemSecret)+1) {
		t.Fatal("the grown file is not larger than a secret may be")
	}
}
