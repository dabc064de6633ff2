package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/flareform/flareform/provision/cfapi"
	"github.com/flareform/flareform/provision/spec"
)

// domainKind is the Workers custom domain kind: `domains: [api.example.com]` on a worker
// attaches each hostname to it (PUT /accounts/{id}/workers/domains, the zone found by name as
// wrangler does: cloudflare-operations.md 6.1, 6.2). A hostname outside the account's zones is
// refused before any write. Attached after the workers (a domain needs its worker), detached
// before them. The worker's tag ff-domains says flareform manages its domains: a hostname
// attached to it that the spec no longer lists is detached, as wrangler's replace_state does.
type domainKind struct{}

const domainsTag = "ff-domains"

func (domainKind) name() string                 { return "custom_domain" }
func (domainKind) afterWorkers() bool           { return true }
func (domainKind) ownsTag(t string) bool        { return t == domainsTag }
func (domainKind) ownerTag(string) string       { return domainsTag }
func (domainKind) hosts(w spec.Worker) []string { return w.Domains }

// domainWant is what the spec wants of one hostname.
type domainWant struct {
	hostname string
	service  string // the worker's script name
	worker   spec.Worker
}

func (domainKind) declared(w spec.Worker) map[string]any {
	if len(w.Domains) == 0 {
		return nil
	}
	out := map[string]any{}
	for _, h := range w.Domains {
		out[h] = &domainWant{hostname: h, service: w.Name, worker: w}
	}
	return out
}

// domainRecord is a custom domain as the API answers it.
type domainRecord struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	Service  string `json:"service"`
	ZoneID   string `json:"zone_id"`
	ZoneName string `json:"zone_name"`
}

func domainsPath(accountID string) string { return "accounts/" + accountID + "/workers/domains" }

// managed lists the hostnames attached to the project's workers that carry ff-domains: one
// read of the account's custom domains, made only when such a worker exists.
func (domainKind) managed(ctx context.Context, e *Engine, accountID string, owners []kindOwner) ([]string, error) {
	var services []string
	for _, o := range owners {
		if slices.Contains(o.tags, domainsTag) {
			services = append(services, o.name)
		}
	}
	if len(services) == 0 {
		return nil, nil
	}
	var records []domainRecord
	if err := e.api.Call(ctx, http.MethodGet, domainsPath(accountID), nil, &records); err != nil {
		return nil, fmt.Errorf("list custom domains: %w", err)
	}
	var out []string
	for _, r := range records {
		if slices.Contains(services, r.Service) {
			out = append(out, r.Hostname)
		}
	}
	return out, nil
}

// domainObject is one hostname: what the spec wants (nil: only detached), what is attached,
// and, for one to attach, the zone it belongs to.
type domainObject struct {
	hostname string
	want     *domainWant
	have     *domainRecord
	zone     *zoneRef // nil: no zone of the account holds the hostname
	spec     *spec.Spec
}

type zoneRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (k domainKind) read(ctx context.Context, e *Engine, accountID, name string, want any) (accountObject, error) {
	d := &domainObject{hostname: name}
	if want != nil {
		d.want = want.(*domainWant)
	}
	var records []domainRecord
	if err := e.api.Call(ctx, http.MethodGet, domainsPath(accountID)+"?hostname="+url.QueryEscape(name), nil, &records); err != nil {
		return nil, fmt.Errorf("read custom domain: %w", err)
	}
	for i := range records {
		if records[i].Hostname == name {
			d.have = &records[i]
		}
	}
	if d.want != nil && (d.have == nil || d.have.Service != d.want.service) {
		zone, err := findZone(ctx, e, accountID, name)
		if err != nil {
			return nil, err
		}
		d.zone = zone
	}
	return d, nil
}

// findZone finds the account's zone holding hostname by stripping its leftmost labels one at a
// time (a.b.example.com, b.example.com, example.com), as wrangler does.
func findZone(ctx context.Context, e *Engine, accountID, hostname string) (*zoneRef, error) {
	labels := strings.Split(hostname, ".")
	for i := 0; i+1 < len(labels); i++ {
		name := strings.Join(labels[i:], ".")
		var zones []zoneRef
		q := url.Values{"name": {name}, "account.id": {accountID}}
		if err := e.api.Call(ctx, http.MethodGet, "zones?"+q.Encode(), nil, &zones); err != nil {
			return nil, fmt.Errorf("look up the zone of %s: %w", hostname, err)
		}
		if len(zones) > 0 {
			return &zones[0], nil
		}
	}
	return nil, nil
}

func (d *domainObject) live() any {
	if d.have == nil {
		return nil
	}
	return d.have
}

func (d *domainObject) replaces() bool { return false }

// diff: the worker a hostname serves (and, for a new one, its zone).
func (d *domainObject) diff() []Change {
	if d.want == nil {
		return nil
	}
	var changes []Change
	switch {
	case d.have == nil:
		changes = append(changes, Change{Path: "service", Op: OpAdd, New: d.want.service})
		if d.zone != nil {
			changes = append(changes, Change{Path: "zone", Op: OpAdd, New: d.zone.Name})
		}
	case d.have.Service != d.want.service:
		changes = append(changes, Change{Path: "service", Op: OpChange, Old: d.have.Service, New: d.want.service})
	}
	return changes
}

// refuse stops the plan before any write for a hostname no zone of the account holds, or one
// attached to a worker the spec does not name (another project's or the dashboard's).
func (d *domainObject) refuse(s *spec.Spec, owned bool) error {
	if d.want == nil {
		return nil
	}
	field := "domains." + d.hostname
	if d.have != nil && d.have.Service != d.want.service && !specNames(s, d.have.Service) {
		return specError(s, d.want.worker, field,
			fmt.Sprintf("domain %q is attached to worker %q, which this spec does not manage", d.hostname, d.have.Service),
			"detach it there first (or remove it from this worker)")
	}
	if (d.have == nil || d.have.Service != d.want.service) && d.zone == nil {
		return specError(s, d.want.worker, field,
			fmt.Sprintf("domain %q is in none of the account's zones", d.hostname),
			"add its zone to the account (with the local Cloudflare: flareform local --zone), or use a hostname of a zone it has")
	}
	return nil
}

func specNames(s *spec.Spec, script string) bool {
	return slices.ContainsFunc(s.Workers, func(w spec.Worker) bool { return w.Name == script })
}

func (d *domainObject) create(ctx context.Context, e *Engine, accountID string) error {
	return d.attach(ctx, e, accountID)
}

func (d *domainObject) update(ctx context.Context, e *Engine, accountID string) error {
	return d.attach(ctx, e, accountID)
}

// attach PUTs the hostname with its worker and zone (no environment: deprecated).
func (d *domainObject) attach(ctx context.Context, e *Engine, accountID string) error {
	body := map[string]string{"hostname": d.hostname, "service": d.want.service}
	if d.zone != nil {
		body["zone_id"] = d.zone.ID
	}
	if err := e.api.Call(ctx, http.MethodPut, domainsPath(accountID), body, nil); err != nil {
		return fmt.Errorf("attach custom domain %s: %w", d.hostname, err)
	}
	return nil
}

func (d *domainObject) remove(ctx context.Context, e *Engine, accountID string) error {
	err := e.api.Call(ctx, http.MethodDelete, domainsPath(accountID)+"/"+url.PathEscape(d.have.ID), nil, nil)
	if err != nil && !cfapi.IsNotFound(err) { // already detached: the goal is reached
		return fmt.Errorf("detach custom domain %s: %w", d.hostname, err)
	}
	return nil
}

// prepareLocal creates, on the local Cloudflare, the zone of every hostname the spec lists that
// no zone holds yet: the hostname's last two labels (api.example.com: example.com).
func (domainKind) prepareLocal(ctx context.Context, e *Engine, s *spec.Spec) error {
	for _, w := range s.Workers {
		for _, h := range w.Domains {
			accountID, err := e.accountID(s.AccountID)
			if err != nil {
				return err
			}
			zone, err := findZone(ctx, e, accountID, h)
			if err != nil {
				return err
			}
			if zone != nil {
				continue
			}
			labels := strings.Split(h, ".")
			name := strings.Join(labels[len(labels)-2:], ".")
			if err := e.localAdmin(ctx, http.MethodPost, "/__localcf/zones", map[string]string{"name": name}); err != nil {
				return fmt.Errorf("create local zone %s: %w", name, err)
			}
		}
	}
	return nil
}

// localAdmin calls an admin endpoint of the local Cloudflare behind the API base URL (same
// host, same token), e.g. POST /__localcf/zones; it answers 200 when done.
func (e *Engine) localAdmin(ctx context.Context, method, path string, body any) error {
	u, err := url.Parse(e.cfg.APIBaseURL)
	if err != nil || !isLoopback(u.Hostname()) {
		return fmt.Errorf("the API at %s is not a local Cloudflare", e.cfg.APIBaseURL)
	}
	js, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.Scheme+"://"+u.Host+path, bytes.NewReader(js))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+e.cfg.APIToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := e.httpClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
}
