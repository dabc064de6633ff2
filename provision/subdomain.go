package provision

import (
	"errors"

	"github.com/flareform/flareform/provision/spec"
)

// requireSubdomain refuses a plan that enables workers.dev on an account without a workers.dev
// subdomain. What the API answers to that is UNCONFIRMED (it may refuse, or accept a URL that
// cannot exist: docs/local-cloudflare.md, quirk workers_dev_without_subdomain); either way the
// deploy cannot be smoke tested, so the user hears it before anything is written.
func requireSubdomain(s *spec.Spec, subdomain string) error {
	if subdomain != "" {
		return nil
	}
	var errs []error
	for _, w := range s.Workers {
		if w.WorkersDev {
			errs = append(errs, specError(s, w, "workers_dev", "workers_dev is true, but the account has no workers.dev subdomain",
				"register one once per account (dashboard: Workers & Pages > your subdomain; or `wrangler subdomain <name>`; or PUT /accounts/{account_id}/workers/subdomain), then run again"))
		}
	}
	return errors.Join(errs...)
}
