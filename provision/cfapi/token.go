package cfapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// CodeInvalidToken is Cloudflare's error code for a token it does not know ("Invalid API
// Token"). /user/tokens/verify also answers it for an account-owned token, which only its
// account's verify endpoint knows.
const CodeInvalidToken = 1000

// Kinds of API token, as VerifyToken tells them apart.
const (
	UserToken    = "user"    // owned by a user: verified by GET /user/tokens/verify
	AccountToken = "account" // owned by an account: verified by GET /accounts/{id}/tokens/verify
)

// Token statuses the verify endpoints report. Only an active token is accepted by the API.
const (
	TokenActive   = "active"
	TokenDisabled = "disabled"
	TokenExpired  = "expired"
)

// TokenInfo is what Cloudflare says of the client's API token.
type TokenInfo struct {
	ID        string `json:"id"`
	Status    string `json:"status"`               // TokenActive, TokenDisabled or TokenExpired
	ExpiresOn string `json:"expires_on,omitempty"` // RFC 3339, when the token has an end
	NotBefore string `json:"not_before,omitempty"` // RFC 3339, when the token has a start
	// Kind is UserToken or AccountToken: which endpoint knew the token.
	Kind string `json:"kind"`
}

// VerifyToken asks Cloudflare about the client's token: GET /user/tokens/verify, and when that
// answers "Invalid API Token" (what it says of an account-owned token) and accountID is known,
// GET /accounts/{accountID}/tokens/verify. The error of a token neither endpoint accepts is
// the last endpoint's *APIError: code CodeInvalidToken for a token Cloudflare does not know,
// another 401/403 for an account token of another account.
func (c *Client) VerifyToken(ctx context.Context, accountID string) (TokenInfo, error) {
	var info TokenInfo
	err := c.Call(ctx, http.MethodGet, "user/tokens/verify", nil, &info)
	if err == nil {
		info.Kind = UserToken
		return info, nil
	}
	var apiErr *APIError
	if accountID == "" || !errors.As(err, &apiErr) || !rejectsToken(apiErr) {
		return TokenInfo{}, err
	}
	info = TokenInfo{}
	if err := c.Call(ctx, http.MethodGet, "accounts/"+url.PathEscape(accountID)+"/tokens/verify", nil, &info); err != nil {
		return TokenInfo{}, err
	}
	info.Kind = AccountToken
	return info, nil
}

// rejectsToken reports whether a verify endpoint's error is about the token (as opposed to
// the API failing): Invalid API Token, or any 401/403.
func rejectsToken(e *APIError) bool {
	return e.Code == CodeInvalidToken || e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}
