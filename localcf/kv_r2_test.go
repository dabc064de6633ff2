package localcf

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// createKV creates a KV namespace and returns its id.
func (c *client) createKV(title string) string {
	c.t.Helper()
	r := c.json(http.MethodPost, "/storage/kv/namespaces", map[string]any{"title": title})
	expect(c.t, r, http.StatusOK, 0)
	var ns kvPublic
	r.result(c.t, &ns)
	if len(ns.ID) != 32 || ns.Title != title || !ns.SupportsURLEncoding {
		c.t.Fatalf("created namespace %+v", ns)
	}
	return ns.ID
}

func (c *client) putKVValue(id, key string, value []byte, query string) *apiResponse {
	c.t.Helper()
	return c.do(http.MethodPut, "/storage/kv/namespaces/"+id+"/values/"+url.PathEscape(key)+query, "application/octet-stream", value)
}

func (c *client) kvKeys(id, query string) ([]kvKey, map[string]any) {
	c.t.Helper()
	r := c.do(http.MethodGet, "/storage/kv/namespaces/"+id+"/keys"+query, "", nil)
	expect(c.t, r, http.StatusOK, 0)
	var keys []kvKey
	r.result(c.t, &keys)
	return keys, r.Env.ResultInfo
}

func keyNames(keys []kvKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Name
	}
	return out
}

// TestKVNamespacesREST: create, duplicate title, get, list (paged, ordered), rename, delete.
func TestKVNamespacesREST(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	a := c.createKV("cache-a")
	b := c.createKV("cache-b")
	r := c.json(http.MethodPost, "/storage/kv/namespaces", map[string]any{"title": "cache-a"})
	expect(t, r, http.StatusBadRequest, codeKVTitleExists)
	if r.Env.Errors[0].Message != "a namespace with this account ID and title already exists" {
		t.Errorf("duplicate message %q", r.Env.Errors[0].Message)
	}
	expect(t, c.json(http.MethodPost, "/storage/kv/namespaces", map[string]any{}), http.StatusBadRequest, codeValidation)

	r = c.do(http.MethodGet, "/storage/kv/namespaces/"+a, "", nil)
	expect(t, r, http.StatusOK, 0)
	var got kvPublic
	r.result(t, &got)
	if got.ID != a || got.Title != "cache-a" {
		t.Fatalf("get: %+v", got)
	}
	expect(t, c.do(http.MethodGet, "/storage/kv/namespaces/"+strings.Repeat("0", 32), "", nil), http.StatusNotFound, codeKVNamespaceNotFound)

	r = c.do(http.MethodGet, "/storage/kv/namespaces?per_page=1&page=2&order=title&direction=asc", "", nil)
	expect(t, r, http.StatusOK, 0)
	var page []kvPublic
	r.result(t, &page)
	if len(page) != 1 || page[0].ID != b || r.Env.ResultInfo["total_count"] != float64(2) || r.Env.ResultInfo["total_pages"] != float64(2) {
		t.Fatalf("page 2 of 1: %s", r.Body)
	}
	r = c.do(http.MethodGet, "/storage/kv/namespaces?order=title&direction=desc", "", nil)
	r.result(t, &page)
	if len(page) != 2 || page[0].ID != b {
		t.Fatalf("desc order: %s", r.Body)
	}

	// Rename: not onto another's title; then the old title is free again.
	expect(t, c.json(http.MethodPut, "/storage/kv/namespaces/"+a, map[string]any{"title": "cache-b"}), http.StatusBadRequest, codeKVTitleExists)
	expect(t, c.json(http.MethodPut, "/storage/kv/namespaces/"+a, map[string]any{"title": "renamed"}), http.StatusOK, 0)
	c.createKV("cache-a")

	expect(t, c.putKVValue(b, "k", []byte("v"), ""), http.StatusOK, 0)
	expect(t, c.do(http.MethodDelete, "/storage/kv/namespaces/"+b, "", nil), http.StatusOK, 0)
	expect(t, c.do(http.MethodGet, "/storage/kv/namespaces/"+b, "", nil), http.StatusNotFound, codeKVNamespaceNotFound)
	expect(t, c.do(http.MethodGet, "/storage/kv/namespaces/"+b+"/keys", "", nil), http.StatusNotFound, codeKVNamespaceNotFound)
	expect(t, c.do(http.MethodDelete, "/storage/kv/namespaces/"+b, "", nil), http.StatusNotFound, codeKVNamespaceNotFound)

	// Another account sees none of them.
	other, token, err := srv.AddAccount("")
	if err != nil {
		t.Fatal(err)
	}
	oc := &client{t: t, srv: srv, token: token, account: other}
	r = oc.do(http.MethodGet, "/storage/kv/namespaces", "", nil)
	expect(t, r, http.StatusOK, 0)
	if string(r.Env.Result) != "[]" {
		t.Fatalf("other account lists %s", r.Env.Result)
	}
	expect(t, oc.do(http.MethodGet, "/storage/kv/namespaces/"+a, "", nil), http.StatusNotFound, codeKVNamespaceNotFound)
}

// TestKVValuesREST: values with awkward keys, multipart writes with metadata, expiry, key
// listing with prefix and cursor, limits.
func TestKVValuesREST(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	id := c.createKV("values")
	keys := []string{"a/b//c", "späce key", "?q=1&x", "user:1", "user:2", "user:3"}
	for i, k := range keys {
		expect(t, c.putKVValue(id, k, []byte(fmt.Sprint("value ", i)), ""), http.StatusOK, 0)
	}
	for i, k := range keys {
		r := c.do(http.MethodGet, "/storage/kv/namespaces/"+id+"/values/"+url.PathEscape(k), "", nil)
		if r.Status != http.StatusOK || string(r.Body) != fmt.Sprint("value ", i) {
			t.Fatalf("get %q: HTTP %d %q", k, r.Status, r.Body)
		}
	}
	// An unencoded '/' reaches the same key.
	if r := c.do(http.MethodGet, "/storage/kv/namespaces/"+id+"/values/a/b//c", "", nil); string(r.Body) != "value 0" {
		t.Fatalf("raw slashes: HTTP %d %q", r.Status, r.Body)
	}
	expect(t, c.do(http.MethodGet, "/storage/kv/namespaces/"+id+"/values/missing", "", nil), http.StatusNotFound, codeKVKeyNotFound)

	// cloudflare-go's form: a multipart body with value and metadata.
	ct, body := multipartBody(t, part{name: "value", data: []byte("with meta")}, part{name: "metadata", data: []byte(`{"model":"llama"}`)})
	expect(t, c.do(http.MethodPut, "/storage/kv/namespaces/"+id+"/values/meta?expiration_ttl=3600", ct, body), http.StatusOK, 0)
	listed, info := c.kvKeys(id, "?prefix=meta")
	if len(listed) != 1 || string(listed[0].Metadata) != `{"model":"llama"}` || listed[0].Expiration < srv.opts.now().Unix()+3500 || info["cursor"] != "" || info["count"] != float64(1) {
		t.Fatalf("keys with prefix meta: %+v %v", listed, info)
	}

	listed, _ = c.kvKeys(id, "?prefix=user:")
	if want := []string{"user:1", "user:2", "user:3"}; !slices.Equal(keyNames(listed), want) {
		t.Fatalf("prefix user: %v, want %v", keyNames(listed), want)
	}
	// Paging: 7 keys, 10 per page is one page; the REST minimum limit is 10.
	expect(t, c.do(http.MethodGet, "/storage/kv/namespaces/"+id+"/keys?limit=2", "", nil), http.StatusBadRequest, codeValidation)
	for i := 0; i < 8; i++ {
		expect(t, c.putKVValue(id, fmt.Sprintf("z%02d", i), []byte("x"), ""), http.StatusOK, 0)
	}
	first, info := c.kvKeys(id, "?limit=10")
	cursor, _ := info["cursor"].(string)
	if len(first) != 10 || cursor == "" {
		t.Fatalf("first page: %d keys, cursor %q", len(first), cursor)
	}
	rest, info := c.kvKeys(id, "?limit=10&cursor="+url.QueryEscape(cursor))
	if len(rest) != 5 || info["cursor"] != "" || slices.Contains(keyNames(rest), first[9].Name) {
		t.Fatalf("second page: %v %v", keyNames(rest), info)
	}

	// Limits and bad input.
	expect(t, c.putKVValue(id, strings.Repeat("k", 513), []byte("x"), ""), http.StatusRequestURITooLong, codeValidation)
	expect(t, c.putKVValue(id, "big", bytes.Repeat([]byte("x"), maxKVValueBytes+1), ""), http.StatusRequestEntityTooLarge, codeValidation)
	expect(t, c.putKVValue(id, "ttl", []byte("x"), "?expiration_ttl=30"), http.StatusBadRequest, codeValidation)
	ct, body = multipartBody(t, part{name: "value", data: []byte("x")}, part{name: "metadata", data: []byte(`{"m":"` + strings.Repeat("m", 1100) + `"}`)})
	expect(t, c.do(http.MethodPut, "/storage/kv/namespaces/"+id+"/values/m", ct, body), http.StatusRequestEntityTooLarge, codeValidation)

	expect(t, c.do(http.MethodDelete, "/storage/kv/namespaces/"+id+"/values/"+url.PathEscape("user:1"), "", nil), http.StatusOK, 0)
	expect(t, c.do(http.MethodDelete, "/storage/kv/namespaces/"+id+"/values/never", "", nil), http.StatusOK, 0)
	expect(t, c.do(http.MethodGet, "/storage/kv/namespaces/"+id+"/values/user:1", "", nil), http.StatusNotFound, codeKVKeyNotFound)
}

func (c *client) createBucket(name string) *apiResponse {
	c.t.Helper()
	return c.json(http.MethodPost, "/r2/buckets", map[string]any{"name": name})
}

func (c *client) putObject(bucket, key, body string, headers ...string) *apiResponse {
	c.t.Helper()
	return c.do(http.MethodPut, "/r2/buckets/"+bucket+"/objects/"+url.PathEscape(key), "", []byte(body), headers...)
}

// listObjectKeys lists a bucket's objects over the REST API.
func (c *client) listObjectKeys(bucket, query string) ([]string, map[string]any) {
	c.t.Helper()
	r := c.do(http.MethodGet, "/r2/buckets/"+bucket+"/objects"+query, "", nil)
	expect(c.t, r, http.StatusOK, 0)
	var objects []r2RESTObject
	r.result(c.t, &objects)
	out := make([]string, len(objects))
	for i, o := range objects {
		out[i] = o.Key
	}
	return out, r.Env.ResultInfo
}

// TestR2BucketsREST: create (names, duplicates, hints), list as cloudflare-go reads it, get,
// delete.
func TestR2BucketsREST(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	r := c.json(http.MethodPost, "/r2/buckets", map[string]any{"name": "images", "locationHint": "weur", "storageClass": "InfrequentAccess"})
	expect(t, r, http.StatusOK, 0)
	var b r2Bucket
	r.result(t, &b)
	if b.Name != "images" || b.Location != "weur" || b.StorageClass != "InfrequentAccess" || b.Jurisdiction != "default" || b.CreationDate == "" {
		t.Fatalf("created %+v", b)
	}
	expect(t, c.createBucket("images"), http.StatusConflict, codeR2BucketExists)
	for _, bad := range []string{"ab", "-abc", "abc-", "Upper", "under_score", strings.Repeat("a", 64), "dots.not"} {
		r := c.createBucket(bad)
		expect(t, r, http.StatusBadRequest, codeR2InvalidName)
		if !strings.Contains(r.Env.Errors[0].Message, "invalid bucket name") {
			t.Errorf("%q: message %q", bad, r.Env.Errors[0].Message)
		}
	}
	expect(t, c.json(http.MethodPost, "/r2/buckets", map[string]any{"name": "x-hint", "locationHint": "mars"}), http.StatusBadRequest, codeValidation)
	expect(t, c.createBucket("abc"), http.StatusOK, 0)
	expect(t, c.createBucket(strings.Repeat("a", 63)), http.StatusOK, 0)

	r = c.do(http.MethodGet, "/r2/buckets", "", nil)
	expect(t, r, http.StatusOK, 0)
	var list struct {
		Buckets []r2Bucket `json:"buckets"`
	}
	r.result(t, &list)
	if len(list.Buckets) != 3 || list.Buckets[2].Name != "images" {
		t.Fatalf("list: %s", r.Body)
	}
	r = c.do(http.MethodGet, "/r2/buckets?per_page=2", "", nil)
	r.result(t, &list)
	cursor, _ := r.Env.ResultInfo["cursor"].(string)
	if len(list.Buckets) != 2 || cursor == "" || r.Env.ResultInfo["per_page"] != float64(2) {
		t.Fatalf("first page: %s", r.Body)
	}
	r = c.do(http.MethodGet, "/r2/buckets?per_page=2&cursor="+cursor, "", nil)
	r.result(t, &list)
	if len(list.Buckets) != 1 || list.Buckets[0].Name != "images" || r.Env.ResultInfo["cursor"] != "" {
		t.Fatalf("second page: %s", r.Body)
	}

	expect(t, c.do(http.MethodGet, "/r2/buckets/images", "", nil), http.StatusOK, 0)
	expect(t, c.do(http.MethodGet, "/r2/buckets/images", "", nil, "cf-r2-jurisdiction", "eu"), http.StatusNotFound, codeR2NoSuchBucket)
	expect(t, c.do(http.MethodGet, "/r2/buckets/nope", "", nil), http.StatusNotFound, codeR2NoSuchBucket)
	expect(t, c.do(http.MethodDelete, "/r2/buckets/abc", "", nil), http.StatusOK, 0)
	expect(t, c.do(http.MethodGet, "/r2/buckets/abc", "", nil), http.StatusNotFound, codeR2NoSuchBucket)
	expect(t, c.do(http.MethodDelete, "/r2/buckets/abc", "", nil), http.StatusNotFound, codeR2NoSuchBucket)
	expect(t, c.createBucket("abc"), http.StatusOK, 0) // a deleted name is free again
}

// TestR2ObjectsREST: object writes, reads and deletes, and the object listing.
func TestR2ObjectsREST(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	expect(t, c.createBucket("pics"), http.StatusOK, 0)
	r := c.putObject("pics", "cats/1.png", "PNG1", "Content-Type", "image/png", "Cache-Control", "max-age=60")
	expect(t, r, http.StatusOK, 0)
	var o r2RESTObject
	r.result(t, &o)
	if o.Key != "cats/1.png" || o.Size != 4 || o.ETag != fmt.Sprintf("%x", md5.Sum([]byte("PNG1"))) || o.HTTPMetadata["contentType"] != "image/png" {
		t.Fatalf("put answer %+v", o)
	}
	for _, k := range []string{"cats/2.png", "dogs/1.png", "readme"} {
		expect(t, c.putObject("pics", k, "data of "+k), http.StatusOK, 0)
	}
	r = c.do(http.MethodGet, "/r2/buckets/pics/objects/cats/1.png", "", nil)
	if r.Status != http.StatusOK || string(r.Body) != "PNG1" || r.Header.Get("Content-Type") != "image/png" || r.Header.Get("ETag") != `"`+o.ETag+`"` {
		t.Fatalf("get: HTTP %d %q %v", r.Status, r.Body, r.Header)
	}
	expect(t, c.do(http.MethodGet, "/r2/buckets/pics/objects/cats/9.png", "", nil), http.StatusNotFound, codeR2NoSuchKey)
	expect(t, c.putObject("nope", "k", "x"), http.StatusNotFound, codeR2NoSuchBucket)
	expect(t, c.putObject("pics", strings.Repeat("k", 1025), "x"), http.StatusBadRequest, codeR2InvalidObject)

	keys, info := c.listObjectKeys("pics", "")
	if want := []string{"cats/1.png", "cats/2.png", "dogs/1.png", "readme"}; !slices.Equal(keys, want) || info["is_truncated"] != false {
		t.Fatalf("list: %v %v", keys, info)
	}
	keys, info = c.listObjectKeys("pics", "?per_page=1&prefix=cats/")
	cursor, _ := info["cursor"].(string)
	if !slices.Equal(keys, []string{"cats/1.png"}) || info["is_truncated"] != true || cursor == "" {
		t.Fatalf("first page: %v %v", keys, info)
	}
	keys, info = c.listObjectKeys("pics", "?per_page=1&prefix=cats/&cursor="+cursor)
	if !slices.Equal(keys, []string{"cats/2.png"}) || info["is_truncated"] != false {
		t.Fatalf("second page: %v %v", keys, info)
	}
	keys, info = c.listObjectKeys("pics", "?delimiter=/")
	if !slices.Equal(keys, []string{"readme"}) || fmt.Sprint(info["delimited"]) != "[cats/ dogs/]" {
		t.Fatalf("delimited: %v %v", keys, info)
	}

	expect(t, c.do(http.MethodDelete, "/r2/buckets/pics/objects/readme", "", nil), http.StatusOK, 0)
	expect(t, c.do(http.MethodDelete, "/r2/buckets/pics/objects/readme", "", nil), http.StatusOK, 0)
	expect(t, c.do(http.MethodGet, "/r2/buckets/pics/objects/readme", "", nil), http.StatusNotFound, codeR2NoSuchKey)
}

// TestQuirkR2DeleteNonEmpty: a bucket holding objects is refused (409, 10008) by default and
// deleted with its objects under the quirk; an emptied bucket deletes under both.
func TestQuirkR2DeleteNonEmpty(t *testing.T) {
	readings(t, "r2_delete_nonempty", func(t *testing.T, srv *Server, c *client, lenient bool) {
		expect(t, c.createBucket("full"), http.StatusOK, 0)
		expect(t, c.putObject("full", "a", "x"), http.StatusOK, 0)
		r := c.do(http.MethodDelete, "/r2/buckets/full", "", nil)
		if !lenient {
			expect(t, r, http.StatusConflict, codeR2NotEmpty)
			if r.Env.Errors[0].Message != "The bucket you tried to delete is not empty" {
				t.Errorf("message %q", r.Env.Errors[0].Message)
			}
			if body := c.do(http.MethodGet, "/r2/buckets/full/objects/a", "", nil); string(body.Body) != "x" {
				t.Fatalf("the refused delete lost the object: %q", body.Body)
			}
			expect(t, c.do(http.MethodDelete, "/r2/buckets/full/objects/a", "", nil), http.StatusOK, 0)
			expect(t, c.do(http.MethodDelete, "/r2/buckets/full", "", nil), http.StatusOK, 0)
			return
		}
		expect(t, r, http.StatusOK, 0)
		expect(t, c.do(http.MethodGet, "/r2/buckets/full", "", nil), http.StatusNotFound, codeR2NoSuchBucket)
		// Re-created, it is empty: the objects went with the bucket.
		expect(t, c.createBucket("full"), http.StatusOK, 0)
		if keys, _ := c.listObjectKeys("full", ""); len(keys) != 0 {
			t.Fatalf("re-created bucket holds %v", keys)
		}
	})
}

// TestQuirkR2NoObjectList: the object listing works by default and is an unknown route (404)
// under the quirk; reading single objects works under both.
func TestQuirkR2NoObjectList(t *testing.T) {
	readings(t, "r2_no_object_list", func(t *testing.T, srv *Server, c *client, lenient bool) {
		expect(t, c.createBucket("b-list"), http.StatusOK, 0)
		expect(t, c.putObject("b-list", "k", "v"), http.StatusOK, 0)
		r := c.do(http.MethodGet, "/r2/buckets/b-list/objects", "", nil)
		if lenient {
			expect(t, r, http.StatusNotFound, codeCouldNotRoute)
		} else {
			expect(t, r, http.StatusOK, 0)
		}
		if r := c.do(http.MethodGet, "/r2/buckets/b-list/objects/k", "", nil); string(r.Body) != "v" {
			t.Fatalf("get object: HTTP %d %q", r.Status, r.Body)
		}
	})
}

// TestKVR2Durability: namespaces, buckets and their data survive a restart on the same state
// directory; deletions do too, and nothing a deleted namespace held comes back.
func TestKVR2Durability(t *testing.T) {
	dir := t.TempDir()
	srv, err := Start(t.Context(), Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv)
	keep := c.createKV("keep")
	gone := c.createKV("gone")
	expect(t, c.putKVValue(keep, "answer", []byte("42"), "?expiration_ttl=3600"), http.StatusOK, 0)
	expect(t, c.putKVValue(keep, "answer", []byte("43"), ""), http.StatusOK, 0) // replaced
	expect(t, c.putKVValue(keep, "dropped", []byte("x"), ""), http.StatusOK, 0)
	expect(t, c.do(http.MethodDelete, "/storage/kv/namespaces/"+keep+"/values/dropped", "", nil), http.StatusOK, 0)
	expect(t, c.putKVValue(gone, "k", []byte("v"), ""), http.StatusOK, 0)
	expect(t, c.do(http.MethodDelete, "/storage/kv/namespaces/"+gone, "", nil), http.StatusOK, 0)
	expect(t, c.createBucket("durable"), http.StatusOK, 0)
	binary := string([]byte{0, 1, 2, 255, 254})
	expect(t, c.putObject("durable", "dir/blob.bin", binary, "Content-Type", "application/x-test"), http.StatusOK, 0)
	token, account := c.token, c.account
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv2 := startTestServer(t, Options{StateDir: dir})
	c = &client{t: t, srv: srv2, token: token, account: account}
	r := c.do(http.MethodGet, "/storage/kv/namespaces/"+keep+"/values/answer", "", nil)
	if r.Status != http.StatusOK || string(r.Body) != "43" {
		t.Fatalf("after restart: HTTP %d %q", r.Status, r.Body)
	}
	keys, _ := c.kvKeys(keep, "")
	if !slices.Equal(keyNames(keys), []string{"answer"}) || keys[0].Expiration != 0 {
		t.Fatalf("keys after restart: %+v", keys)
	}
	expect(t, c.do(http.MethodGet, "/storage/kv/namespaces/"+gone, "", nil), http.StatusNotFound, codeKVNamespaceNotFound)
	expect(t, c.json(http.MethodPost, "/storage/kv/namespaces", map[string]any{"title": "keep"}), http.StatusBadRequest, codeKVTitleExists)
	r = c.do(http.MethodGet, "/r2/buckets/durable/objects/dir/blob.bin", "", nil)
	if r.Status != http.StatusOK || string(r.Body) != binary || r.Header.Get("Content-Type") != "application/x-test" {
		t.Fatalf("object after restart: HTTP %d %q %v", r.Status, r.Body, r.Header)
	}
	expect(t, c.do(http.MethodDelete, "/r2/buckets/durable", "", nil), http.StatusConflict, codeR2NotEmpty)
}

// TestKVExpiry: a pair past its expiration reads as absent over the API and the listing, and
// an absolute expiration must be at least 60 s ahead.
func TestKVExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	srv := startTestServer(t, Options{now: clock})
	c := newClient(t, srv)
	id := c.createKV("ttl")
	expect(t, c.putKVValue(id, "short", []byte("s"), "?expiration_ttl=60"), http.StatusOK, 0)
	expect(t, c.putKVValue(id, "long", []byte("l"), fmt.Sprintf("?expiration=%d", now.Unix()+3600)), http.StatusOK, 0)
	expect(t, c.putKVValue(id, "soon", []byte("x"), fmt.Sprintf("?expiration=%d", now.Unix()+59)), http.StatusBadRequest, codeValidation)
	keys, _ := c.kvKeys(id, "")
	if len(keys) != 2 || keys[0].Name != "long" || keys[0].Expiration != now.Unix()+3600 || keys[1].Expiration != now.Unix()+60 {
		t.Fatalf("keys: %+v", keys)
	}
	mu.Lock()
	now = now.Add(61 * time.Second)
	mu.Unlock()
	expect(t, c.do(http.MethodGet, "/storage/kv/namespaces/"+id+"/values/short", "", nil), http.StatusNotFound, codeKVKeyNotFound)
	if r := c.do(http.MethodGet, "/storage/kv/namespaces/"+id+"/values/long", "", nil); string(r.Body) != "l" || r.Header.Get("Expiration") == "" {
		t.Fatalf("long: HTTP %d %q", r.Status, r.Body)
	}
	if keys, _ := c.kvKeys(id, ""); !slices.Equal(keyNames(keys), []string{"long"}) {
		t.Fatalf("keys after expiry: %v", keyNames(keys))
	}
}
