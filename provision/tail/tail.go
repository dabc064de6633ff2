// Package tail streams a worker's live logs the way wrangler tail does: it opens a tail
// session through the API (with the filters, which go in the create call), connects to the
// WebSocket the API names with subprotocol trace-v1, says {"debug": false}, pings every 10 s,
// and hands each event (one JSON document per message) to the caller. A lost connection is
// replaced by a new tail (the old one deleted), with backoff 1, 2, 4, 8 and 16 s and at most 5
// attempts in a row. The tail is always deleted when Run returns, cancellation included.
package tail

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/coder/websocket"

	"github.com/flareform/flareform/provision/cfapi"
)

// Protocol is the WebSocket subprotocol of tail sessions.
const Protocol = "trace-v1"

// Defaults, as wrangler tail has them.
const (
	DefaultPingInterval  = 10 * time.Second
	DefaultDeleteTimeout = 5 * time.Second
	// maxEventBytes bounds one event (an invocation's console output included).
	maxEventBytes = 16 << 20
)

// DefaultBackoff is the wait before each reconnect attempt; its length is the attempt limit.
var DefaultBackoff = []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}

// API is what a tail needs of the Cloudflare API; cfapi.Script has it.
type API interface {
	CreateTail(ctx context.Context, filters []cfapi.TailFilter) (*cfapi.Tail, error)
	DeleteTail(ctx context.Context, id string) error
}

// Options configure Run. Zero values take the defaults above.
type Options struct {
	Filters []cfapi.TailFilter
	// OnEvent receives each event as the socket sent it; an error ends Run with that error.
	OnEvent func(raw []byte) error
	// Logf receives news about the connection (lost, reconnecting); nil = none.
	Logf          func(format string, args ...any)
	UserAgent     string
	PingInterval  time.Duration
	Backoff       []time.Duration
	DeleteTimeout time.Duration
}

func (o *Options) applyDefaults() {
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.DeleteTimeout <= 0 {
		o.DeleteTimeout = DefaultDeleteTimeout
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// ErrGaveUp is wrapped by Run's error when every reconnect attempt failed.
var ErrGaveUp = errors.New("gave up reconnecting")

// Run streams events until ctx ends (nil), the server ends the session with close code 1000
// (nil), OnEvent fails, the first tail cannot be created, or reconnecting fails
// len(Backoff) times in a row (ErrGaveUp).
func Run(ctx context.Context, api API, opts Options) error {
	opts.applyDefaults()
	failures := 0
	for first := true; ; first = false {
		res := session(ctx, api, opts)
		switch {
		case ctx.Err() != nil:
			return nil
		case res.fatal != nil:
			return res.fatal
		case res.createErr != nil && first:
			return fmt.Errorf("create tail: %w", res.createErr)
		case res.cleanClose:
			return nil
		}
		if res.connected {
			failures = 0 // a connection that opened starts a new series of attempts
		}
		if failures >= len(opts.Backoff) {
			return fmt.Errorf("tail connection lost (%v); %w after %d attempts", res.lostBecause(), ErrGaveUp, failures)
		}
		wait := opts.Backoff[failures]
		failures++
		opts.Logf("tail connection lost (%v); reconnecting in %s (attempt %d of %d)", res.lostBecause(), wait, failures, len(opts.Backoff))
		if !sleep(ctx, wait) {
			return nil
		}
	}
}

// sessionResult is how one tail session ended.
type sessionResult struct {
	createErr  error // the tail could not be created
	connected  bool  // the socket opened
	cleanClose bool  // the server closed it with 1000
	lost       error // why the connection ended otherwise
	fatal      error // OnEvent failed: stop
}

func (r sessionResult) lostBecause() error {
	if r.createErr != nil {
		return fmt.Errorf("create tail: %w", r.createErr)
	}
	return r.lost
}

// session creates one tail, streams it until it ends, and deletes it.
func session(ctx context.Context, api API, opts Options) sessionResult {
	t, err := api.CreateTail(ctx, opts.Filters)
	if err != nil {
		return sessionResult{createErr: err}
	}
	defer deleteTail(ctx, api, t.ID, opts)
	return stream(ctx, t.URL, opts)
}

// deleteTail deletes the tail with a context of its own: the command's may be cancelled by
// now (Ctrl-C), and a tail left behind takes one of the worker's 10 slots until it expires.
func deleteTail(ctx context.Context, api API, id string, opts Options) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.DeleteTimeout)
	defer cancel()
	if err := api.DeleteTail(dctx, id); err != nil && !cfapi.IsNotFound(err) {
		opts.Logf("could not delete tail %s (%v); it expires on its own", id, err)
	}
}

// stream connects to the tail's socket and reads events until the connection ends.
func stream(ctx context.Context, wsURL string, opts Options) sessionResult {
	if err := checkSocketURL(wsURL); err != nil {
		return sessionResult{lost: err}
	}
	hdr := http.Header{"Sec-WebSocket-Protocol": {Protocol}}
	if opts.UserAgent != "" {
		hdr.Set("User-Agent", opts.UserAgent)
	}
	conn, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{Protocol}, HTTPHeader: hdr})
	if err != nil {
		return sessionResult{lost: fmt.Errorf("connect: %w", err)}
	}
	defer conn.CloseNow()
	conn.SetReadLimit(maxEventBytes)
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"debug":false}`)); err != nil {
		return sessionResult{connected: true, lost: fmt.Errorf("send the first message: %w", err)}
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go keepAlive(sctx, conn, opts.PingInterval)
	return readEvents(sctx, conn, opts)
}

// checkSocketURL accepts only WebSocket URLs: the URL comes from the API's answer.
func checkSocketURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "wss" && u.Scheme != "ws") || u.Host == "" {
		return fmt.Errorf("the API answered a tail URL that is not a WebSocket URL")
	}
	return nil
}

// keepAlive pings every interval; a ping without a pong before the next tick drops the
// connection, which the read loop then reports as lost.
func keepAlive(ctx context.Context, conn *websocket.Conn, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			pctx, cancel := context.WithTimeout(ctx, interval)
			err := conn.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				conn.CloseNow()
				return
			}
		}
	}
}

// readEvents hands every text message to OnEvent until the connection ends.
func readEvents(ctx context.Context, conn *websocket.Conn, opts Options) sessionResult {
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				return sessionResult{connected: true, cleanClose: true}
			}
			return sessionResult{connected: true, lost: err}
		}
		if typ != websocket.MessageText {
			continue
		}
		if err := opts.OnEvent(data); err != nil {
			return sessionResult{connected: true, fatal: err}
		}
	}
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
