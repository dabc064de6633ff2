package localcf

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// tailProtocol is the only subprotocol a tail socket speaks (wrangler: "must be trace-v1").
const tailProtocol = "trace-v1"

// tailWriteTimeout bounds one event's write: a client that stops reading loses its socket
// rather than holding the session's buffer full forever.
const tailWriteTimeout = 10 * time.Second

// serveTailSocket is the WebSocket of one tail session: GET /<id> with subprotocol trace-v1.
// The client's first text frame ({"debug": false}) starts delivery; pings are answered while
// frames are read; the server sends one JSON event per text message.
func (s *Server) serveTailSocket(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/")
	if !offersProtocol(r, tailProtocol) {
		http.Error(w, "a tail socket speaks only the subprotocol "+tailProtocol+" (Sec-WebSocket-Protocol)", http.StatusBadRequest)
		return
	}
	t := s.tails.get(id, s.opts.now())
	if t == nil {
		http.Error(w, "no such tail (deleted or expired)", http.StatusNotFound)
		return
	}
	if !s.tails.attach(t) {
		http.Error(w, "this tail already has a socket; create another tail", http.StatusConflict)
		return
	}
	defer s.tails.detach(t)
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{tailProtocol}})
	if err != nil {
		return // Accept has answered the client
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 16)
	readErr := make(chan error, 1)
	go s.readTailClient(r.Context(), conn, t, readErr)
	s.deliverTail(r.Context(), conn, t, readErr)
}

// offersProtocol reports whether the handshake's Sec-WebSocket-Protocol lists proto.
func offersProtocol(r *http.Request, proto string) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if strings.TrimSpace(p) == proto {
				return true
			}
		}
	}
	return false
}

// readTailClient reads the client's frames (which also answers its pings). The first must be
// {"debug": bool}; it marks the session ready for events.
func (s *Server) readTailClient(ctx context.Context, conn *websocket.Conn, t *tailSession, errc chan<- error) {
	for first := true; ; first = false {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			errc <- err
			return
		}
		if !first {
			continue // later frames carry nothing the server acts on
		}
		var hello struct {
			Debug *bool `json:"debug"`
		}
		if typ != websocket.MessageText || decodeStrict(data, &hello) != nil || hello.Debug == nil {
			conn.Close(websocket.StatusPolicyViolation, `the first message must be {"debug": false}`)
			errc <- errBadHello
			return
		}
		s.tails.markReady(t)
	}
}

type tailSocketError string

func (e tailSocketError) Error() string { return string(e) }

const errBadHello = tailSocketError("bad first message")

// deliverTail sends the session's events until the tail is deleted (close 1000), the client
// goes away, or the server stops (1001).
func (s *Server) deliverTail(ctx context.Context, conn *websocket.Conn, t *tailSession, readErr <-chan error) {
	for {
		select {
		case ev := <-t.events:
			wctx, cancel := context.WithTimeout(ctx, tailWriteTimeout)
			err := conn.Write(wctx, websocket.MessageText, ev)
			cancel()
			if err != nil {
				return
			}
		case <-t.done:
			conn.Close(websocket.StatusNormalClosure, "tail deleted")
			return
		case <-readErr:
			return
		case <-ctx.Done():
			conn.Close(websocket.StatusGoingAway, "server stopping")
			return
		}
	}
}

// attach marks t as having a socket; false when it already has one.
func (h *tailHub) attach(t *tailSession) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t.connected {
		return false
	}
	t.connected = true
	return true
}

func (h *tailHub) detach(t *tailSession) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t.connected, t.ready = false, false
}

func (h *tailHub) markReady(t *tailSession) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t.ready = t.connected
}

// readySessions are the sessions of a script whose socket takes events.
func (h *tailHub) readySessions(account, script string, now time.Time) []*tailSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropExpired(now)
	var out []*tailSession
	for _, t := range h.sessions {
		if t.account == account && t.script == script && t.ready {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *tailSession) int { return strings.Compare(a.id, b.id) })
	return out
}
