package provision

import (
	"context"
	"errors"
	"fmt"

	"github.com/flareform/flareform/provision/spec"
)

// Output is the live state of one worker of the spec.
type Output struct {
	Key        string `json:"key"`
	Name       string `json:"name"`
	URL        string `json:"url,omitempty"`
	VersionID  string `json:"version_id,omitempty"`
	Exists     bool   `json:"exists"`
	WorkersDev bool   `json:"workers_dev"`
}

// Outputs reads, for every worker of the spec, whether it exists, its deployed version and its
// workers.dev URL.
func (e *Engine) Outputs(ctx context.Context, s *spec.Spec) ([]Output, error) {
	accountID, err := e.accountID(s.AccountID)
	if err != nil {
		return nil, err
	}
	subdomain, err := e.accountSubdomain(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("outputs: %w", err)
	}
	out := make([]Output, len(s.Workers))
	errs := make([]error, len(s.Workers))
	e.forEach(ctx, len(s.Workers), func(ctx context.Context, i int) {
		w := s.Workers[i]
		out[i], errs[i] = e.output(ctx, accountID, subdomain, w)
		if errs[i] != nil {
			errs[i] = fmt.Errorf("outputs %s: %w", w.Name, errs[i])
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func (e *Engine) output(ctx context.Context, accountID, subdomain string, w spec.Worker) (Output, error) {
	o := Output{Key: w.Key, Name: w.Name}
	settings, err := e.getSettings(ctx, accountID, w.Name)
	if err != nil || settings == nil {
		return o, err
	}
	o.Exists = true
	if o.WorkersDev, err = e.api.Script(accountID, w.Name).WorkersDev(ctx); err != nil {
		return o, fmt.Errorf("read workers.dev state: %w", err)
	}
	if o.WorkersDev && subdomain != "" {
		o.URL = workersDevURL(w.Name, subdomain)
	}
	if o.VersionID, err = e.currentVersion(ctx, accountID, w.Name); err != nil {
		return o, err
	}
	return o, nil
}
