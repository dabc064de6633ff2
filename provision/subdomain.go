package provision

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/workers"

	"github.com/flareform/flareform/provision/spec"
)

// requireSubdomain refuses a plan that enables workers.dev on an account without a workers.dev
// subdomain. What the API answers to that is UNCONFIRMED (it may refuse, or accept a URL that
// cannot exist: docs/local-cloudflare.md, quirk workers_dev_without_subdomain); either way the
// deploy cannot be smoke tested, so the user hears it before anything is written.
func requireSubdomain(s *spec.Spec, subdomain string) error {
	if subdomain != "" || s.WorkersDevSubdomain != "" {
		return nil
	}
	var errs []error
	for _, w := range s.Workers {
		if w.WorkersDev {
			errs = append(errs, specError(s, w, "workers_dev", "workers_dev is true, but the account has no workers.dev subdomain",
				"add `workers_dev_subdomain: <name>` at the top of the spec and apply registers it, or register one in the dashboard (Workers & Pages > your subdomain), then run again"))
		}
	}
	return errors.Join(errs...)
}

// planSubdomain decides the account-level workers.dev change: register the spec's subdomain on
// an account that has none. An account that has another one is refused: renaming it would move
// every worker's URL, this project's and others'.
func planSubdomain(s *spec.Spec, p *Plan) error {
	want := s.WorkersDevSubdomain
	switch {
	case want == "" || p.subdomain == want:
		return nil
	case p.subdomain == "":
		p.RegisterSubdomain = want
		p.subdomain = want
		return nil
	default:
		pos := s.WorkersDevSubdomainPos
		return &spec.Error{File: s.File, Line: pos.Line, Col: pos.Col,
			Msg: fmt.Sprintf("workers_dev_subdomain is %q, but the account's workers.dev subdomain is %q", want, p.subdomain),
			Fix: fmt.Sprintf("write `workers_dev_subdomain: %s` (renaming it would change the URL of every worker of the account)", p.subdomain)}
	}
}

// registerSubdomain sets the account's workers.dev subdomain.
func (e *Engine) registerSubdomain(ctx context.Context, accountID, name string) error {
	e.logf("account: registering workers.dev subdomain %s", name)
	_, err := e.workers.Subdomains.Update(ctx, sdkParams(func(p *workers.SubdomainUpdateParams) {
		setParam(&p.AccountID, accountID)
		setParam(&p.Subdomain, name)
	}))
	if err != nil {
		return fmt.Errorf("register workers.dev subdomain %s: %w", name, cleanAPIError(err))
	}
	return nil
}

// scriptAPIDateHeader date-versions the script subdomain endpoint (cloudflare-operations.md
// 7.3). wrangler sends it on POST .../workers/scripts/{name}/subdomain and nowhere else; what it
// changes is UNCONFIRMED, so flareform sends what wrangler sends, on that call only, and a body
// that names both fields, leaving no default to the server.
const (
	scriptAPIDateHeader = "Cloudflare-Workers-Script-Api-Date"
	scriptAPIDate       = "2025-08-01"
)

// setWorkersDev turns the script's workers.dev route on or off (previews always off).
func (e *Engine) setWorkersDev(ctx context.Context, accountID, name string, enabled bool) error {
	_, err := e.workers.Scripts.Subdomain.New(ctx, name, sdkParams(func(p *workers.ScriptSubdomainNewParams) {
		setParam(&p.AccountID, accountID)
		setParam(&p.Enabled, enabled)
		setParam(&p.PreviewsEnabled, false)
	}), option.WithHeader(scriptAPIDateHeader, scriptAPIDate))
	if err != nil {
		return fmt.Errorf("set workers.dev enabled=%t: %w", enabled, cleanAPIError(err))
	}
	return nil
}
