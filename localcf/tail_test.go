package localcf

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// tailTestWorker logs, throws on /boom and prints the Authorization header it was sent.
const tailTestWorker = `export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    console.log("path", url.pathname, {n: 1});
    if (url.pathname === "/boom") throw new Error("kaboom");
    if (url.pathname === "/needle") console.warn("found the needle here");
    return new Response("ok");
  }
};
`

func deployTailWorker(t *testing.T, srv *Server, c *client, name string) {
	t.Helper()
	c.mustUpload(name, defaultMeta(), tailTestWorker)
	c.enableWorkersDev(name)
}

func createTail(t *testing.T, c *client, script string, filters []map[string]any) tailInfo {
	t.Helper()
	if filters == nil {
		filters = []map[string]any{}
	}
	r := c.json(http.MethodPost, "/workers/scripts/"+script+"/tails", map[string]any{"filters": filters})
	expect(t, r, http.StatusOK, 0)
	var info tailInfo
	r.result(t, &info)
	if info.ID == "" || !strings.HasPrefix(info.URL, "ws://") || info.ExpiresAt == "" {
		t.Fatalf("tail = %+v, want an id, a ws:// url and expires_at", info)
	}
	return info
}

func listTailIDs(t *testing.T, c *client, script string) []string {
	t.Helper()
	r := c.do(http.MethodGet, "/workers/scripts/"+script+"/tails", "", nil)
	expect(t, r, http.StatusOK, 0)
	var infos []tailInfo
	r.result(t, &infos)
	var ids []string
	for _, i := range infos {
		ids = append(ids, i.ID)
	}
	return ids
}

func TestTailCreateListDeleteAndLimit(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	deployTailWorker(t, srv, c, "tailed")

	var ids []string
	for range maxTailsPerScript {
		ids = append(ids, createTail(t, c, "tailed", nil).ID)
	}
	expect(t, c.json(http.MethodPost, "/workers/scripts/tailed/tails", map[string]any{"filters": []any{}}), http.StatusTooManyRequests, codeTooManyTails)
	if got := listTailIDs(t, c, "tailed"); len(got) != maxTailsPerScript {
		t.Fatalf("GET tails lists %d, want %d", len(got), maxTailsPerScript)
	}
	expect(t, c.do(http.MethodDelete, "/workers/scripts/tailed/tails/"+ids[0], "", nil), http.StatusOK, 0)
	expect(t, c.do(http.MethodDelete, "/workers/scripts/tailed/tails/"+ids[0], "", nil), http.StatusNotFound, codeTailNotFound)
	if got := listTailIDs(t, c, "tailed"); len(got) != maxTailsPerScript-1 || strings.Contains(strings.Join(got, ","), ids[0]) {
		t.Fatalf("after delete GET tails = %v", got)
	}
	createTail(t, c, "tailed", nil) // a freed slot can be taken again

	expect(t, c.json(http.MethodPost, "/workers/scripts/missing/tails", map[string]any{"filters": []any{}}), http.StatusNotFound, codeScriptNotFound)
	for _, bad := range []any{
		map[string]any{},
		map[string]any{"filters": []any{map[string]any{"sampling_rate": 1.5}}},
		map[string]any{"filters": []any{map[string]any{"outcome": []string{"error"}}}},
		map[string]any{"filters": []any{map[string]any{"method": []string{"GET"}, "query": "x"}}},
		map[string]any{"filters": []any{map[string]any{"client_ip": []string{"nope"}}}},
		map[string]any{"filters": []any{map[string]any{"colour": "red"}}},
	} {
		r := c.json(http.MethodPost, "/workers/scripts/tailed/tails", bad)
		if r.Status != http.StatusBadRequest {
			t.Errorf("POST tails %v: HTTP %d, want 400", bad, r.Status)
		}
	}
}

func TestTailSocketRefusesOtherSubprotocols(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	deployTailWorker(t, srv, c, "tailed")
	info := createTail(t, c, "tailed", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, protos := range [][]string{nil, {"trace-v2"}} {
		conn, resp, err := websocket.Dial(ctx, info.URL, &websocket.DialOptions{Subprotocols: protos})
		if err == nil {
			conn.CloseNow()
			t.Fatalf("dial with subprotocols %v: accepted, want a refusal", protos)
		}
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("dial with subprotocols %v: %v, want HTTP 400", protos, err)
		}
	}
	conn := dialTail(t, srv, info)
	if conn.Subprotocol() != tailProtocol {
		t.Errorf("negotiated subprotocol %q, want %s", conn.Subprotocol(), tailProtocol)
	}
	readCtx := conn.CloseRead(ctx) // a reader must run for the pong to arrive
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("ping: %v (closed: %v)", err, readCtx.Err())
	}
}

// dialTail connects to a tail as wrangler does and waits until the server delivers to it.
func dialTail(t *testing.T, srv *Server, info tailInfo) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, info.URL, &websocket.DialOptions{Subprotocols: []string{tailProtocol}})
	if err != nil {
		t.Fatalf("dial tail: %v", err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"debug":false}`)); err != nil {
		t.Fatal(err)
	}
	for !srv.tails.get(info.ID, time.Now()).isReady(&srv.tails) {
		if ctx.Err() != nil {
			t.Fatal("the tail never became ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return conn
}

func (t *tailSession) isReady(h *tailHub) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return t.ready
}

// readEvents reads n events, failing after a timeout.
func readEvents(t *testing.T, conn *websocket.Conn, n int) []map[string]any {
	t.Helper()
	var out []map[string]any
	for len(out) < n {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		typ, data, err := conn.Read(ctx)
		cancel()
		if err != nil {
			t.Fatalf("read event %d of %d: %v", len(out)+1, n, err)
		}
		if typ != websocket.MessageText || !strings.HasPrefix(string(data), `{"outcome":`) {
			t.Fatalf("event %q: want a text message starting with outcome", data)
		}
		var ev map[string]any
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// expectNoEvent fails if an event arrives within a short wait.
func expectNoEvent(t *testing.T, conn *websocket.Conn, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, data, err := conn.Read(ctx); err == nil {
		t.Errorf("%s: unexpected event %s", what, data)
	}
}

func pathOf(t *testing.T, ev map[string]any) string {
	t.Helper()
	req := ev["event"].(map[string]any)["request"].(map[string]any)
	u := req["url"].(string)
	_, rest, _ := strings.Cut(strings.TrimPrefix(u, "http://"), "/")
	return "/" + rest
}

func TestTailStreamsTheRuntimesEventsThroughFilters(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	deployTailWorker(t, srv, c, "tailed")

	all := dialTail(t, srv, createTail(t, c, "tailed", nil))
	errs := dialTail(t, srv, createTail(t, c, "tailed", []map[string]any{{"outcome": []string{"exception", "exceededCpu"}}}))
	needle := dialTail(t, srv, createTail(t, c, "tailed", []map[string]any{{"query": "needle"}}))
	post := dialTail(t, srv, createTail(t, c, "tailed", []map[string]any{{"method": []string{"POST"}}}))
	header := dialTail(t, srv, createTail(t, c, "tailed", []map[string]any{{"header": map[string]any{"key": "x-trace", "query": "yes"}}}))
	otherVersion := dialTail(t, srv, createTail(t, c, "tailed", []map[string]any{{"scriptVersion": "0000"}}))

	dev(t, srv, "tailed", srv.Subdomain(), "/plain")
	dev(t, srv, "tailed", srv.Subdomain(), "/boom")
	dev(t, srv, "tailed", srv.Subdomain(), "/needle")
	sendDev(t, srv, http.MethodPost, "/posted", "Authorization", "Bearer s3cret-token", "X-Trace", "yes")

	evs := readEvents(t, all, 4)
	byPath := map[string]map[string]any{}
	for _, ev := range evs {
		byPath[pathOf(t, ev)] = ev
		if ev["scriptName"] != "tailed" || ev["eventTimestamp"] == nil {
			t.Errorf("event %v: want scriptName tailed and an eventTimestamp", ev)
		}
	}
	plain := byPath["/plain"]
	logs := plain["logs"].([]any)
	first := logs[0].(map[string]any)
	if plain["outcome"] != "ok" || first["level"] != "log" || first["message"].([]any)[1] != "/plain" {
		t.Errorf("/plain event = %v, want outcome ok and the console.log arguments", plain)
	}
	boom := byPath["/boom"]
	exc := boom["exceptions"].([]any)
	if boom["outcome"] != "exception" || len(exc) != 1 || exc[0].(map[string]any)["message"] != "kaboom" {
		t.Errorf("/boom event = %v, want outcome exception with kaboom", boom)
	}
	headers := byPath["/posted"]["event"].(map[string]any)["request"].(map[string]any)["headers"].(map[string]any)
	if headers["authorization"] != "REDACTED" {
		t.Errorf("authorization header in the event = %v, want the runtime's REDACTED", headers["authorization"])
	}

	if got := readEvents(t, errs, 1); pathOf(t, got[0]) != "/boom" {
		t.Errorf("outcome filter delivered %v", got)
	}
	if got := readEvents(t, needle, 1); pathOf(t, got[0]) != "/needle" {
		t.Errorf("query filter delivered %v", got)
	}
	if got := readEvents(t, post, 1); pathOf(t, got[0]) != "/posted" {
		t.Errorf("method filter delivered %v", got)
	}
	if got := readEvents(t, header, 1); pathOf(t, got[0]) != "/posted" {
		t.Errorf("header filter delivered %v", got)
	}
	for name, conn := range map[string]*websocket.Conn{"outcome": errs, "query": needle, "method": post, "header": header, "scriptVersion": otherVersion} {
		expectNoEvent(t, conn, name+" filter")
	}
}

// sendDev sends method path to the tailed worker with header name/value pairs.
func sendDev(t *testing.T, srv *Server, method, path string, headers ...string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+srv.WorkersDevAddr()+path, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "tailed." + srv.Subdomain() + ".workers.dev"
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestTailDeleteClosesTheSocketWith1000(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	deployTailWorker(t, srv, c, "tailed")
	info := createTail(t, c, "tailed", nil)
	conn := dialTail(t, srv, info)
	expect(t, c.do(http.MethodDelete, "/workers/scripts/tailed/tails/"+info.ID, "", nil), http.StatusOK, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := conn.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusNormalClosure {
		t.Fatalf("read after delete: %v, want a close with 1000", err)
	}
}
