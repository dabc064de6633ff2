package fidelity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/workers"
	"github.com/cloudflare/cloudflare-go/v6/zones"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/localcftest"
)

// customDomainRequest sends method to https://<host>/ through the local data plane, as a
// client resolving the custom domain to Cloudflare would.
func customDomainRequest(t *testing.T, srv *localcf.Server, host, method, key string, body any) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, "http://"+srv.WorkersDevAddr()+"/", rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, host, err)
	}
	return resp
}

// TestCloudflareGoZonesAndCustomDomains: cloudflare-go v6 finds a zone with zones.List and
// attaches, lists, reads and detaches a Workers custom domain (workers.Domains); the Worker
// answers on the attached host name through the data plane.
func TestCloudflareGoZonesAndCustomDomains(t *testing.T) {
	srv := localcftest.New(t, localcf.Options{Zones: []string{"example.com"}})
	srv.SetQuirks(localcf.Quirks{MainModuleByFilename: true}) // the SDK's module parts, as in TestCloudflareGoLifecycle
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := sdkClient(srv, srv.Token())
	acct := srv.AccountID()
	const name, key = "sdk-domain-worker", "sdk-domain-key-0123456789abcdef0123"
	uploadCanonical(ctx, t, c, acct, name, key, canonicalWorker(t))

	// Zone lookup as wrangler does it: name and account.id.
	page, err := c.Zones.List(ctx, zones.ZoneListParams{
		Name:    cloudflare.F("example.com"),
		Account: cloudflare.F(zones.ZoneListParamsAccount{ID: cloudflare.F(acct)}),
	})
	if err != nil {
		t.Fatalf("zones.List: %v", err)
	}
	if len(page.Result) != 1 {
		t.Fatalf("zones.List name=example.com: %d zones", len(page.Result))
	}
	z := page.Result[0]
	if z.Name != "example.com" || len(z.ID) != 32 || z.Status != zones.ZoneStatusActive || z.Account.ID != acct ||
		z.CreatedOn.IsZero() || page.ResultInfo.Page != 1 || page.ResultInfo.PerPage != 20 {
		t.Fatalf("zone %+v (result_info %+v)", z, page.ResultInfo)
	}
	// Auto-paging walks every page and stops at the first empty one.
	for i := 1; i <= 6; i++ {
		localcftest.AddZone(t, srv, fmt.Sprintf("site%d.example.net", i))
	}
	var seen []string
	iter := c.Zones.ListAutoPaging(ctx, zones.ZoneListParams{PerPage: cloudflare.F(5.0)})
	for iter.Next() {
		seen = append(seen, iter.Current().Name)
	}
	if err := iter.Err(); err != nil || len(seen) != 7 || seen[0] != "example.com" || seen[6] != "site6.example.net" {
		t.Fatalf("zones.ListAutoPaging: %v, %v", seen, err)
	}

	d, err := c.Workers.Domains.Update(ctx, workers.DomainUpdateParams{
		AccountID: cloudflare.F(acct), Hostname: cloudflare.F("api.example.com"), Service: cloudflare.F(name),
		ZoneID: cloudflare.F(z.ID),
	})
	if err != nil {
		t.Fatalf("Domains.Update: %v", err)
	}
	if d.Hostname != "api.example.com" || d.Service != name || d.ZoneID != z.ID || d.ZoneName != "example.com" ||
		d.Environment != "production" || d.ID == "" || d.CERTID == "" {
		t.Fatalf("attached domain %+v", d)
	}
	list, err := c.Workers.Domains.List(ctx, workers.DomainListParams{AccountID: cloudflare.F(acct), Hostname: cloudflare.F("api.example.com")})
	if err != nil || len(list.Result) != 1 || list.Result[0].ID != d.ID || list.Result[0].Service != name {
		t.Fatalf("Domains.List hostname=api.example.com: %+v, %v", list, err)
	}
	none, err := c.Workers.Domains.List(ctx, workers.DomainListParams{AccountID: cloudflare.F(acct), Service: cloudflare.F("someone-else")})
	if err != nil || len(none.Result) != 0 {
		t.Fatalf("Domains.List service=someone-else: %+v, %v", none, err)
	}
	got, err := c.Workers.Domains.Get(ctx, d.ID, workers.DomainGetParams{AccountID: cloudflare.F(acct)})
	if err != nil || got.ID != d.ID || got.Hostname != "api.example.com" || got.ZoneName != "example.com" {
		t.Fatalf("Domains.Get: %+v, %v", got, err)
	}

	expectPNG(t, customDomainRequest(t, srv, "api.example.com", http.MethodPost, key, map[string]any{"prompt": "custom domain", "width": 256, "height": 256}), 256, 256)
	expectStatus(t, customDomainRequest(t, srv, "api.example.com", http.MethodPost, "wrong-key", map[string]any{"prompt": "x"}), http.StatusUnauthorized)

	// A host name in no zone of the account is refused as Cloudflare does (zone_not_found).
	_, err = c.Workers.Domains.Update(ctx, workers.DomainUpdateParams{
		AccountID: cloudflare.F(acct), Hostname: cloudflare.F("api.example.org"), Service: cloudflare.F(name),
	})
	var apiErr *cloudflare.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || len(apiErr.Errors) == 0 || apiErr.Errors[0].Code != 10083 {
		t.Fatalf("attach outside every zone: want 400 code 10083, got %v", err)
	}

	del, err := c.Workers.Domains.Delete(ctx, d.ID, workers.DomainDeleteParams{AccountID: cloudflare.F(acct)})
	if err != nil || !bool(del.Success) {
		t.Fatalf("Domains.Delete: %+v, %v", del, err)
	}
	_, err = c.Workers.Domains.Get(ctx, d.ID, workers.DomainGetParams{AccountID: cloudflare.F(acct)})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Fatalf("Domains.Get after delete: want a 404 API error, got %v", err)
	}
	expectStatus(t, customDomainRequest(t, srv, "api.example.com", http.MethodPost, key, map[string]any{"prompt": "gone"}), http.StatusNotFound)
}
