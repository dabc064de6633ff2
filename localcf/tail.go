package localcf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Tails (cloudflare-operations.md §2): POST …/workers/scripts/{script}/tails opens a tail
// session with its filters and answers the URL of its WebSocket, GET lists the open ones,
// DELETE ends one (its socket closes with 1000). Events come from the runtime: the tail worker
// in every workerd process (workerd/tail.go) posts each invocation's trace events to the
// binding backend (tail_events.go), which filters them per session and sends them down the
// sockets. The sockets are served on a listener of their own, started with the first tail,
// as Cloudflare serves them on a host other than the API's.

// Tail limits. maxTailsPerScript is Cloudflare's documented 10 clients per Worker;
// tailLifetime (expires_at) and tailBuffer are UNCONFIRMED: events a socket cannot take in
// time are dropped, as a sampled tail drops them.
const (
	maxTailsPerScript = 10
	tailLifetime      = 6 * time.Hour
	tailBuffer        = 256
	codeTooManyTails  = 10058 // UNCONFIRMED: the API's code for an 11th tail is not documented
	codeTailNotFound  = 10059 // UNCONFIRMED
)

// tailHub holds the open tail sessions; its zero value is ready to use.
type tailHub struct {
	mu       sync.Mutex
	sessions map[string]*tailSession // by id
	wsBase   string                  // ws://host:port of the socket listener, once started
}

// tailSession is one tail: who may see its events, and the socket that takes them.
type tailSession struct {
	id, account, script string
	url                 string
	expires             time.Time
	filters             []tailFilter
	creatorIP           string // what a client_ip filter's "self" means

	events    chan []byte   // filtered events for the socket
	done      chan struct{} // closed when the tail is deleted
	closeOnce sync.Once
	connected bool // a socket is attached (one at a time); guarded by tailHub.mu
	ready     bool // the socket's client sent its {"debug": …} frame; guarded by tailHub.mu
}

// tailInfo is a tail as the API reports it.
type tailInfo struct {
	ID        string `json:"id"`
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
}

func (t *tailSession) info() tailInfo {
	return tailInfo{ID: t.id, URL: t.url, ExpiresAt: t.expires.UTC().Format(time.RFC3339Nano)}
}

// end closes the session's socket (with 1000) and stops its delivery.
func (t *tailSession) end() { t.closeOnce.Do(func() { close(t.done) }) }

func errTailNotFound(id string) *apiError {
	return newAPIError(http.StatusNotFound, codeTailNotFound, "Tail %s not found", id)
}

// createTail is POST …/tails with {"filters": [...]}.
func (s *Server) createTail(c *call) *apiError {
	var body struct {
		Filters *[]tailFilter `json:"filters"`
	}
	if apiErr := readJSONBody(c.r, &body); apiErr != nil {
		return apiErr
	}
	if body.Filters == nil {
		return errValidation("filters: required (an empty list for none)")
	}
	if apiErr := checkTailFilters(*body.Filters); apiErr != nil {
		return apiErr
	}
	script := c.param("script")
	if apiErr := s.checkScriptExists(c.accountID, script); apiErr != nil {
		return apiErr
	}
	base, err := s.tailSocketBase()
	if err != nil {
		return errInternal(err)
	}
	t := &tailSession{id: randomHex(16), account: c.accountID, script: script, filters: *body.Filters,
		expires: s.opts.now().Add(tailLifetime), creatorIP: remoteIP(c.r.RemoteAddr),
		events: make(chan []byte, tailBuffer), done: make(chan struct{})}
	t.url = base + "/" + t.id
	if apiErr := s.tails.add(t, s.opts.now()); apiErr != nil {
		return apiErr
	}
	writeResult(c.w, t.info())
	return nil
}

func (s *Server) checkScriptExists(account, script string) *apiError {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, apiErr := s.lookupScript(account, script)
	return apiErr
}

// listTails is GET …/tails: the script's tails that have not expired.
func (s *Server) listTails(c *call) *apiError {
	if apiErr := s.checkScriptExists(c.accountID, c.param("script")); apiErr != nil {
		return apiErr
	}
	out := []tailInfo{}
	for _, t := range s.tails.of(c.accountID, c.param("script"), s.opts.now()) {
		out = append(out, t.info())
	}
	writeResult(c.w, out)
	return nil
}

// deleteTail is DELETE …/tails/{id}.
func (s *Server) deleteTail(c *call) *apiError {
	id := c.param("tail")
	t := s.tails.remove(c.accountID, c.param("script"), id)
	if t == nil {
		return errTailNotFound(id)
	}
	t.end()
	writeResult(c.w, nil)
	return nil
}

// add registers t unless its script already has maxTailsPerScript open tails.
func (h *tailHub) add(t *tailSession, now time.Time) *apiError {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropExpired(now)
	n := 0
	for _, o := range h.sessions {
		if o.account == t.account && o.script == t.script {
			n++
		}
	}
	if n >= maxTailsPerScript {
		return newAPIError(http.StatusTooManyRequests, codeTooManyTails,
			"Too many tails: a Worker can have at most %d tail sessions at a time; delete one first", maxTailsPerScript)
	}
	if h.sessions == nil {
		h.sessions = map[string]*tailSession{}
	}
	h.sessions[t.id] = t
	return nil
}

// dropExpired ends the sessions past expires_at; the caller holds mu.
func (h *tailHub) dropExpired(now time.Time) {
	for id, t := range h.sessions {
		if !now.Before(t.expires) {
			delete(h.sessions, id)
			t.end()
		}
	}
}

// of lists the open sessions of a script.
func (h *tailHub) of(account, script string, now time.Time) []*tailSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropExpired(now)
	var out []*tailSession
	for _, t := range h.sessions {
		if t.account == account && t.script == script {
			out = append(out, t)
		}
	}
	return out
}

// remove unregisters the session id of a script; nil when there is none.
func (h *tailHub) remove(account, script, id string) *tailSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.sessions[id]
	if t == nil || t.account != account || t.script != script {
		return nil
	}
	delete(h.sessions, id)
	return t
}

// get returns the open session id.
func (h *tailHub) get(id string, now time.Time) *tailSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropExpired(now)
	return h.sessions[id]
}

// tailSocketBase starts the socket listener on first use, on the API's host, and returns its
// ws:// base URL. It stops when the server does.
func (s *Server) tailSocketBase() (string, error) {
	s.tails.mu.Lock()
	defer s.tails.mu.Unlock()
	if s.tails.wsBase != "" {
		return s.tails.wsBase, nil
	}
	host, _, err := net.SplitHostPort(s.apiLn.Addr().String())
	if err != nil {
		return "", fmt.Errorf("tail listener: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("listen for tail sockets: %w", err)
	}
	srv := &http.Server{Handler: guardHost(s.apiHostAllowed, apiListener, http.HandlerFunc(s.serveTailSocket)),
		ReadHeaderTimeout: headerReadTimeout, BaseContext: func(net.Listener) context.Context { return s.ctx }}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(s.opts.Log, "localcf: serve tail sockets: %v\n", err)
		}
	}()
	go func() {
		<-s.ctx.Done()
		srv.Close()
	}()
	s.tails.wsBase = "ws://" + ln.Addr().String()
	return s.tails.wsBase, nil
}

// remoteIP is the address part of a RemoteAddr.
func remoteIP(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}
