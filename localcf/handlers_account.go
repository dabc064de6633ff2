package localcf

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/flareform/flareform/internal/lazyre"
)

func errInvalidToken() *apiError {
	return newAPIError(http.StatusUnauthorized, codeInvalidToken, "Invalid API Token")
}

// tokenResult is the verify endpoints' result: {id, status, expires_on?} (cf-go
// user/token.go, accounts/token.go).
func (s *Server) tokenResult(rec *tokenRecord) map[string]any {
	res := map[string]any{"id": rec.ID, "status": rec.status(s.opts.now())}
	if rec.ExpiresOn != nil {
		res["expires_on"] = rec.ExpiresOn.Format(time.RFC3339)
	}
	return res
}

// writeVerified answers a verify endpoint for a token it knows. Cloudflare's message 10000
// comes with an active token only.
func writeVerified(w http.ResponseWriter, result map[string]any) {
	messages := []apiMessage{}
	if result["status"] == "active" {
		messages = append(messages, apiMessage{Code: 10000, Message: "This API Token is valid and active"})
	}
	writeJSON(w, http.StatusOK, envelope{Success: true, Errors: []apiMessage{}, Messages: messages, Result: result})
}

// verifyUserToken answers GET /user/tokens/verify: the account's own token and user-owned
// tokens (AddToken) verify here, whatever their status; account-owned tokens are unknown to
// it, as on Cloudflare (401, code 1000, which wrangler reads as "an account token").
func (s *Server) verifyUserToken(c *call) *apiError {
	_, rec := s.lookupToken(c.token)
	if rec == nil || rec.AccountOwned {
		return errInvalidToken()
	}
	writeVerified(c.w, s.tokenResult(rec))
	return nil
}

// verifyAccountToken answers GET /accounts/{id}/tokens/verify: any token of that account,
// whatever its status; an unknown token is 401/1000, another account's 403/10000.
func (s *Server) verifyAccountToken(c *call) *apiError {
	acct, rec := s.lookupToken(c.token)
	switch {
	case rec == nil:
		return errInvalidToken()
	case acct != c.accountID:
		return errAuth()
	}
	writeVerified(c.w, s.tokenResult(rec))
	return nil
}

func (s *Server) accountObject(a *account) map[string]any {
	return map[string]any{
		"id": a.ID, "name": a.Name, "type": "standard", "created_on": a.CreatedOn.Format(time.RFC3339),
		"settings": map[string]any{"enforce_twofactor": false, "api_access_enabled": nil, "abuse_contact_email": nil},
	}
}

func (s *Server) listAccounts(c *call) *apiError {
	acct := s.accountForToken(c.token)
	s.mu.RLock()
	list := []any{s.accountObject(s.st.Accounts[acct])}
	s.mu.RUnlock()
	page, perPage := pageParams(c.r, 20)
	writeResultInfo(c.w, list, pageInfo{Page: page, PerPage: perPage, Count: 1, TotalCount: 1, TotalPages: 1})
	return nil
}

func (s *Server) getAccount(c *call) *apiError {
	s.mu.RLock()
	obj := s.accountObject(s.st.Accounts[c.accountID])
	s.mu.RUnlock()
	writeResult(c.w, obj)
	return nil
}

func (s *Server) listMemberships(c *call) *apiError {
	acct := s.accountForToken(c.token)
	s.mu.RLock()
	a := s.st.Accounts[acct]
	m := map[string]any{
		"id": a.Token.ID, "status": "accepted", "roles": []string{"Administrator"},
		"account":     map[string]any{"id": a.ID, "name": a.Name},
		"permissions": map[string]any{},
	}
	s.mu.RUnlock()
	page, perPage := pageParams(c.r, 20)
	writeResultInfo(c.w, []any{m}, pageInfo{Page: page, PerPage: perPage, Count: 1, TotalCount: 1, TotalPages: 1})
	return nil
}

// pageParams reads page and per_page with Cloudflare's defaults.
func pageParams(r *http.Request, defaultPerPage int) (page, perPage int) {
	page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	perPage, _ = strconv.Atoi(r.URL.Query().Get("per_page"))
	if page < 1 {
		page = 1
	}
	if perPage < 1 {
		perPage = defaultPerPage
	}
	return page, perPage
}

func errNoSubdomain() *apiError {
	return newAPIError(http.StatusNotFound, codeScriptNotFound, "This account does not have a workers.dev subdomain.")
}

func (s *Server) getAccountSubdomain(c *call) *apiError {
	s.mu.RLock()
	sub := s.st.Accounts[c.accountID].Subdomain
	s.mu.RUnlock()
	if sub == "" {
		return errNoSubdomain()
	}
	writeResult(c.w, map[string]string{"subdomain": sub})
	return nil
}

// subdomainPattern is wrangler's rule for workers.dev subdomains (a DNS label).
var subdomainPattern = lazyre.Regexp{Expr: `^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`}

// checkSubdomainName validates a subdomain and checks that no other account holds it.
func (s *Server) checkSubdomainName(name, ownerID string) *apiError {
	if !subdomainPattern.MatchString(name) {
		return errValidation("%q is not a valid workers.dev subdomain: use 1-63 lowercase letters, digits and '-', not starting or ending with '-'.", name)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for id, a := range s.st.Accounts {
		if a.Subdomain == name && id != ownerID {
			return newAPIError(http.StatusConflict, codeSubdomainTaken, "The subdomain %q is unavailable.", name)
		}
	}
	return nil
}

// putAccountSubdomain accepts {"subdomain":"x"} (the SDK) and a bare JSON string (wrangler).
func (s *Server) putAccountSubdomain(c *call) *apiError {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxMetadataBytes))
	if err != nil {
		return newAPIError(http.StatusBadRequest, codeParseBody, "Could not read the request body.")
	}
	var name string
	var obj struct {
		Subdomain string `json:"subdomain"`
	}
	if json.Unmarshal(body, &obj) == nil && obj.Subdomain != "" {
		name = obj.Subdomain
	} else if json.Unmarshal(body, &name) != nil {
		return newAPIError(http.StatusBadRequest, codeParseBody, `Could not parse the request body; send {"subdomain":"<name>"}.`)
	}
	name = strings.ToLower(strings.TrimSpace(name))
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if apiErr := s.checkSubdomainName(name, c.accountID); apiErr != nil {
		return apiErr
	}
	s.mu.Lock()
	s.st.Accounts[c.accountID].Subdomain = name
	err = s.persistLocked()
	s.mu.Unlock()
	if err != nil {
		return errInternal(err)
	}
	writeResult(c.w, map[string]string{"subdomain": name})
	return nil
}

func (s *Server) deleteAccountSubdomain(c *call) *apiError {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	a := s.st.Accounts[c.accountID]
	if a.Subdomain == "" {
		s.mu.Unlock()
		return errNoSubdomain()
	}
	a.Subdomain = ""
	err := s.persistLocked()
	s.mu.Unlock()
	if err != nil {
		return errInternal(err)
	}
	writeResult(c.w, nil)
	return nil
}

// checkSubdomainAvailability is wrangler's availability probe: it always "fails", with 10032
// when the name is free and 10031 when it is taken.
func (s *Server) checkSubdomainAvailability(c *call) *apiError {
	name := strings.ToLower(c.param("name"))
	if apiErr := s.checkSubdomainName(name, ""); apiErr != nil {
		return apiErr
	}
	return newAPIError(http.StatusBadRequest, codeSubdomainFree, "The subdomain %q is available.", name)
}

func errInternal(err error) *apiError {
	return newAPIError(http.StatusInternalServerError, 10002, "Internal error: %v", err)
}
