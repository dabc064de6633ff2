package workerd

import (
	"context"
	"io"
	"net/http"
	"testing"
)

// BenchmarkStartToFirstResponse measures uploading a version to its first
// answered request: config, process start, listen event, one request.
func BenchmarkStartToFirstResponse(b *testing.B) {
	opts := Options{Binary: testBinary(b), TempDir: b.TempDir()}
	w := esmWorker("bench", `export default { fetch: (req, env) => new Response(env.GREETING) };`,
		Binding{Name: "GREETING", Type: "plain_text", Text: "hi"},
		Binding{Name: "KEY", Type: "secret_text", Text: "bench-secret"})
	client := &http.Client{}
	for b.Loop() {
		p, err := Start(context.Background(), opts, w)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := client.Get("http://" + p.Addr() + "/")
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "hi" {
			b.Fatalf("body %q", body)
		}
		p.Close()
	}
}
