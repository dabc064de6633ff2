package localcf

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/flareform/flareform/localcf/faults"
)

const adminPrefix = "/__localcf/"

func isAdminPath(p string) bool { return strings.HasPrefix(p, adminPrefix) }

// serveAdmin answers the localcf-only endpoints (docs/design/design.md): info, faults, quirks, requests,
// binding-calls, zones.
// Each needs an account's API token, as the Cloudflare API does: they change what every
// account sees (faults) or show what every account did (requests).
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	accountID, token, ok := s.authorizeAdmin(w, r)
	if !ok {
		return
	}
	switch strings.TrimPrefix(r.URL.Path, adminPrefix) {
	case "info":
		if r.Method != http.MethodGet {
			adminError(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		writeJSON(w, http.StatusOK, s.adminInfo(accountID, token))
	case "faults":
		s.serveAdminFaults(w, r)
	case "zones":
		s.serveAdminZones(w, r, accountID)
	case "quirks":
		s.serveAdminQuirks(w, r)
	case "requests":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, s.Requests())
		case http.MethodDelete:
			s.ResetRequests()
			writeJSON(w, http.StatusOK, []RequestRecord{})
		default:
			adminError(w, http.StatusMethodNotAllowed, "use GET or DELETE")
		}
	case "binding-calls":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, s.BindingCalls())
		case http.MethodDelete:
			s.bindingLog.reset()
			writeJSON(w, http.StatusOK, []RequestRecord{})
		default:
			adminError(w, http.StatusMethodNotAllowed, "use GET or DELETE")
		}
	default:
		adminError(w, http.StatusNotFound, "unknown admin endpoint; try /__localcf/info, /__localcf/faults, /__localcf/quirks, /__localcf/requests, /__localcf/binding-calls or /__localcf/zones")
	}
}

// authorizeAdmin checks the bearer token like the API does: 401 when it is missing or
// malformed, 403 when no account owns it. It returns the caller's account and token.
func (s *Server) authorizeAdmin(w http.ResponseWriter, r *http.Request) (accountID, token string, ok bool) {
	token, present, apiErr := parseAuthorization(r)
	if !present || apiErr != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="localcf"`)
		adminError(w, http.StatusUnauthorized, "admin endpoints need an account's API token: send Authorization: Bearer <token>")
		return "", "", false
	}
	if accountID = s.accountForToken(token); accountID == "" {
		adminError(w, http.StatusForbidden, "the token does not belong to any account of this local Cloudflare")
		return "", "", false
	}
	return accountID, token, true
}

// adminInfo describes the caller's account: with the default account's token that is what
// `flareform local` prints, and another account's token never reveals the default token.
func (s *Server) adminInfo(accountID, token string) map[string]string {
	s.mu.RLock()
	subdomain := ""
	if a := s.st.Accounts[accountID]; a != nil {
		subdomain = a.Subdomain
	}
	s.mu.RUnlock()
	return map[string]string{
		"api_base_url": s.APIBaseURL(), "api_token": token, "account_id": accountID,
		"subdomain": subdomain, "workers_dev_addr": s.WorkersDevAddr(),
	}
}

type faultsDoc struct {
	Seed  int64       `json:"seed"`
	Rules []FaultRule `json:"rules"`
}

func (s *Server) serveAdminFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut:
		var doc faultsDoc
		body, err := io.ReadAll(io.LimitReader(r.Body, maxMetadataBytes))
		if err == nil {
			err = json.Unmarshal(body, &doc)
		}
		if err != nil {
			adminError(w, http.StatusBadRequest, "body must be {\"seed\":N,\"rules\":[...]}: "+err.Error())
			return
		}
		if err := faults.ValidateRules(doc.Rules); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.SetFaults(doc.Rules, doc.Seed)
	case http.MethodDelete:
		s.SetFaults(nil, 0)
	default:
		adminError(w, http.StatusMethodNotAllowed, "use GET, PUT or DELETE")
		return
	}
	rules, seed := s.faults.Rules()
	if rules == nil {
		rules = []FaultRule{}
	}
	writeJSON(w, http.StatusOK, faultsDoc{Seed: seed, Rules: rules})
}

// serveAdminZones: GET lists the caller's account's zones (as GET /zones shows them, by name);
// POST {"name":"example.com"} adds a zone to it, or returns the one it holds already.
func (s *Server) serveAdminZones(w http.ResponseWriter, r *http.Request, accountID string) {
	switch r.Method {
	case http.MethodGet:
		s.mu.RLock()
		a := s.st.Accounts[accountID]
		list := make([]map[string]any, 0, len(a.Zones))
		for _, z := range a.Zones {
			list = append(list, zoneObject(a, z))
		}
		s.mu.RUnlock()
		sort.Slice(list, func(i, j int) bool { return list[i]["name"].(string) < list[j]["name"].(string) })
		writeJSON(w, http.StatusOK, list)
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, maxMetadataBytes))
		if err != nil {
			adminError(w, http.StatusBadRequest, "read the body: "+err.Error())
			return
		}
		var doc struct {
			Name string `json:"name"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil || dec.More() {
			adminError(w, http.StatusBadRequest, `body must be {"name":"example.com"}`+errSuffix(err))
			return
		}
		z, err := s.AddAccountZone(accountID, doc.Name)
		if err != nil {
			adminError(w, zoneAdminStatus(err), err.Error())
			return
		}
		s.mu.RLock()
		a := s.st.Accounts[accountID]
		obj := zoneObject(a, a.Zones[z.ID])
		s.mu.RUnlock()
		writeJSON(w, http.StatusOK, obj)
	default:
		adminError(w, http.StatusMethodNotAllowed, "use GET or POST")
	}
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

func adminError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
