package fidelity

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/workers"

	"github.com/flareform/flareform/localcf"
)

func sdkClient(srv *localcf.Server, token string) *cloudflare.Client {
	return cloudflare.NewClient(
		option.WithBaseURL(srv.APIBaseURL()+"/"),
		option.WithAPIToken(token),
		option.WithMaxRetries(0),
	)
}

// uploadCanonical uploads src (the canonical worker) with the SDK: an `ai` binding, a plain_text
// model var and the API_KEY as a secret_text binding, in one multipart request.
func uploadCanonical(ctx context.Context, t *testing.T, c *cloudflare.Client, acct, name, key string, src []byte) *workers.ScriptUpdateResponse {
	t.Helper()
	res, err := c.Workers.Scripts.Update(ctx, name, workers.ScriptUpdateParams{
		AccountID: cloudflare.F(acct),
		Metadata: cloudflare.F(workers.ScriptUpdateParamsMetadata{
			MainModule:        cloudflare.F("worker.js"),
			CompatibilityDate: cloudflare.F("2025-06-01"),
			Bindings: cloudflare.F([]workers.ScriptUpdateParamsMetadataBindingUnion{
				workers.ScriptUpdateParamsMetadataBindingsWorkersBindingKindAI{
					Name: cloudflare.F("AI"),
					Type: cloudflare.F(workers.ScriptUpdateParamsMetadataBindingsWorkersBindingKindAITypeAI),
				},
				workers.ScriptUpdateParamsMetadataBindingsWorkersBindingKindPlainText{
					Name: cloudflare.F("AI_MODEL"),
					Text: cloudflare.F("@cf/stabilityai/stable-diffusion-xl-base-1.0"),
					Type: cloudflare.F(workers.ScriptUpdateParamsMetadataBindingsWorkersBindingKindPlainTextTypePlainText),
				},
				workers.ScriptUpdateParamsMetadataBindingsWorkersBindingKindSecretText{
					Name: cloudflare.F("API_KEY"),
					Text: cloudflare.F(key),
					Type: cloudflare.F(workers.ScriptUpdateParamsMetadataBindingsWorkersBindingKindSecretTextTypeSecretText),
				},
			}),
		}),
		Files: cloudflare.F([]io.Reader{
			cloudflare.FileParam(bytes.NewReader(src), "worker.js", "application/javascript+module").Value,
		}),
	})
	if err != nil {
		t.Fatalf("upload %s with cloudflare-go: %v", name, err)
	}
	return res
}

func TestCloudflareGoLifecycle(t *testing.T) {
	srv := startServer(t)
	// The SDK's own encoder names module parts "files"; only this reading accepts that.
	srv.SetQuirks(localcf.Quirks{MainModuleByFilename: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := sdkClient(srv, srv.Token())
	acct := srv.AccountID()
	const name, key = "sdk-worker", "sdk-key-0123456789abcdef0123456789"

	res := uploadCanonical(ctx, t, c, acct, name, key, canonicalWorker(t))
	if res.ID != name || res.Etag == "" {
		t.Fatalf("upload result id=%q etag=%q, want id %q and an etag", res.ID, res.Etag, name)
	}

	// Account subdomain and the per-script workers.dev toggle.
	sub, err := c.Workers.Subdomains.Get(ctx, workers.SubdomainGetParams{AccountID: cloudflare.F(acct)})
	if err != nil || sub.Subdomain != srv.Subdomain() {
		t.Fatalf("account subdomain = %+v, %v; want %q", sub, err, srv.Subdomain())
	}
	on, err := c.Workers.Scripts.Subdomain.New(ctx, name, workers.ScriptSubdomainNewParams{
		AccountID: cloudflare.F(acct), Enabled: cloudflare.F(true), PreviewsEnabled: cloudflare.F(false),
	})
	if err != nil || !on.Enabled {
		t.Fatalf("enable workers.dev: %+v, %v", on, err)
	}
	got, err := c.Workers.Scripts.Subdomain.Get(ctx, name, workers.ScriptSubdomainGetParams{AccountID: cloudflare.F(acct)})
	if err != nil || !got.Enabled || got.PreviewsEnabled {
		t.Fatalf("script subdomain read-back: %+v, %v", got, err)
	}
	expectPNG(t, workersDev(t, srv, name, http.MethodPost, key, map[string]any{"prompt": "sdk", "width": 512, "height": 256}), 512, 256)

	// Re-deploy changed code: a new etag, and the worker keeps answering.
	again := uploadCanonical(ctx, t, c, acct, name, key, append(canonicalWorker(t), []byte("\n// second deploy\n")...))
	if again.Etag == "" || again.Etag == res.Etag {
		t.Fatalf("re-upload of changed code: etag %q, first upload %q; want a new one", again.Etag, res.Etag)
	}
	expectPNG(t, workersDev(t, srv, name, http.MethodPost, key, map[string]any{"prompt": "sdk again", "width": 256, "height": 512}), 256, 512)

	// Settings read-back: bindings with types, plain_text value, secret without value.
	settings, err := c.Workers.Scripts.ScriptAndVersionSettings.Get(ctx, name,
		workers.ScriptScriptAndVersionSettingGetParams{AccountID: cloudflare.F(acct)})
	if err != nil {
		t.Fatalf("settings: %v", err)
	}
	if settings.CompatibilityDate != "2025-06-01" {
		t.Fatalf("compatibility_date read back %q", settings.CompatibilityDate)
	}
	kinds := map[string]string{}
	for _, b := range settings.Bindings {
		kinds[b.Name] = string(b.Type)
		if b.Name == "API_KEY" && bytes.Contains([]byte(b.JSON.RawJSON()), []byte(key)) {
			t.Fatal("settings leaked the secret value")
		}
		if b.Name == "AI_MODEL" && b.Text != "@cf/stabilityai/stable-diffusion-xl-base-1.0" {
			t.Fatalf("AI_MODEL text read back %q", b.Text)
		}
	}
	if kinds["AI"] != "ai" || kinds["API_KEY"] != "secret_text" || kinds["AI_MODEL"] != "plain_text" {
		t.Fatalf("bindings read back %v", kinds)
	}

	// Secrets CRUD.
	secretParams := func(n, v string) workers.ScriptSecretUpdateParams {
		return workers.ScriptSecretUpdateParams{AccountID: cloudflare.F(acct),
			Body: workers.ScriptSecretUpdateParamsBodyWorkersBindingKindSecretText{
				Name: cloudflare.F(n), Text: cloudflare.F(v),
				Type: cloudflare.F(workers.ScriptSecretUpdateParamsBodyWorkersBindingKindSecretTextTypeSecretText),
			}}
	}
	if _, err := c.Workers.Scripts.Secrets.Update(ctx, name, secretParams("EXTRA", "extra-value")); err != nil {
		t.Fatalf("secret put: %v", err)
	}
	const newKey = "sdk-rotated-key-abcdef0123456789abcd"
	if _, err := c.Workers.Scripts.Secrets.Update(ctx, name, secretParams("API_KEY", newKey)); err != nil {
		t.Fatalf("secret overwrite: %v", err)
	}
	page, err := c.Workers.Scripts.Secrets.List(ctx, name, workers.ScriptSecretListParams{AccountID: cloudflare.F(acct)})
	if err != nil {
		t.Fatalf("secret list: %v", err)
	}
	var names []string
	for _, s := range page.Result {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	if len(names) != 2 || names[0] != "API_KEY" || names[1] != "EXTRA" {
		t.Fatalf("secret names %v, want [API_KEY EXTRA]", names)
	}
	one, err := c.Workers.Scripts.Secrets.Get(ctx, name, "EXTRA", workers.ScriptSecretGetParams{AccountID: cloudflare.F(acct)})
	if err != nil || one.Name != "EXTRA" {
		t.Fatalf("secret get: %+v, %v", one, err)
	}
	// The new key works at once and the old one no longer does.
	expectPNG(t, workersDev(t, srv, name, http.MethodPost, newKey, map[string]any{"prompt": "rotated", "width": 256, "height": 256}), 256, 256)
	expectStatus(t, workersDev(t, srv, name, http.MethodPost, key, map[string]any{"prompt": "old"}), http.StatusUnauthorized)
	if _, err := c.Workers.Scripts.Secrets.Delete(ctx, name, "EXTRA", workers.ScriptSecretDeleteParams{AccountID: cloudflare.F(acct)}); err != nil {
		t.Fatalf("secret delete: %v", err)
	}
	page, err = c.Workers.Scripts.Secrets.List(ctx, name, workers.ScriptSecretListParams{AccountID: cloudflare.F(acct)})
	if err != nil || len(page.Result) != 1 {
		t.Fatalf("after delete: %+v, %v", page, err)
	}

	// Delete the script; the SDK then sees Cloudflare's not-found error.
	if _, err := c.Workers.Scripts.Delete(ctx, name, workers.ScriptDeleteParams{AccountID: cloudflare.F(acct)}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = c.Workers.Scripts.Secrets.List(ctx, name, workers.ScriptSecretListParams{AccountID: cloudflare.F(acct)})
	var apiErr *cloudflare.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Fatalf("after delete want a 404 API error, got %v", err)
	}
	expectStatus(t, workersDev(t, srv, name, http.MethodPost, newKey, map[string]any{"prompt": "gone"}), http.StatusNotFound)
}

// TestCloudflareGoAuthErrors: the SDK surfaces the same auth errors as against Cloudflare.
func TestCloudflareGoAuthErrors(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()
	otherAcct, otherToken, err := srv.AddAccount("other-team")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct{ token, acct string }{
		"unknown token": {"not-a-real-token", srv.AccountID()},
		"wrong account": {otherToken, srv.AccountID()},
	}
	for name, tc := range cases {
		_, err := sdkClient(srv, tc.token).Workers.Subdomains.Get(ctx, workers.SubdomainGetParams{AccountID: cloudflare.F(tc.acct)})
		var apiErr *cloudflare.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden || !bytes.Contains([]byte(apiErr.Error()), []byte("10000")) {
			t.Errorf("%s: want 403 with code 10000, got %v", name, err)
		}
	}
	if _, err := sdkClient(srv, otherToken).Workers.Subdomains.Get(ctx, workers.SubdomainGetParams{AccountID: cloudflare.F(otherAcct)}); err != nil {
		t.Errorf("the other account's own token must work on its account: %v", err)
	}
}

// TestCloudflareGoSecretRollbackNeedsForce: the SDK sees Cloudflare's 10220 when a deployment
// rolls back across a secret change, and deploys with Force.
func TestCloudflareGoSecretRollbackNeedsForce(t *testing.T) {
	srv := startServer(t)
	srv.SetQuirks(localcf.Quirks{MainModuleByFilename: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := sdkClient(srv, srv.Token())
	acct := srv.AccountID()
	const name = "sdk-rollback"
	uploadCanonical(ctx, t, c, acct, name, "sdk-key-first-0123456789abcdef0123", canonicalWorker(t))
	_, err := c.Workers.Scripts.Secrets.Update(ctx, name, workers.ScriptSecretUpdateParams{AccountID: cloudflare.F(acct),
		Body: workers.ScriptSecretUpdateParamsBodyWorkersBindingKindSecretText{
			Name: cloudflare.F("API_KEY"), Text: cloudflare.F("sdk-key-second-0123456789abcdef012"),
			Type: cloudflare.F(workers.ScriptSecretUpdateParamsBodyWorkersBindingKindSecretTextTypeSecretText),
		}})
	if err != nil {
		t.Fatalf("secret put: %v", err)
	}
	deps, err := c.Workers.Scripts.Deployments.List(ctx, name, workers.ScriptDeploymentListParams{AccountID: cloudflare.F(acct)})
	if err != nil || len(deps.Deployments) != 2 {
		t.Fatalf("deployments: %+v, %v", deps, err)
	}
	first := deps.Deployments[1].Versions[0].VersionID // newest first: [1] is the upload's
	deploy := func(force bool) (*workers.Deployment, error) {
		p := workers.ScriptDeploymentNewParams{AccountID: cloudflare.F(acct), Deployment: workers.DeploymentParam{
			Strategy: cloudflare.F(workers.DeploymentStrategyPercentage),
			Versions: cloudflare.F([]workers.DeploymentVersionParam{{VersionID: cloudflare.F(first), Percentage: cloudflare.F(100.0)}}),
		}}
		if force {
			p.Force = cloudflare.F(true)
		}
		return c.Workers.Scripts.Deployments.New(ctx, name, p)
	}
	_, err = deploy(false)
	var apiErr *cloudflare.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || len(apiErr.Errors) == 0 ||
		apiErr.Errors[0].Code != 10220 || !strings.Contains(apiErr.Errors[0].Message, "The following secrets have changed: API_KEY") {
		t.Fatalf("rollback across a secret change without force: want 400 with code 10220 naming API_KEY, got %v", err)
	}
	d, err := deploy(true)
	if err != nil || len(d.Versions) != 1 || d.Versions[0].VersionID != first {
		t.Fatalf("forced rollback: %+v, %v", d, err)
	}
}
