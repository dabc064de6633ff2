package tail

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/flareform/flareform/provision/cfapi"
)

// fakeAPI hands out tails on a test socket server and records creates and deletes.
type fakeAPI struct {
	mu         sync.Mutex
	base       string
	created    []string
	deleted    []string
	deleteCtx  []error // each delete's ctx.Err() when it ran
	failCreate int     // creates to fail after the first
}

func (a *fakeAPI) CreateTail(_ context.Context, filters []cfapi.TailFilter) (*cfapi.Tail, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.created) > 0 && a.failCreate > 0 {
		a.failCreate--
		return nil, errors.New("API down")
	}
	id := fmt.Sprintf("t%d", len(a.created)+1)
	a.created = append(a.created, id)
	return &cfapi.Tail{ID: id, URL: a.base + "/" + id}, nil
}

func (a *fakeAPI) DeleteTail(ctx context.Context, id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.deleted = append(a.deleted, id)
	a.deleteCtx = append(a.deleteCtx, ctx.Err())
	return nil
}

func (a *fakeAPI) snapshot() (created, deleted []string, ctxErrs []error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.created...), append([]string(nil), a.deleted...), append([]error(nil), a.deleteCtx...)
}

// socketServer serves tails: behave decides what each connection (by tail id) does after the
// client's hello. It records each handshake's protocol header and first message.
type socketServer struct {
	mu     sync.Mutex
	protos []string
	hellos []string
}

func (s *socketServer) start(t *testing.T, behave func(ctx context.Context, id string, c *websocket.Conn)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.protos = append(s.protos, r.Header.Get("Sec-WebSocket-Protocol"))
		s.mu.Unlock()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Protocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, hello, err := c.Read(r.Context())
		if err != nil {
			return
		}
		s.mu.Lock()
		s.hellos = append(s.hellos, string(hello))
		s.mu.Unlock()
		behave(r.Context(), strings.TrimPrefix(r.URL.Path, "/"), c)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

var fastBackoff = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond}

func TestRunDeliversEventsAndEndsOnClose1000(t *testing.T) {
	var ss socketServer
	api := &fakeAPI{}
	api.base = ss.start(t, func(ctx context.Context, id string, c *websocket.Conn) {
		for i := range 3 {
			_ = c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"outcome":"ok","n":%d}`, i))
		}
		c.Close(websocket.StatusNormalClosure, "done")
	})
	var got []string
	err := Run(context.Background(), api, Options{Backoff: fastBackoff, OnEvent: func(raw []byte) error {
		got = append(got, string(raw))
		return nil
	}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if strings.Join(got, "|") != `{"outcome":"ok","n":0}|{"outcome":"ok","n":1}|{"outcome":"ok","n":2}` {
		t.Errorf("events = %v", got)
	}
	created, deleted, _ := api.snapshot()
	if len(created) != 1 || len(deleted) != 1 || deleted[0] != created[0] {
		t.Errorf("created %v, deleted %v; want one tail, deleted", created, deleted)
	}
	if ss.protos[0] != Protocol || ss.hellos[0] != `{"debug":false}` {
		t.Errorf("handshake protocol %q, first message %q", ss.protos[0], ss.hellos[0])
	}
}

func TestRunReconnectsWithANewTailAndDeletesTheOld(t *testing.T) {
	var ss socketServer
	api := &fakeAPI{}
	api.base = ss.start(t, func(ctx context.Context, id string, c *websocket.Conn) {
		_ = c.Write(ctx, websocket.MessageText, []byte(`{"tail":"`+id+`"}`))
		if id == "t1" {
			c.CloseNow() // dropped: the client must reconnect
			return
		}
		c.Close(websocket.StatusNormalClosure, "")
	})
	var got []string
	var logs []string
	err := Run(context.Background(), api, Options{Backoff: fastBackoff,
		OnEvent: func(raw []byte) error { got = append(got, string(raw)); return nil },
		Logf:    func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	created, deleted, _ := api.snapshot()
	if strings.Join(created, ",") != "t1,t2" || strings.Join(deleted, ",") != "t1,t2" {
		t.Errorf("created %v deleted %v; want t1 then t2, each deleted", created, deleted)
	}
	if strings.Join(got, "") != `{"tail":"t1"}{"tail":"t2"}` || len(logs) != 1 || !strings.Contains(logs[0], "reconnecting") {
		t.Errorf("events %v, logs %v", got, logs)
	}
}

func TestRunGivesUpAfterFiveFailedAttempts(t *testing.T) {
	var ss socketServer
	api := &fakeAPI{failCreate: 100}
	api.base = ss.start(t, func(ctx context.Context, id string, c *websocket.Conn) { c.CloseNow() })
	err := Run(context.Background(), api, Options{Backoff: fastBackoff, OnEvent: func([]byte) error { return nil }})
	if !errors.Is(err, ErrGaveUp) || !strings.Contains(err.Error(), "API down") {
		t.Fatalf("Run = %v, want ErrGaveUp naming the cause", err)
	}
	created, deleted, _ := api.snapshot()
	if len(created) != 1 || len(deleted) != 1 {
		t.Errorf("created %v deleted %v", created, deleted)
	}
}

func TestRunDeletesTheTailWhenCancelled(t *testing.T) {
	var ss socketServer
	api := &fakeAPI{}
	connected := make(chan struct{})
	api.base = ss.start(t, func(ctx context.Context, id string, c *websocket.Conn) {
		close(connected)
		c.CloseRead(ctx)
		<-ctx.Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, api, Options{OnEvent: func([]byte) error { return nil }}) }()
	<-connected
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	_, deleted, ctxErrs := api.snapshot()
	if len(deleted) != 1 || ctxErrs[0] != nil {
		t.Fatalf("deleted %v with context errors %v; want one delete on a live context", deleted, ctxErrs)
	}
}

func TestRunReconnectsWhenPingsGoUnanswered(t *testing.T) {
	var ss socketServer
	api := &fakeAPI{}
	api.base = ss.start(t, func(ctx context.Context, id string, c *websocket.Conn) {
		if id == "t1" {
			<-ctx.Done() // never reads again, so never answers a ping
			return
		}
		c.Close(websocket.StatusNormalClosure, "")
	})
	err := Run(context.Background(), api, Options{Backoff: fastBackoff, PingInterval: 50 * time.Millisecond,
		OnEvent: func([]byte) error { return nil }})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if created, _, _ := api.snapshot(); len(created) != 2 {
		t.Errorf("created %v; want a second tail after the unanswered ping", created)
	}
}
