package fidelity

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/kv"
	"github.com/cloudflare/cloudflare-go/v6/r2"
	"github.com/cloudflare/cloudflare-go/v6/shared"

	"github.com/flareform/flareform/localcf/localcftest"
)

// TestCloudflareGoKV: cloudflare-go v6's kv package creates, lists, reads, renames and deletes
// a namespace, writes a value with metadata in its multipart form, reads it back with its
// metadata and lists the keys, decoding every answer.
func TestCloudflareGoKV(t *testing.T) {
	srv := localcftest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := sdkClient(srv, srv.Token())
	acct := cloudflare.F(srv.AccountID())

	ns, err := c.KV.Namespaces.New(ctx, kv.NamespaceNewParams{AccountID: acct, Title: cloudflare.F("sdk-cache")})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if len(ns.ID) != 32 || ns.Title != "sdk-cache" || !ns.SupportsURLEncoding {
		t.Fatalf("New = %+v", ns)
	}
	_, err = c.KV.Namespaces.New(ctx, kv.NamespaceNewParams{AccountID: acct, Title: cloudflare.F("sdk-cache")})
	var apiErr *cloudflare.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || len(apiErr.Errors) == 0 || apiErr.Errors[0].Code != 10014 {
		t.Fatalf("duplicate title: %v", err)
	}
	page, err := c.KV.Namespaces.List(ctx, kv.NamespaceListParams{AccountID: acct, PerPage: cloudflare.F(100.0),
		Order: cloudflare.F(kv.NamespaceListParamsOrderTitle), Direction: cloudflare.F(kv.NamespaceListParamsDirectionAsc)})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(page.Result) != 1 || page.Result[0].ID != ns.ID || page.ResultInfo.PerPage != 100 {
		t.Fatalf("List = %+v %+v", page.Result, page.ResultInfo)
	}
	if _, err := c.KV.Namespaces.Update(ctx, ns.ID, kv.NamespaceUpdateParams{AccountID: acct, Title: cloudflare.F("sdk-cache-2")}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	got, err := c.KV.Namespaces.Get(ctx, ns.ID, kv.NamespaceGetParams{AccountID: acct})
	if err != nil || got.Title != "sdk-cache-2" {
		t.Fatalf("Get = %+v, %v", got, err)
	}

	_, err = c.KV.Namespaces.Values.Update(ctx, ns.ID, "answers/42", kv.NamespaceValueUpdateParams{AccountID: acct,
		Value: cloudflare.F[kv.NamespaceValueUpdateParamsValueUnion](shared.UnionString("forty-two")),
		// As a JSON string: the SDK's form encoder sends a map as `metadata.<field>` parts, not
		// the one JSON `metadata` part the API documents.
		Metadata: cloudflare.F[any](`{"model":"llama"}`), ExpirationTTL: cloudflare.F(3600.0)})
	if err != nil {
		t.Fatalf("Values.Update: %v", err)
	}
	resp, err := c.KV.Namespaces.Values.Get(ctx, ns.ID, "answers/42", kv.NamespaceValueGetParams{AccountID: acct})
	if err != nil {
		t.Fatalf("Values.Get: %v", err)
	}
	value, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(value) != "forty-two" {
		t.Fatalf("Values.Get = %q", value)
	}
	meta, err := c.KV.Namespaces.Metadata.Get(ctx, ns.ID, "answers/42", kv.NamespaceMetadataGetParams{AccountID: acct})
	if err != nil {
		t.Fatalf("Metadata.Get: %v", err)
	}
	if m, ok := (*meta).(map[string]any); !ok || m["model"] != "llama" {
		t.Fatalf("Metadata.Get = %#v", *meta)
	}
	keys, err := c.KV.Namespaces.Keys.List(ctx, ns.ID, kv.NamespaceKeyListParams{AccountID: acct, Limit: cloudflare.F(10.0), Prefix: cloudflare.F("answers/")})
	if err != nil {
		t.Fatalf("Keys.List: %v", err)
	}
	if len(keys.Result) != 1 || keys.Result[0].Name != "answers/42" || keys.Result[0].Expiration == 0 || keys.ResultInfo.Count != 1 || keys.ResultInfo.Cursor != "" {
		t.Fatalf("Keys.List = %+v %+v", keys.Result, keys.ResultInfo)
	}
	if _, err := c.KV.Namespaces.Values.Delete(ctx, ns.ID, "answers/42", kv.NamespaceValueDeleteParams{AccountID: acct}); err != nil {
		t.Fatalf("Values.Delete: %v", err)
	}
	if _, err := c.KV.Namespaces.Delete(ctx, ns.ID, kv.NamespaceDeleteParams{AccountID: acct}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := c.KV.Namespaces.Get(ctx, ns.ID, kv.NamespaceGetParams{AccountID: acct}); err == nil {
		t.Fatal("Get after Delete succeeded")
	}
}

// TestCloudflareGoR2: cloudflare-go v6's r2 package creates, lists, reads and deletes a bucket,
// decoding every answer.
func TestCloudflareGoR2(t *testing.T) {
	srv := localcftest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := sdkClient(srv, srv.Token())
	acct := cloudflare.F(srv.AccountID())

	b, err := c.R2.Buckets.New(ctx, r2.BucketNewParams{AccountID: acct, Name: cloudflare.F("sdk-images"),
		LocationHint: cloudflare.F(r2.BucketNewParamsLocationHintWeur)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if b.Name != "sdk-images" || b.Location != r2.BucketLocationWeur || b.StorageClass != r2.BucketStorageClassStandard ||
		b.Jurisdiction != r2.BucketJurisdictionDefault || b.CreationDate == "" {
		t.Fatalf("New = %+v", b)
	}
	_, err = c.R2.Buckets.New(ctx, r2.BucketNewParams{AccountID: acct, Name: cloudflare.F("sdk-images")})
	var apiErr *cloudflare.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict {
		t.Fatalf("duplicate bucket: %v", err)
	}
	list, err := c.R2.Buckets.List(ctx, r2.BucketListParams{AccountID: acct})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list.Buckets) != 1 || list.Buckets[0].Name != "sdk-images" || list.Buckets[0].Location != r2.BucketLocationWeur {
		t.Fatalf("List = %+v", list.Buckets)
	}
	got, err := c.R2.Buckets.Get(ctx, "sdk-images", r2.BucketGetParams{AccountID: acct})
	if err != nil || got.Name != "sdk-images" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if _, err := c.R2.Buckets.Get(ctx, "sdk-images", r2.BucketGetParams{AccountID: acct,
		Jurisdiction: cloudflare.F(r2.BucketGetParamsCfR2JurisdictionEu)}); err == nil {
		t.Fatal("Get in the eu jurisdiction found a default-jurisdiction bucket")
	}
	if _, err := c.R2.Buckets.Delete(ctx, "sdk-images", r2.BucketDeleteParams{AccountID: acct}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := c.R2.Buckets.Get(ctx, "sdk-images", r2.BucketGetParams{AccountID: acct}); err == nil {
		t.Fatal("Get after Delete succeeded")
	}
}
