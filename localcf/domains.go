package localcf

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
)

// Workers custom domains (cloudflare-operations.md §6.1; cloudflare-go v6 workers/domain.go):
// a host name in one of the account's zones that routes to a Worker. One record per host name:
// attaching a host name again updates its record (same id). The data plane serves an attached
// host name exactly as it serves the Worker's workers.dev name (dataplane.go).

// Error codes of the custom domain endpoints. 10083 is Cloudflare's
// workers.api.error.zone_not_found; the others, and the HTTP statuses, are local choices
// (docs/local-cloudflare.md): clients should rely on the HTTP status.
const (
	codeZoneNotFound = 10083
)

// customDomain is one attached host name, stored as the API shows it.
type customDomain struct {
	ID          string `json:"id"`      // 32 lowercase hex
	CertID      string `json:"cert_id"` // a UUID; no certificate exists locally
	Environment string `json:"environment"`
	Hostname    string `json:"hostname"`
	Service     string `json:"service"`
	ZoneID      string `json:"zone_id"`
	ZoneName    string `json:"zone_name"`
}

// defaultEnvironment is the only Worker environment the local Cloudflare has.
const defaultEnvironment = "production"

// domainFields are the fields of cloudflare-go's DomainUpdateParams body.
var domainFields = map[string]bool{"hostname": true, "service": true, "zone_id": true, "zone_name": true, "environment": true}

type domainBody struct {
	Hostname    *string `json:"hostname"`
	Service     *string `json:"service"`
	ZoneID      *string `json:"zone_id"`
	ZoneName    *string `json:"zone_name"`
	Environment *string `json:"environment"`
}

func errDomainNotFound(id string) *apiError {
	return newAPIError(http.StatusNotFound, codeResourceNotFound, "workers.api.error.domain_not_found: no custom domain with id %q on this account.", id)
}

func errZoneNotFound(format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, codeZoneNotFound, format, args...)
}

// parseDomainBody decodes and checks an attach body; fields outside the schema are refused.
func parseDomainBody(r *http.Request) (domainBody, *apiError) {
	var b domainBody
	data, err := io.ReadAll(io.LimitReader(r.Body, maxMetadataBytes))
	if err != nil {
		return b, newAPIError(http.StatusBadRequest, codeParseBody, "Could not read the request body.")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return b, newAPIError(http.StatusBadRequest, codeParseBody, "Could not parse the request body as a JSON object: %v", err)
	}
	for _, name := range sortedNames(raw) {
		if !domainFields[name] {
			return b, errValidation("Unknown field %q: a custom domain takes hostname, service, zone_id, zone_name and environment.", name)
		}
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return b, newAPIError(http.StatusBadRequest, codeParseBody, "Could not parse the request body: %v", err)
	}
	if b.Hostname == nil || *b.Hostname == "" {
		return b, errValidation("hostname is required: the host name to attach, e.g. \"api.example.com\".")
	}
	if p := hostnameProblem(*b.Hostname); p != "" {
		return b, errValidation("hostname %q %s.", *b.Hostname, p)
	}
	if b.Service == nil || *b.Service == "" {
		return b, errValidation("service is required: the name of the Worker the host name routes to.")
	}
	if apiErr := checkScriptName(*b.Service); apiErr != nil {
		return b, apiErr
	}
	for name, v := range map[string]*string{"zone_id": b.ZoneID, "zone_name": b.ZoneName} {
		if v != nil && *v == "" {
			return b, errValidation("%s is empty: leave it out to use the zone the hostname is in, or name a zone of this account.", name)
		}
	}
	if e := b.Environment; e != nil && *e != defaultEnvironment {
		return b, errValidation("environment %q does not exist: the only environment is %q (environments are deprecated).", *e, defaultEnvironment)
	}
	return b, nil
}

// domainZone is the zone a custom domain goes in: the one zone_id or zone_name names, else
// the account's longest zone containing the host name. The caller holds mu.
func (a *account) domainZone(b domainBody) (*zone, *apiError) {
	host := *b.Hostname
	var z *zone
	switch {
	case b.ZoneID != nil:
		if z = a.Zones[*b.ZoneID]; z == nil {
			return nil, errZoneNotFound("workers.api.error.zone_not_found: zone_id %q is not a zone of this account.", *b.ZoneID)
		}
		if b.ZoneName != nil && *b.ZoneName != z.Name {
			return nil, errValidation("zone_id %q is the zone %q, but zone_name is %q: give one, or both naming the same zone.", *b.ZoneID, z.Name, *b.ZoneName)
		}
	case b.ZoneName != nil:
		if z = a.zoneByName(*b.ZoneName); z == nil {
			return nil, errZoneNotFound("workers.api.error.zone_not_found: zone_name %q is not a zone of this account.", *b.ZoneName)
		}
	default:
		if z = a.zoneContaining(host); z == nil {
			return nil, errZoneNotFound("workers.api.error.zone_not_found for %q: no zone of this account contains it. "+
				"Add the zone to the account first (locally: flareform local --zone NAME, Options.Zones or POST /__localcf/zones).", host)
		}
	}
	if !inZone(host, z.Name) {
		return nil, errValidation("hostname %q is not in the zone %q: a custom domain is the zone's apex or a name below it.", host, z.Name)
	}
	return z, nil
}

func (a *account) domainByHostname(host string) *customDomain {
	for _, d := range a.Domains {
		if d.Hostname == host {
			return d
		}
	}
	return nil
}

// putDomain: PUT /accounts/{id}/workers/domains attaches a host name to a Worker, or updates
// the record of a host name attached already (its id and cert_id stay).
func (s *Server) putDomain(c *call) *apiError {
	b, apiErr := parseDomainBody(c.r)
	if apiErr != nil {
		return apiErr
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.Accounts[c.accountID]
	z, apiErr := a.domainZone(b)
	if apiErr != nil {
		return apiErr
	}
	if _, apiErr := s.lookupScript(c.accountID, *b.Service); apiErr != nil {
		return newAPIError(http.StatusNotFound, codeServiceNotFound,
			"workers.api.error.service_not_found: no Worker named %q on this account; upload it before attaching a domain.", *b.Service)
	}
	host := *b.Hostname
	for id, other := range s.st.Accounts {
		if id != c.accountID && other.domainByHostname(host) != nil {
			return newAPIError(http.StatusConflict, codeResourceExists, "The hostname %q is attached to a Worker of another account.", host)
		}
	}
	if a.Domains == nil {
		a.Domains = map[string]*customDomain{}
	}
	previous := a.domainByHostname(host)
	d := &customDomain{ID: randomHex(16), CertID: newUUID()}
	if previous != nil {
		copied := *previous
		d = &copied
	}
	d.Hostname, d.Service, d.ZoneID, d.ZoneName, d.Environment = host, *b.Service, z.ID, z.Name, defaultEnvironment
	a.Domains[d.ID] = d
	if err := s.persistLocked(); err != nil {
		if previous != nil {
			a.Domains[d.ID] = previous
		} else {
			delete(a.Domains, d.ID)
		}
		return errInternal(err)
	}
	writeResult(c.w, *d)
	return nil
}

// listDomains: GET /accounts/{id}/workers/domains, by host name, with the exact-match filters
// hostname, service, zone_id, zone_name and environment.
func (s *Server) listDomains(c *call) *apiError {
	q := c.r.URL.Query()
	filters := map[string]func(d *customDomain) string{
		"hostname":    func(d *customDomain) string { return d.Hostname },
		"service":     func(d *customDomain) string { return d.Service },
		"zone_id":     func(d *customDomain) string { return d.ZoneID },
		"zone_name":   func(d *customDomain) string { return d.ZoneName },
		"environment": func(d *customDomain) string { return d.Environment },
	}
	s.mu.RLock()
	out := []customDomain{}
	for _, d := range s.st.Accounts[c.accountID].Domains {
		keep := true
		for name, field := range filters {
			if q.Has(name) && field(d) != q.Get(name) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, *d)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Hostname < out[j].Hostname })
	writeResult(c.w, out)
	return nil
}

func (s *Server) getDomain(c *call) *apiError {
	id := c.param("domain")
	s.mu.RLock()
	d := s.st.Accounts[c.accountID].Domains[id]
	var copied customDomain
	if d != nil {
		copied = *d
	}
	s.mu.RUnlock()
	if d == nil {
		return errDomainNotFound(id)
	}
	writeResult(c.w, copied)
	return nil
}

// deleteDomain: DELETE /accounts/{id}/workers/domains/{domain_id} detaches the host name; the
// Worker stops answering on it at once.
func (s *Server) deleteDomain(c *call) *apiError {
	id := c.param("domain")
	if _, apiErr := deleteAccountEntry(s, c, func(a *account) map[string]*customDomain { return a.Domains }, id, errDomainNotFound); apiErr != nil {
		return apiErr
	}
	writeResult(c.w, nil)
	return nil
}

// deleteAccountEntry removes id from one of the account's maps (entries) under the state locks
// and persists the change; when persisting fails the entry is put back. It returns what was
// removed, or notFound's error.
func deleteAccountEntry[T any](s *Server, c *call, entries func(*account) map[string]*T, id string, notFound func(string) *apiError) (*T, *apiError) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	m := entries(s.st.Accounts[c.accountID])
	e := m[id]
	if e == nil {
		return nil, notFound(id)
	}
	delete(m, id)
	if err := s.persistLocked(); err != nil {
		m[id] = e
		return nil, errInternal(err)
	}
	return e, nil
}

// detachDomains removes the account's custom domains that route to service and returns them.
// A custom domain points at a service, so deleting the Worker detaches them: a Worker
// re-created under the same name does not get them back (the references do not say what
// Cloudflare does here). The caller holds mu.
func (a *account) detachDomains(service string) []*customDomain {
	var removed []*customDomain
	for id, d := range a.Domains {
		if d.Service == service {
			removed = append(removed, d)
			delete(a.Domains, id)
		}
	}
	return removed
}

// resolveCustomDomain finds the deployed version behind an attached host name; ok is false
// when no account has the host name attached.
func (s *Server) resolveCustomDomain(host string) (k liveKey, v *version, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for id, a := range s.st.Accounts {
		d := a.domainByHostname(host)
		if d == nil {
			continue
		}
		sc := a.Scripts[d.Service]
		if sc == nil {
			return liveKey{}, nil, true
		}
		return liveKey{id, d.Service}, sc.deployedVersion(), true
	}
	return liveKey{}, nil, false
}

// isZoneHost reports whether a Host header names a host in a zone of any account: the data
// plane serves those names (a custom domain, or 404 for a name nothing is attached to). Zones
// are names the user added: a DNS-rebinding page passes only by controlling a zone's DNS.
func (s *Server) isZoneHost(hostport string) bool {
	host := hostOnly(hostport)
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, a := range s.st.Accounts {
		if a.zoneContaining(host) != nil {
			return true
		}
	}
	return false
}
