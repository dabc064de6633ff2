package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"syscall"

	"github.com/flareform/flareform/provision/cfapi"
)

// TokenInfo is what Cloudflare says of the API token (cfapi.TokenInfo): its id, status, dates
// and whether it is a user or an account token.
type TokenInfo = cfapi.TokenInfo

// tokenDashboard is where API tokens are made, rolled and enabled.
const tokenDashboard = "https://dash.cloudflare.com/profile/api-tokens"

// Reasons a TokenError gives.
const (
	TokenInvalid      = "invalid"       // Cloudflare does not know the token
	TokenNotActive    = "not active"    // disabled or expired (TokenError.Status says which)
	TokenOtherAccount = "other account" // an account token that is not the account's
)

// TokenError says the API token cannot be used, in plain words and with the fix: Cloudflare
// does not know it, it is disabled or expired, or it belongs to another account.
type TokenError struct {
	Reason    string // TokenInvalid, TokenNotActive or TokenOtherAccount
	Status    string // the token's status, for TokenNotActive
	ExpiresOn string // when an expired token ended, if Cloudflare said
	AccountID string // the account the run is for
	// API is Cloudflare's answer the reason comes from (nil for a status).
	API *APIError
}

func (e *TokenError) Error() string {
	switch e.Reason {
	case TokenNotActive:
		when := ""
		if e.Status == cfapi.TokenExpired && e.ExpiresOn != "" {
			when = " on " + e.ExpiresOn
		}
		return fmt.Sprintf("the API token in CLOUDFLARE_API_TOKEN is %s%s; enable or roll it at %s, or create a new one "+
			"(Workers Scripts:Edit, Workers AI:Read) and export CLOUDFLARE_API_TOKEN=<token>", e.Status, when, tokenDashboard)
	case TokenOtherAccount:
		return fmt.Sprintf("the API token in CLOUDFLARE_API_TOKEN is not valid for account %s (set by the spec's account_id or "+
			"CLOUDFLARE_ACCOUNT_ID): it is another account's token. Use a token of account %s, or fix the account id",
			e.AccountID, e.AccountID)
	}
	msg := fmt.Sprintf("Cloudflare does not accept the API token in CLOUDFLARE_API_TOKEN (Invalid API Token): it was deleted, "+
		"rolled or mistyped. Create one at %s (Workers Scripts:Edit, Workers AI:Read) and export CLOUDFLARE_API_TOKEN=<token>",
		tokenDashboard)
	if e.AccountID == "" {
		msg += "; an account API token is only verified with its account: set CLOUDFLARE_ACCOUNT_ID or the spec's account_id"
	}
	return msg
}

func (e *TokenError) Unwrap() error {
	if e.API == nil {
		return nil
	}
	return e.API
}

// UnreachableError says the API could not be reached at all: the connection was refused, the
// host name does not resolve, or the network drops the packets. Retrying does not help.
type UnreachableError struct {
	BaseURL string
	Err     error
}

func (e *UnreachableError) Error() string {
	fix := "check the network connection"
	if e.BaseURL != DefaultAPIBaseURL {
		fix = "check CLOUDFLARE_API_BASE_URL, which points flareform there, and the network connection"
	}
	return fmt.Sprintf("cannot reach the Cloudflare API at %s (%s); %s", e.BaseURL, unreachableCause(e.Err), fix)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// unreachableCause is why a connection failed, in a few words.
func unreachableCause(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to the host"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("unknown host %s", dnsErr.Name)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Timeout() {
		return "connecting timed out"
	}
	return err.Error()
}

// Unreachable is err as an *UnreachableError when it says the API cannot be reached at all
// (cfapi.Unreachable), else nil.
func (e *Engine) Unreachable(err error) *UnreachableError {
	if err == nil || !cfapi.Unreachable(err) {
		return nil
	}
	var u *UnreachableError
	if errors.As(err, &u) {
		return u
	}
	return &UnreachableError{BaseURL: e.cfg.APIBaseURL, Err: err}
}

// VerifyToken asks Cloudflare about the API token, for the spec's account (specAccount, else
// the configured one): GET /user/tokens/verify, and for an account token the account's
// GET /accounts/{id}/tokens/verify. A token the API will not accept is a *TokenError; an API it
// cannot reach an *UnreachableError; other failures (an API that kept answering 5xx) pass
// through.
func (e *Engine) VerifyToken(ctx context.Context, specAccount string) (TokenInfo, error) {
	accountID, _ := e.accountID(specAccount)
	info, err := e.api.VerifyToken(ctx, accountID)
	if err != nil {
		if u := e.Unreachable(err); u != nil {
			return TokenInfo{}, u
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) && (apiErr.Code == cfapi.CodeInvalidToken || apiErr.Status == http.StatusUnauthorized || apiErr.Status == http.StatusForbidden) {
			reason := TokenInvalid
			if apiErr.Code != cfapi.CodeInvalidToken && accountID != "" {
				reason = TokenOtherAccount // the account's endpoint knew the token, not for this account
			}
			return TokenInfo{}, &TokenError{Reason: reason, AccountID: accountID, API: apiErr}
		}
		return TokenInfo{}, fmt.Errorf("verify the API token: %w", err)
	}
	if info.Status != cfapi.TokenActive {
		return info, &TokenError{Reason: TokenNotActive, Status: info.Status, ExpiresOn: info.ExpiresOn, AccountID: accountID}
	}
	return info, nil
}

// AccountName reads the account's name (GET /accounts/{id}); an error says the token cannot
// read the account.
func (e *Engine) AccountName(ctx context.Context, accountID string) (string, error) {
	var acct struct {
		Name string `json:"name"`
	}
	if err := e.api.Call(ctx, http.MethodGet, "accounts/"+url.PathEscape(accountID), nil, &acct); err != nil {
		if u := e.Unreachable(err); u != nil {
			return "", u
		}
		return "", err
	}
	return acct.Name, nil
}

// WorkersAccess reports whether the token reaches the account's Workers: GET
// …/workers/subdomain answers, with the subdomain or with "none registered" (nil); a 401/403
// (the token cannot) or another failure is the error.
func (e *Engine) WorkersAccess(ctx context.Context, accountID string) error {
	_, err := e.api.Account(accountID).Subdomain(ctx)
	if err == nil || cfapi.IsNotFound(err) {
		return nil
	}
	if u := e.Unreachable(err); u != nil {
		return u
	}
	return err
}

// TokenCheck is a check of the API token that runs alongside a command's first reads
// (StartTokenCheck): it costs no round trip of its own, and when those reads fail, it says
// whether the token or the API's address is why.
type TokenCheck struct {
	done   chan struct{}
	cancel context.CancelFunc
	info   TokenInfo
	err    error
}

// StartTokenCheck starts VerifyToken for specAccount in the background and returns at once.
// Stop it (or Wait for it) before the engine is closed.
func (e *Engine) StartTokenCheck(ctx context.Context, specAccount string) *TokenCheck {
	ctx, cancel := context.WithCancel(ctx)
	c := &TokenCheck{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(c.done)
		c.info, c.err = e.VerifyToken(ctx, specAccount)
	}()
	return c
}

// Wait waits for the check and returns its answer (see VerifyToken).
func (c *TokenCheck) Wait() (TokenInfo, error) {
	<-c.done
	return c.info, c.err
}

// Accepted waits for the check and reports whether Cloudflare accepted the token (active);
// false for a nil check.
func (c *TokenCheck) Accepted() bool {
	if c == nil {
		return false
	}
	_, err := c.Wait()
	return err == nil
}

// Stop cancels the check if it still runs, and waits for it to end.
func (c *TokenCheck) Stop() {
	if c == nil {
		return
	}
	c.cancel()
	<-c.done
}

// Finding is what the check found when err, a failure of a command's reads or writes, came
// from the API (an HTTP error or a network failure) and the check found the token unusable
// (*TokenError) or the API unreachable (*UnreachableError): that is the cause to act on, in
// plain words, and it replaces err. It is nil otherwise; for an err that did not come from the
// API it does not wait for the check.
func (c *TokenCheck) Finding(err error) error {
	if c == nil || err == nil || !fromAPI(err) {
		return nil
	}
	_, cerr := c.Wait()
	var tokenErr *TokenError
	var unreachable *UnreachableError
	if errors.As(cerr, &tokenErr) || errors.As(cerr, &unreachable) {
		return cerr
	}
	return nil
}

// fromAPI reports whether err came from talking to the API: an HTTP error answer, calls that
// kept failing, or a network failure.
func fromAPI(err error) bool {
	var apiErr *APIError
	var retryErr *cfapi.RetryError
	var urlErr *url.Error
	var netErr net.Error
	return errors.As(err, &apiErr) || errors.As(err, &retryErr) || errors.As(err, &urlErr) || errors.As(err, &netErr) ||
		cfapi.Unreachable(err)
}
