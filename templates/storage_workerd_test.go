package templates

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/localcftest"
)

// TestTextToImageStoreInWorkerd runs text-to-image's ?store=1 path in workerd against the local
// Cloudflare's R2: the picture is kept in the IMAGES bucket under the key the answer names, and
// readable through the R2 API; without ?store=1 nothing is kept, and without the binding
// ?store=1 is refused before the model runs.
func TestTextToImageStoreInWorkerd(t *testing.T) {
	srv := localcftest.New(t)
	const bucket = "images-store-test"
	api(t, srv, http.MethodPost, "/r2/buckets", "application/json", strings.NewReader(`{"name":"`+bucket+`"}`))
	images := deployTemplate(t, srv, "text-to-image", "images", "@cf/stabilityai/stable-diffusion-xl-base-1.0",
		map[string]any{"type": "r2_bucket", "name": "IMAGES", "bucket_name": bucket})
	request := []byte(`{"prompt":"a cute robot cooking breakfast","width":256,"height":256,"num_steps":4}`)

	status, ctype, data := images.send(t, "/?store=1", "application/json", request, false)
	if status != http.StatusOK || !strings.HasPrefix(ctype, "application/json") {
		t.Fatalf("store=1: status %d, content type %q; body: %.300s", status, ctype, data)
	}
	var stored struct {
		Key         string `json:"key"`
		ContentType string `json:"content_type"`
		Size        int    `json:"size"`
	}
	if err := json.Unmarshal(data, &stored); err != nil {
		t.Fatalf("store=1 answer %.300s: %v", data, err)
	}
	if !regexp.MustCompile(`^images/\d{4}-\d{2}-\d{2}/[0-9a-f-]{36}\.png$`).MatchString(stored.Key) || stored.ContentType != "image/png" {
		t.Errorf("store=1 answer %+v, want a new images/<day>/<uuid>.png key of an image/png", stored)
	}
	status, ctype, object := r2Object(t, srv, bucket, stored.Key)
	if status != http.StatusOK {
		t.Fatalf("GET the stored object %s: status %d: %.300s", stored.Key, status, object)
	}
	if ctype != "image/png" || len(object) != stored.Size {
		t.Errorf("stored object: content type %q, %d bytes; want image/png, %d bytes", ctype, len(object), stored.Size)
	}
	if img, err := png.Decode(bytes.NewReader(object)); err != nil || img.Bounds().Dx() != 256 {
		t.Errorf("the stored object is not the 256x256 PNG (%v)", err)
	}

	// The default answer is unchanged, and keeps nothing.
	before := r2ObjectCount(t, srv, bucket)
	status, ctype, data = images.post(t, request, false)
	if status != http.StatusOK || ctype != "image/png" {
		t.Fatalf("default: status %d, content type %q; want the picture: %.300s", status, ctype, data)
	}
	if after := r2ObjectCount(t, srv, bucket); after != before {
		t.Errorf("a request without store=1 kept a picture: %d objects, then %d", before, after)
	}

	plain := deployTemplate(t, srv, "text-to-image", "plain-images", "@cf/stabilityai/stable-diffusion-xl-base-1.0")
	status, ctype, data = plain.send(t, "/?store=1", "application/json", request, false)
	if msg := jsonErrorOf(t, status, ctype, data, http.StatusNotImplemented); !strings.Contains(msg, "IMAGES") {
		t.Errorf("store=1 without the binding: %q does not name the IMAGES bucket", msg)
	}
}

// r2Object reads an object through the local Cloudflare's R2 API: status, content type, bytes.
func r2Object(t *testing.T, srv *localcf.Server, bucket, key string) (int, string, []byte) {
	t.Helper()
	resp := r2Get(t, srv, "/r2/buckets/"+bucket+"/objects/"+key)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), data
}

// r2ObjectCount is how many objects bucket holds, by the R2 API's object list.
func r2ObjectCount(t *testing.T, srv *localcf.Server, bucket string) int {
	t.Helper()
	resp := r2Get(t, srv, "/r2/buckets/"+bucket+"/objects")
	defer resp.Body.Close()
	var list struct {
		Success bool              `json:"success"`
		Result  []json.RawMessage `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || !list.Success {
		t.Fatalf("list the objects of %s: status %d (%v)", bucket, resp.StatusCode, err)
	}
	return len(list.Result)
}

func r2Get(t *testing.T, srv *localcf.Server, path string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.APIBaseURL()+"/accounts/"+srv.AccountID()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp
}
