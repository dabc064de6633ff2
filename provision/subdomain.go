package provision

import (
	"context"
	"errors"
	"fmt"

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
	if err := e.api.Account(accountID).RegisterSubdomain(ctx, name); err != nil {
		return fmt.Errorf("register workers.dev subdomain %s: %w", name, err)
	}
	return nil
}

// setWorkersDev turns the script's workers.dev route on or off (previews always off; the
// request carries the date header wrangler sends there, cfapi.Script.SetWorkersDev).
func (e *Engine) setWorkersDev(ctx context.Context, accountID, name string, enabled bool) error {
	if err := e.api.Script(accountID, name).SetWorkersDev(ctx, enabled); err != nil {
		return fmt.Errorf("set workers.dev enabled=%t: %w", enabled, err)
	}
	return nil
}
