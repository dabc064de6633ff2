package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/workers"
)

// liveWorker is what the API says about one script, reduced to what the diff compares.
type liveWorker struct {
	exists          bool
	compatDate      string
	compatFlags     []string
	aiBindings      []string          // names of ai bindings
	vars            map[string]string // plain_text bindings, reserved ones excluded
	reservedVars    map[string]string // reserved plain_text bindings, re-sent unchanged
	otherBindings   map[string]string // name -> type of bindings the spec cannot express
	secrets         map[string]bool   // secret_text binding names
	tags            []string
	bundleTag       string
	keyFingerprints map[string]string // binding -> fingerprint from ff-key tags
	workersDev      bool
	versionID       string // version serving 100% of traffic; "" when unknown
	// previousKey: API_KEY_PREVIOUS exists. Without it, an API_KEY_PREVIOUS_EXPIRES of
	// inertExpiry is a leftover that an API merging settings PATCHes would not drop (rotate_expiry.go).
	previousKey bool
}

// readLive reads a script's settings and, when it exists, its workers.dev state and current
// deployment (needed to roll back).
func (e *Engine) readLive(ctx context.Context, accountID, name string) (*liveWorker, error) {
	settings, err := e.getSettings(ctx, accountID, name)
	if err != nil {
		return nil, err
	}
	if settings == nil {
		return &liveWorker{}, nil
	}
	live := liveFromSettings(settings)
	sub, err := e.workers.Scripts.Subdomain.Get(ctx, name, workers.ScriptSubdomainGetParams{AccountID: cloudflare.F(accountID)})
	if err != nil {
		return nil, fmt.Errorf("read workers.dev state: %w", cleanAPIError(err))
	}
	live.workersDev = sub.Enabled
	if live.versionID, err = e.currentVersion(ctx, accountID, name); err != nil {
		return nil, err
	}
	return live, nil
}

// getSettings returns the script's settings, nil when the script does not exist.
func (e *Engine) getSettings(ctx context.Context, accountID, name string) (*workers.ScriptScriptAndVersionSettingGetResponse, error) {
	s, err := e.workers.Scripts.ScriptAndVersionSettings.Get(ctx, name,
		workers.ScriptScriptAndVersionSettingGetParams{AccountID: cloudflare.F(accountID)})
	if err != nil {
		err = cleanAPIError(err)
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read settings: %w", err)
	}
	return s, nil
}

func liveFromSettings(s *workers.ScriptScriptAndVersionSettingGetResponse) *liveWorker {
	live := &liveWorker{
		exists:          true,
		compatDate:      s.CompatibilityDate,
		compatFlags:     s.CompatibilityFlags,
		vars:            map[string]string{},
		reservedVars:    map[string]string{},
		otherBindings:   map[string]string{},
		secrets:         map[string]bool{},
		tags:            s.Tags,
		keyFingerprints: map[string]string{},
	}
	for _, b := range s.Bindings {
		switch typ := string(b.Type); {
		case reservedBindings[b.Name]:
			if typ == "plain_text" {
				live.reservedVars[b.Name] = b.Text
			} // reserved secrets survive through keep_bindings
			live.previousKey = live.previousKey || b.Name == RotationPreviousBinding
		case typ == "plain_text":
			live.vars[b.Name] = b.Text
		case typ == "secret_text":
			live.secrets[b.Name] = true
		case typ == "ai":
			live.aiBindings = append(live.aiBindings, b.Name)
		default:
			live.otherBindings[b.Name] = typ
		}
	}
	for _, t := range s.Tags {
		if strings.HasPrefix(t, bundleTagPrefix) {
			live.bundleTag = t
		}
	}
	for name := range live.secrets {
		prefix := keyTagPrefix(name)
		for _, t := range s.Tags {
			if strings.HasPrefix(t, prefix) {
				live.keyFingerprints[name] = strings.TrimPrefix(t, prefix)
			}
		}
	}
	return live
}

// currentVersion is the version serving all traffic according to the latest deployment.
func (e *Engine) currentVersion(ctx context.Context, accountID, name string) (string, error) {
	deps, err := e.workers.Scripts.Deployments.List(ctx, name, workers.ScriptDeploymentListParams{AccountID: cloudflare.F(accountID)})
	if err != nil {
		err = cleanAPIError(err)
		if isNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("read deployments: %w", err)
	}
	latest := -1
	for i, d := range deps.Deployments {
		if latest < 0 || d.CreatedOn.After(deps.Deployments[latest].CreatedOn) {
			latest = i
		}
	}
	if latest < 0 {
		return "", nil
	}
	for _, v := range deps.Deployments[latest].Versions {
		if v.Percentage >= 100 {
			return v.VersionID, nil
		}
	}
	return "", nil
}

// readAccount reads the account's workers.dev subdomain and, when listScripts is set, the
// names of its scripts, both at once. A plan of several workers lists the scripts so it reads
// only those that exist: on a fleet's first deploy that is one call instead of one per worker.
func (e *Engine) readAccount(ctx context.Context, accountID string, listScripts bool) (subdomain string, existing map[string]bool, err error) {
	var listErr error
	var wg sync.WaitGroup
	if listScripts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			existing, listErr = e.scriptNames(ctx, accountID)
		}()
	}
	subdomain, err = e.accountSubdomain(ctx, accountID)
	wg.Wait()
	if err = errors.Join(err, listErr); err != nil {
		return "", nil, err
	}
	return subdomain, existing, nil
}

// scriptNames is the set of the account's script names, from one list call.
func (e *Engine) scriptNames(ctx context.Context, accountID string) (map[string]bool, error) {
	page, err := e.workers.Scripts.List(ctx, workers.ScriptListParams{AccountID: cloudflare.F(accountID)})
	if err != nil {
		return nil, fmt.Errorf("list scripts: %w", cleanAPIError(err))
	}
	names := make(map[string]bool, len(page.Result))
	for _, sc := range page.Result {
		names[sc.ID] = true
	}
	return names, nil
}

// accountSubdomain is the account's workers.dev subdomain, "" when it has none.
func (e *Engine) accountSubdomain(ctx context.Context, accountID string) (string, error) {
	sub, err := e.workers.Subdomains.Get(ctx, workers.SubdomainGetParams{AccountID: cloudflare.F(accountID)})
	if err != nil {
		err = cleanAPIError(err)
		if isNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("read account workers.dev subdomain: %w", err)
	}
	return sub.Subdomain, nil
}
