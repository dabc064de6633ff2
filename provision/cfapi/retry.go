package cfapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/flareform/flareform/internal/textwait"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/option"
)

const (
	retryBaseDelay = 500 * time.Millisecond
	retryMaxDelay  = 10 * time.Second
)

// retrier retries API calls that failed for reasons worth waiting out: 429, 5xx and network
// errors that may pass (a dropped connection, a timeout). An API that cannot be reached at all
// (a refused connection, an unknown host, no route) fails at once: waiting does not fix a wrong
// CLOUDFLARE_API_BASE_URL or a machine without network. It is an SDK middleware, so every call
// of the Client goes through it.
type retrier struct {
	maxRetries    int
	maxRetryAfter time.Duration
	logf          func(format string, args ...any)

	// logged holds the failures a retry line was printed for: a failure that hits many calls
	// at once (an API answering 503 to every read) is told once, not once per call and attempt.
	logMu  sync.Mutex
	logged map[string]bool
}

// RetryError is returned when an API call kept failing with a retryable error.
type RetryError struct {
	Attempts int
	Last     error // *APIError for HTTP failures, the transport error otherwise
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("giving up after %d attempts: %v", e.Attempts, e.Last)
}

func (e *RetryError) Unwrap() error { return e.Last }

func (r *retrier) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 1; ; attempt++ {
		attemptReq, err := rewind(req, attempt)
		if err != nil {
			return nil, err
		}
		res, err := next(attemptReq)
		if !retryable(ctx, res, err) {
			return res, err
		}
		failure, retryAfter := describeFailure(res, err)
		if attempt > r.maxRetries {
			return nil, &RetryError{Attempts: attempt, Last: failure}
		}
		if retryAfter > r.maxRetryAfter {
			return nil, fmt.Errorf("%w; the API asks to wait %s, longer than the %s this tool waits, try again later",
				failure, retryAfter.Round(time.Second), r.maxRetryAfter)
		}
		delay := retryDelay(attempt, retryAfter)
		if r.firstTime(failure) {
			r.logf("  %s %s: %v; retrying in %s", req.Method, req.URL.Path, failure, delay.Round(10*time.Millisecond))
		}
		if err := textwait.Sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("%w (while waiting to retry after: %v)", err, failure)
		}
	}
}

// firstTime reports whether no retry line was printed yet for failure.
func (r *retrier) firstTime(failure error) bool {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	if r.logged == nil {
		r.logged = map[string]bool{}
	}
	msg := failure.Error()
	if r.logged[msg] {
		return false
	}
	r.logged[msg] = true
	return true
}

// rewind gives the request for an attempt; retries need a fresh copy of the body.
func rewind(req *http.Request, attempt int) (*http.Request, error) {
	if attempt == 1 || req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	if req.GetBody == nil {
		return nil, errors.New("cannot retry: request body cannot be replayed")
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("replay request body: %w", err)
	}
	clone := req.Clone(req.Context())
	clone.Body = body
	return clone, nil
}

func retryable(ctx context.Context, res *http.Response, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !Unreachable(err)
	}
	return res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500
}

// Unreachable reports whether err says the API cannot be reached at all, so that retrying is
// pointless: the connection was refused, the host name does not resolve, there is no route to
// it, or connecting timed out (Cloudflare's edge answers a connect in milliseconds; a connect
// that takes seconds is a network that drops the packets).
func Unreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && !dnsErr.IsTimeout {
		return true // no such host, or a resolver that answers with an error; a timeout may pass
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial" && opErr.Timeout()
}

// describeFailure turns a failed attempt into an error and the wait the server asked for. It
// consumes and closes the response body.
func describeFailure(res *http.Response, err error) (error, time.Duration) {
	if err != nil {
		// The caller names the step; the URL (account id and all) only makes the line long.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			return fmt.Errorf("network error: %w", urlErr.Err), 0
		}
		return err, 0
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
	return newAPIError(res.StatusCode, body), parseRetryAfter(res.Header, time.Now())
}

// retryDelay is exponential backoff with jitter, never shorter than what Retry-After asked for.
// Jitter spreads out concurrent workers that were throttled at the same moment.
func retryDelay(attempt int, retryAfter time.Duration) time.Duration {
	backoff := retryBaseDelay << (attempt - 1)
	if backoff > retryMaxDelay || backoff <= 0 {
		backoff = retryMaxDelay
	}
	if retryAfter > 0 {
		// The server knows best; add up to a quarter second so retries do not arrive together.
		return retryAfter + rand.N(250*time.Millisecond)
	}
	// "Equal jitter": half fixed, half random.
	return backoff/2 + rand.N(backoff/2+1)
}

// parseRetryAfter reads Retry-After-Ms, then Retry-After as seconds or an HTTP date.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// APIError is a failed Cloudflare API call, reduced to what a person needs to act on it.
type APIError struct {
	Status  int
	Code    int    // first error code of the envelope; 0 when the body had none
	Message string // first error message, or the start of a body that was not an envelope
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = strings.ToLower(http.StatusText(e.Status))
	}
	if e.Code != 0 {
		return fmt.Sprintf("%d %s (code %d)", e.Status, msg, e.Code)
	}
	return fmt.Sprintf("%d %s", e.Status, msg)
}

// newAPIError parses a Cloudflare error body. It copes with the envelope, the `{"error": ...}`
// shape some endpoints use, and bodies that are not JSON at all (e.g. a WAF page).
func newAPIError(status int, body []byte) *APIError {
	var env struct {
		Errors []struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
		Error string `json:"error"`
	}
	e := &APIError{Status: status}
	if json.Unmarshal(body, &env) == nil {
		switch {
		case len(env.Errors) > 0:
			e.Code, e.Message = env.Errors[0].Code, env.Errors[0].Message
			return e
		case env.Error != "":
			e.Message = env.Error
			return e
		}
	}
	e.Message = htmlTitle(body)
	if e.Message == "" {
		e.Message = textwait.Snippet(body, 120)
	}
	return e
}

// htmlTitle is the <title> of an HTML error page (Cloudflare's edge answers 5xx that way).
func htmlTitle(body []byte) string {
	lower := bytes.ToLower(body)
	start := bytes.Index(lower, []byte("<title>"))
	if start < 0 {
		return ""
	}
	start += len("<title>")
	end := bytes.Index(lower[start:], []byte("</title>"))
	if end < 0 {
		return ""
	}
	return "HTML error page: " + textwait.Snippet(body[start:start+end], 120)
}
