package localcf

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Zones (cloudflare-operations.md §6.2; cloudflare-go v6 zones/zone.go). A local zone is always
// active and of type full, and its name is held by one account of the server at most, as an
// active zone is on Cloudflare. Zones are created by Options.Zones, Server.AddZone or the admin
// endpoint POST /__localcf/zones: Cloudflare's zone creation (name servers, activation) has no
// local meaning.

// zone is one zone of an account.
type zone struct {
	ID        string    `json:"id"` // 32 lowercase hex
	Name      string    `json:"name"`
	CreatedOn time.Time `json:"created_on"`
}

// Zone is a zone as Go callers see it.
type Zone struct {
	ID        string // 32 lowercase hex
	Name      string // "example.com"
	Status    string // always "active"
	AccountID string
}

const zoneStatusActive = "active"

// freePlanID is the id Cloudflare gives its Free plan.
const freePlanID = "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee"

// Errors of AddZone; the admin endpoint maps them to HTTP statuses.
var (
	errZoneName    = errors.New("invalid zone name")
	errZoneTaken   = errors.New("zone held by another account")
	errZoneAccount = errors.New("no such account")
)

// hostnameProblem says why h is not a DNS host name a zone or custom domain may have (lower
// case LDH labels of 1-63 characters, at least two labels, at most 253 characters, no
// trailing dot, no wildcard, no port or path), or "" when it is one.
func hostnameProblem(h string) string {
	switch {
	case h == "":
		return "is empty"
	case strings.Contains(h, "*"):
		return "is a wildcard; a zone or custom domain is one exact host name (wildcards need a route)"
	case strings.ContainsAny(h, "/:?#@[] \t"):
		return "is not a bare host name: leave out the scheme, port, path and pattern characters"
	case h != strings.ToLower(h):
		return "has upper-case letters; write host names in lower case"
	case strings.HasSuffix(h, "."):
		return "ends with a dot; leave out the root label"
	case len(h) > 253:
		return "is longer than 253 characters"
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return "has a single label; a host name needs a domain and a top-level domain (example.com)"
	}
	for _, l := range labels {
		if l == "" {
			return "has an empty label (two dots in a row, or a leading dot)"
		}
		if len(l) > 63 {
			return fmt.Sprintf("has the label %q, longer than 63 characters", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Sprintf("has the label %q, which starts or ends with '-'", l)
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Sprintf("has the label %q with %q: labels are letters, digits and '-' (IDNs in punycode, xn--)", l, c)
			}
		}
	}
	if _, err := strconv.Atoi(labels[len(labels)-1]); err == nil {
		return "ends in a numeric label: an IP address is not a host name"
	}
	return ""
}

// zoneNameProblem is hostnameProblem plus the names no account can hold as a zone.
func zoneNameProblem(name string) string {
	if p := hostnameProblem(name); p != "" {
		return p
	}
	switch {
	case name == "workers.dev" || strings.HasSuffix(name, ".workers.dev"):
		return "is under workers.dev, which is Cloudflare's, not a zone an account can add"
	case name == "localhost" || strings.HasSuffix(name, ".localhost"):
		return "is under localhost, which names this machine"
	}
	return ""
}

// CheckZoneName returns why name cannot be a zone (AddZone refuses it), or nil.
func CheckZoneName(name string) error {
	if p := zoneNameProblem(name); p != "" {
		return fmt.Errorf("%w: %q %s", errZoneName, name, p)
	}
	return nil
}

// inZone reports whether host is the zone's apex or a name below it.
func inZone(host, zoneName string) bool {
	return host == zoneName || strings.HasSuffix(host, "."+zoneName)
}

func (a *account) zoneByName(name string) *zone {
	for _, z := range a.Zones {
		if z.Name == name {
			return z
		}
	}
	return nil
}

// zoneContaining is the account's longest zone that host is in (nil: none). Longest, because
// an account may hold a zone and a subdomain zone below it (dev.example.com in example.com).
func (a *account) zoneContaining(host string) *zone {
	var best *zone
	for _, z := range a.Zones {
		if inZone(host, z.Name) && (best == nil || len(z.Name) > len(best.Name)) {
			best = z
		}
	}
	return best
}

// addZoneLocked adds name to the account unless it holds it already; the caller holds opMu and
// mu and persists when created.
func (s *Server) addZoneLocked(accountID, name string) (z *zone, created bool, err error) {
	a := s.st.Accounts[accountID]
	if a == nil {
		return nil, false, fmt.Errorf("account %s: %w", accountID, errZoneAccount)
	}
	if err := CheckZoneName(name); err != nil {
		return nil, false, err
	}
	if z := a.zoneByName(name); z != nil {
		return z, false, nil
	}
	for id, other := range s.st.Accounts {
		if id != accountID && other.zoneByName(name) != nil {
			return nil, false, fmt.Errorf("%w: zone %q is active in account %s; a zone name is active in one account only", errZoneTaken, name, id)
		}
	}
	if a.Zones == nil {
		a.Zones = map[string]*zone{}
	}
	z = &zone{ID: randomHex(16), Name: name, CreatedOn: s.opts.now().UTC()}
	a.Zones[z.ID] = z
	return z, true, nil
}

// AddZone adds the zone name ("example.com") to the default account and returns it; a zone the
// account holds already is returned as it is. It fails for a name that is not a lower-case
// host name, for names under workers.dev or localhost, and for a zone another account holds.
func (s *Server) AddZone(name string) (Zone, error) {
	return s.AddAccountZone(s.AccountID(), name)
}

// AddAccountZone is AddZone for the account accountID (from AddAccount).
func (s *Server) AddAccountZone(accountID, name string) (Zone, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	z, created, err := s.addZoneLocked(accountID, name)
	if err != nil {
		return Zone{}, fmt.Errorf("add zone: %w", err)
	}
	if created {
		if err := s.persistLocked(); err != nil {
			delete(s.st.Accounts[accountID].Zones, z.ID)
			return Zone{}, fmt.Errorf("add zone %s: %w", name, err)
		}
	}
	return publicZone(accountID, z), nil
}

// Zones lists the default account's zones by name.
func (s *Server) Zones() []Zone {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.st.Accounts[s.st.DefaultAccount]
	out := make([]Zone, 0, len(a.Zones))
	for _, z := range a.Zones {
		out = append(out, publicZone(a.ID, z))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func publicZone(accountID string, z *zone) Zone {
	return Zone{ID: z.ID, Name: z.Name, Status: zoneStatusActive, AccountID: accountID}
}

// addStartZones adds Options.Zones to the default account while Start loads the state.
func (s *Server) addStartZones() error {
	if len(s.opts.Zones) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, name := range s.opts.Zones {
		_, created, err := s.addZoneLocked(s.st.DefaultAccount, name)
		if err != nil {
			return fmt.Errorf("localcf: add zone (Options.Zones): %w", err)
		}
		changed = changed || created
	}
	if !changed {
		return nil
	}
	if err := s.persistLocked(); err != nil {
		return fmt.Errorf("localcf: save zones: %w", err)
	}
	return nil
}

// zoneObject is a zone as GET /zones shows it (cloudflare-go v6 zones.Zone). The caller holds mu.
func zoneObject(a *account, z *zone) map[string]any {
	created := z.CreatedOn.Format(timeFormat)
	return map[string]any{
		"id": z.ID, "name": z.Name, "status": zoneStatusActive, "paused": false, "type": "full",
		"development_mode": 0,
		// Clearly not Cloudflare's: nothing delegates to a local zone.
		"name_servers":          []string{"ns1.localcf.invalid", "ns2.localcf.invalid"},
		"original_name_servers": nil, "original_registrar": nil, "original_dnshost": nil,
		"vanity_name_servers": []string{},
		"created_on":          created, "modified_on": created, "activated_on": created,
		"meta": map[string]any{
			"step": 2, "custom_certificate_quota": 0, "page_rule_quota": 3, "phishing_detected": false,
			"cdn_only": false, "dns_only": false, "foundation_dns": false,
		},
		"owner":       map[string]any{"id": nil, "type": "user", "email": nil},
		"account":     map[string]any{"id": a.ID, "name": a.Name},
		"tenant":      map[string]any{"id": nil, "name": nil},
		"tenant_unit": map[string]any{"id": nil},
		"plan": map[string]any{
			"id": freePlanID, "name": "Free Website", "price": 0, "currency": "USD", "frequency": "",
			"is_subscribed": false, "can_subscribe": false, "legacy_id": "free", "legacy_discount": false,
			"externally_managed": false,
		},
	}
}

// zoneQuery is a parsed GET /zones query.
type zoneQuery struct {
	filters   []func(a *account, z *zone) bool
	matchAny  bool
	order     string
	desc      bool
	page      int
	perPage   int
	typeGiven bool
	types     map[string]bool
}

// Zone list bounds (the API schema's for per_page).
const (
	zonesDefaultPerPage = 20
	zonesMinPerPage     = 5
	zonesMaxPerPage     = 50
)

var (
	zoneStatuses = map[string]bool{"initializing": true, "pending": true, "active": true, "moved": true}
	zoneTypes    = map[string]bool{"full": true, "partial": true, "secondary": true, "internal": true}
	zoneOrders   = map[string]bool{"name": true, "status": true, "account.id": true, "account.name": true, "plan.id": true}
	// nameOperators are the filter operators of name and account.name; only equal is served.
	nameOperators = map[string]bool{"equal": true, "not_equal": true, "starts_with": true, "ends_with": true, "contains": true,
		"starts_with_case_sensitive": true, "ends_with_case_sensitive": true, "contains_case_sensitive": true}
)

func errZoneQuery(format string, args ...any) *apiError {
	return errValidation(format, args...)
}

// exactNameFilter reads a name or account.name filter: "value" or "equal:value". The other
// operators of the real API are refused, not ignored, so a client relying on one finds out.
func exactNameFilter(param, v string) (string, *apiError) {
	if op, rest, ok := strings.Cut(v, ":"); ok && nameOperators[op] {
		if op != "equal" {
			return "", errZoneQuery("%s=%s: the local Cloudflare matches %s exactly; the %q operator is not supported (send the exact name).", param, v, param, op)
		}
		return rest, nil
	}
	return v, nil
}

func parseZoneQuery(q url.Values) (*zoneQuery, *apiError) {
	zq := &zoneQuery{page: 1, perPage: zonesDefaultPerPage, order: "name"}
	if v := q.Get("name"); q.Has("name") {
		name, apiErr := exactNameFilter("name", v)
		if apiErr != nil {
			return nil, apiErr
		}
		name = strings.ToLower(name)
		zq.filters = append(zq.filters, func(_ *account, z *zone) bool { return z.Name == name })
	}
	if q.Has("account.id") {
		id := q.Get("account.id")
		zq.filters = append(zq.filters, func(a *account, _ *zone) bool { return a.ID == id })
	}
	if v := q.Get("account.name"); q.Has("account.name") {
		name, apiErr := exactNameFilter("account.name", v)
		if apiErr != nil {
			return nil, apiErr
		}
		zq.filters = append(zq.filters, func(a *account, _ *zone) bool { return a.Name == name })
	}
	if q.Has("status") {
		st := q.Get("status")
		if !zoneStatuses[st] {
			return nil, errZoneQuery("status=%s: use initializing, pending, active or moved.", st)
		}
		zq.filters = append(zq.filters, func(*account, *zone) bool { return st == zoneStatusActive })
	}
	if v := q.Get("type"); q.Has("type") {
		zq.typeGiven, zq.types = true, map[string]bool{}
		for _, t := range strings.Split(v, ",") {
			if !zoneTypes[t] {
				return nil, errZoneQuery("type=%s: use full, partial, secondary or internal (comma-separated).", v)
			}
			zq.types[t] = true
		}
	}
	switch m := q.Get("match"); m {
	case "", "all":
	case "any":
		zq.matchAny = true
	default:
		return nil, errZoneQuery("match=%s: use all or any.", m)
	}
	if o := q.Get("order"); o != "" {
		if !zoneOrders[o] {
			return nil, errZoneQuery("order=%s: use name, status, account.id, account.name or plan.id.", o)
		}
		zq.order = o
	}
	switch d := q.Get("direction"); d {
	case "", "asc":
	case "desc":
		zq.desc = true
	default:
		return nil, errZoneQuery("direction=%s: use asc or desc.", d)
	}
	var apiErr *apiError
	if zq.page, apiErr = intParam(q, "page", 1, 1, 1<<30); apiErr != nil {
		return nil, apiErr
	}
	if zq.perPage, apiErr = intParam(q, "per_page", zonesDefaultPerPage, zonesMinPerPage, zonesMaxPerPage); apiErr != nil {
		return nil, apiErr
	}
	return zq, nil
}

// intParam reads an integer query parameter within [lo, hi]; absent or empty is def.
func intParam(q url.Values, name string, def, lo, hi int) (int, *apiError) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, errZoneQuery("%s=%s: must be a whole number from %d to %d.", name, v, lo, hi)
	}
	return n, nil
}

func (zq *zoneQuery) matches(a *account, z *zone) bool {
	// Every local zone is of type full; without a type filter internal zones are left out,
	// which no local zone is.
	if zq.typeGiven && !zq.types["full"] {
		return false
	}
	if len(zq.filters) == 0 {
		return true
	}
	for _, f := range zq.filters {
		if f(a, z) == zq.matchAny {
			return zq.matchAny
		}
	}
	return !zq.matchAny
}

// listZones: GET /zones, the zones of the token's account (a local token reaches one account),
// with Cloudflare's filters (exact names only), order and page-based pagination.
func (s *Server) listZones(c *call) *apiError {
	zq, apiErr := parseZoneQuery(c.r.URL.Query())
	if apiErr != nil {
		return apiErr
	}
	type row struct {
		obj                    map[string]any
		name, acctID, acctName string
	}
	acct := s.accountForToken(c.token)
	s.mu.RLock()
	var rows []row
	if a := s.st.Accounts[acct]; a != nil {
		for _, z := range a.Zones {
			if zq.matches(a, z) {
				rows = append(rows, row{obj: zoneObject(a, z), name: z.Name, acctID: a.ID, acctName: a.Name})
			}
		}
	}
	s.mu.RUnlock()
	key := func(r row) string {
		switch zq.order {
		case "account.id":
			return r.acctID
		case "account.name":
			return r.acctName
		}
		return "" // name, status (all active), plan.id (all Free): ties broken by name
	}
	sort.Slice(rows, func(i, j int) bool {
		ki, kj := key(rows[i]), key(rows[j])
		if ki == kj {
			ki, kj = rows[i].name, rows[j].name
		}
		if zq.desc {
			return ki > kj
		}
		return ki < kj
	})
	total := len(rows)
	start := min((zq.page-1)*zq.perPage, total)
	end := min(start+zq.perPage, total)
	result := make([]map[string]any, 0, end-start)
	for _, r := range rows[start:end] {
		result = append(result, r.obj)
	}
	writeResultInfo(c.w, result, pageInfo{Page: zq.page, PerPage: zq.perPage, Count: len(result), TotalCount: total,
		TotalPages: (total + zq.perPage - 1) / zq.perPage})
	return nil
}

// zoneAdminStatus is the HTTP status of an AddZone error at the admin endpoint.
func zoneAdminStatus(err error) int {
	switch {
	case errors.Is(err, errZoneTaken):
		return http.StatusConflict
	case errors.Is(err, errZoneAccount):
		return http.StatusNotFound
	case errors.Is(err, errZoneName):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}
