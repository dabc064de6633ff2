package workerd

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
	"syscall"
	"time"
)

// Name is the worker's name.
func (p *Process) Name() string { return p.name }

// Addr is the loopback host:port workerd serves the worker on.
func (p *Process) Addr() string { return p.addr }

// Pid is workerd's process id (also its process group id).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once workerd has exited, for whatever reason.
func (p *Process) Done() <-chan struct{} { return p.done }

// InFlight reports how many requests are being proxied right now.
func (p *Process) InFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inflight
}

// ServeHTTP proxies r to the worker, keeping the original Host header and
// streaming the answer. A Process that is already shutting down answers 503.
func (p *Process) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.acquire() {
		http.Error(w, "worker version is no longer running", http.StatusServiceUnavailable)
		return
	}
	defer p.release()
	p.proxy.ServeHTTP(w, r)
}

func (p *Process) rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = p.addr
	pr.Out.Host = pr.In.Host
}

func (p *Process) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away; nobody is left to answer
	}
	select {
	case <-p.done:
		p.log.line("workerd is not running; answering 502", false)
	default:
		p.log.line("proxy to workerd: "+err.Error(), false)
	}
	http.Error(w, "worker unavailable", http.StatusBadGateway)
}

// acquire counts a new request in, unless the process is shutting down.
func (p *Process) acquire() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.inflight++
	return true
}

func (p *Process) release() {
	p.mu.Lock()
	p.inflight--
	closeNow := p.retired && p.inflight == 0 && !p.closing
	if closeNow {
		p.closing = true
	}
	p.mu.Unlock()
	if closeNow {
		go p.Close()
	}
}

// Retire closes the process once no request is in flight. The caller should
// already route new requests elsewhere; any that still arrive are served
// while the process runs, or answered 503 once it is closing. Retire does
// not block; Done reports when workerd has exited.
func (p *Process) Retire() {
	p.mu.Lock()
	p.retired = true
	closeNow := p.inflight == 0 && !p.closing
	if closeNow {
		p.closing = true
	}
	p.mu.Unlock()
	if closeNow {
		go p.Close()
	}
}

// Close stops workerd at once (SIGTERM to its process group, SIGKILL after a
// grace period) and waits for it to exit. It is safe to call more than once.
func (p *Process) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closing = true
		p.mu.Unlock()
		p.stop()
		p.tr.CloseIdleConnections()
	})
	return nil
}

func (p *Process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	pid := p.Pid()
	if err := signalGroup(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = p.cmd.Process.Kill()
	}
	grace := time.NewTimer(termGrace)
	defer grace.Stop()
	select {
	case <-p.done:
	case <-grace.C:
		_ = signalGroup(pid, syscall.SIGKILL)
		<-p.done
	}
}

// dialKeepingAnswers wraps dial's connections in answerKeepingConn.
func dialKeepingAnswers(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &answerKeepingConn{Conn: c}, nil
	}
}

// answerKeepingConn hides a failed write of a request body from the proxy's transport. A
// worker may answer before it reads the body (a 413 for a body over its cap) and workerd then
// closes the connection with the body unread, so the kernel resets it. http.Transport gives up
// on the first failed write, even when the worker's answer already sits in the receive buffer,
// and the client got 502 instead of the 413 (about one run in a hundred). Reporting the rest of
// the request as written lets the transport read that answer; when there is none, the read
// fails and the proxy still answers 502. Only a write that follows a successful one of the same
// request is hidden: a request's first write failing means a connection workerd closed while
// idle, which the transport must see to send the request again on a new one.
type answerKeepingConn struct {
	net.Conn
	midRequest atomic.Bool // a write succeeded since the last answer bytes were read
	failed     atomic.Bool // a write failed mid-request: the rest of the request is dropped
}

func (c *answerKeepingConn) Write(b []byte) (int, error) {
	if c.failed.Load() {
		return len(b), nil
	}
	n, err := c.Conn.Write(b)
	switch {
	case err == nil:
		c.midRequest.Store(true)
	case c.midRequest.Load():
		c.failed.Store(true)
		return len(b), nil
	}
	return n, err
}

func (c *answerKeepingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.midRequest.Store(false)
	}
	return n, err
}
