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

func (s *Server) tokenResult(accountID string) map[string]any {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return map[string]any{"id": s.st.Accounts[accountID].Token.ID, "status": "active"}
}

func writeVerified(w http.ResponseWriter, result any) {
	active := "This API Token is valid and active"
	writeJSON(w, http.StatusOK, envelope{Success: true, Errors: []apiMessage{},
		Messages: []apiMessage{{Code: 10000, Message: active}}, Result: result})
}

// verifyUserToken: every localcf token is user-owned, so it verifies on /user/tokens/verify too.
func (s *Server) verifyUserToken(c *call) *apiError {
	acct := s.accountForToken(c.token)
	if acct == "" {
		return errInvalidToken()
	}
	writeVerified(c.w, s.tokenResult(acct))
	return nil
}

func (s *Server) verifyAccountToken(c *call) *apiError {
	acct := s.accountForToken(c.token)
	switch {
	case acct == "":
		return errInvalidToken()
	case acct != c.accountID:
		return errAuth()
	}
	writeVerified(c.w, s.tokenResult(acct))
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
