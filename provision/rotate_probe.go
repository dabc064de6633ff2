package provision

import (
	"context"
	"fmt"
	"github.com/flareform/flareform/internal/textwait"
	"net/http"
	"time"

	"github.com/flareform/flareform/provision/spec"
)

// defaultProbePrompt is sent when the spec has no smoke prompt.
const defaultProbePrompt = "flareform key check"

// keyProbe sends the worker's smoke request with a given key over workers.dev.
type keyProbe struct {
	e            *Engine
	target, host string
	req          smokeReq
	okStatus     int // answer to an accepted key
	deniedStatus int // answer to a rejected key
	// rateLimited: the worker limits each key (rate_limit), after checking it.
	rateLimited bool
}

// newKeyProbe finds the worker's workers.dev address. Rotation is only done when it can be
// verified, so a worker without workers.dev fails here, before anything changes.
func (e *Engine) newKeyProbe(ctx context.Context, accountID, name string, sm *spec.Smoke) (*keyProbe, error) {
	subdomain, err := e.accountSubdomain(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if subdomain == "" {
		return nil, fmt.Errorf("the account has no workers.dev subdomain, so the keys cannot be verified")
	}
	enabled, err := e.api.Script(accountID, name).WorkersDev(ctx)
	if err != nil {
		return nil, fmt.Errorf("read workers.dev state: %w", err)
	}
	if !enabled {
		return nil, fmt.Errorf("workers.dev is off for %s, so the keys cannot be verified; set `workers_dev: true` and apply", name)
	}
	s := withSmokeDefaults(spec.Smoke{})
	if sm != nil {
		s = withSmokeDefaults(*sm)
	}
	if s.Prompt == "" {
		s.Prompt = defaultProbePrompt
	}
	host := name + "." + subdomain + ".workers.dev"
	target, err := e.smokeTarget(ctx, host, s.Path)
	if err != nil {
		return nil, err
	}
	req, err := smokeRequestBody(s)
	if err != nil {
		return nil, fmt.Errorf("probe body: %w", err)
	}
	return &keyProbe{e: e, target: target, host: host, req: req, okStatus: s.Status, deniedStatus: s.UnauthorizedStatus}, nil
}

// acceptedAtLimit reports whether res shows an accepted key that is over its rate limit. A
// worker with rate_limit checks the key first (401) and counts per key after (429 with
// Retry-After), so a 429 means the key was accepted. A rotation must not fail, and the new
// key must not stay unhanded, because the old key's callers are busy: waiting for the window
// to end would take up to a minute and the callers would use it up again.
func (p *keyProbe) acceptedAtLimit(res *smokeResponse, want int) bool {
	return p.rateLimited && want == p.okStatus && res.status == http.StatusTooManyRequests && res.retryAfter != ""
}

// expect sends the request with key until the worker answers want or Config.SmokeWait runs
// out: a change takes a moment to reach the edge. The key only goes into the header.
func (p *keyProbe) expect(ctx context.Context, name, key string, want int) KeyCheck {
	c := KeyCheck{Name: name}
	deadline := time.Now().Add(p.e.cfg.SmokeWait)
	for attempt := 1; ; attempt++ {
		req := p.req
		req.key = key
		res, err := p.e.smokeOnce(ctx, req, p.target, p.host)
		if err == nil {
			c.Status = res.status
			if p.acceptedAtLimit(res, want) {
				c.Passed = true
				c.Detail = "rate limited (429, Retry-After " + res.retryAfter + "): the key was accepted and its callers are at the worker's rate_limit"
				return c
			}
			if res.status == want {
				c.Passed = true
				c.Detail = ""
				return c
			}
			c.Detail = fmt.Sprintf("status %d, want %d; body starts %q", res.status, want, textwait.Snippet(res.body, 80))
		} else {
			c.Detail = err.Error()
		}
		delay := min(100*time.Millisecond<<min(attempt-1, 4), time.Second)
		if time.Now().Add(delay).After(deadline) {
			c.Detail += fmt.Sprintf(" (after %d attempts in %s)", attempt, p.e.cfg.SmokeWait)
			return c
		}
		if err := textwait.Sleep(ctx, delay); err != nil {
			c.Detail += "; " + err.Error()
			return c
		}
	}
}

// acceptsNow checks, with one request, that the worker as it is takes key: its guard checks the
// key first, so any answer but the refusal (the unauthorised status), a 404 or 405 (refused
// before the key was looked at), a 429 of a worker without a per-key limit, or a 5xx means the
// key passed, even when the request's body does not suit the code now serving (a 400).
func (p *keyProbe) acceptsNow(ctx context.Context, name, key string) KeyCheck {
	c := KeyCheck{Name: name}
	req := p.req
	req.key = key
	res, err := p.e.smokeOnce(ctx, req, p.target, p.host)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	c.Status = res.status
	switch {
	case res.status == p.deniedStatus, res.status == http.StatusNotFound, res.status == http.StatusMethodNotAllowed,
		res.status == http.StatusTooManyRequests && !p.rateLimited, res.status >= 500:
		c.Detail = fmt.Sprintf("status %d; body starts %q", res.status, textwait.Snippet(res.body, 80))
	default:
		c.Passed = true
	}
	return c
}
