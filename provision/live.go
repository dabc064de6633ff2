package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/flareform/flareform/provision/cfapi"
	"github.com/flareform/flareform/provision/spec"
)

// liveWorker is what the API says about one script, reduced to what the diff compares.
type liveWorker struct {
	exists          bool
	compatDate      string
	compatFlags     []string
	aiBindings      []string                 // names of ai bindings
	vars            map[string]string        // plain_text bindings, reserved ones excluded
	reservedVars    map[string]string        // reserved plain_text bindings, re-sent unchanged
	otherBindings   map[string]string        // name -> type of bindings the spec cannot express
	rateLimits      map[string]liveRateLimit // ratelimit bindings by name
	vectorize       map[string]string        // vectorize binding name -> index name
	secrets         map[string]bool          // secret_text binding names
	tags            []string
	bundleTag       string
	keyFingerprints map[string]string // binding -> fingerprint from ff-key tags
	workersDev      bool
	versionID       string // version serving 100% of traffic; "" when unknown
	// split: the active deployment divides traffic between versions (a gradual deployment), so
	// no single version's code serves.
	split bool
	// canary is the split of the active deployment between a stable version and a newer one
	// (canary.go); when set, the fields the diff compares describe the canary version.
	canary *liveCanary
	// identified: the serving version carries flareform's annotation, so bundleTag and the key
	// fingerprints below come from the version itself.
	identified bool
	// newerUndeployed: a newer version than the serving one exists (a rollback). Secret and
	// settings edits, which rotation needs, are refused until the newest version is deployed.
	newerUndeployed bool
	// previousKey: API_KEY_PREVIOUS exists. Without it, an API_KEY_PREVIOUS_EXPIRES of
	// inertExpiry is a leftover that an API merging settings PATCHes would not drop (rotate_expiry.go).
	previousKey bool
	// smokePending: the serving version's annotation says an apply uploaded it to be
	// smoke-tested (smokemark.go); its tested tag says whether the test passed.
	smokePending bool
	// The consumer table as the serving version's annotation records it (consumers.go):
	// fingerprints of each consumer's key, of the table and of its salt, and the limiters.
	consumerFPs     map[string]string
	consumerLimits  map[string]string
	consumerTableFP string
	consumerSaltFP  string
	// consumerPrev are the consumers whose key rotation the annotation records (identity Prev).
	consumerPrev map[string]string
	// usageDataset is the dataset of the USAGE analytics_engine binding; "" without one.
	usageDataset string
	// storage is the KV, R2 and D1 bindings and the serving version's ownership marks
	// (kind_storage.go).
	storage liveStorage
	// secretFPs are the fingerprints of the spec's secrets besides the API key, by binding,
	// as the serving version's annotation records them (secrets.go).
	secretFPs map[string]string
}

// readLive reads everything plan compares about a script in one round trip: its settings,
// workers.dev state, deployments and newest version all at once (for a script that does not
// exist the last three answer 404, which costs nothing but the calls). Only the annotation of
// the serving version may need a second round trip, and none when this machine has seen that
// version before (versioncache.go).
func (e *Engine) readLive(ctx context.Context, accountID, name string) (*liveWorker, error) {
	var r liveReads
	parallel(
		func() { r.readSettings(ctx, e, accountID, name) },
		func() { r.readDeployed(ctx, e, accountID, name) },
		func() { r.readSubdomain(ctx, e, accountID, name) },
		func() { r.readLatest(ctx, e, accountID, name) },
	)
	if r.settingsErr != nil || r.settings == nil {
		return &liveWorker{}, r.settingsErr // the other reads found nothing either, or a script just made
	}
	parallel(
		func() {
			if r.depErr == nil {
				r.served, r.servedErr = e.identifyServed(ctx, accountID, name, r.identifies(), r.split)
			}
		},
		func() { r.readCanarySettings(ctx, e, accountID, name) },
	)
	return r.live()
}

// readLiveInTwo is readLive for a script this machine has never seen, which is most likely
// being created: the settings and deployments first (two calls, 404s for a new script), the rest
// only when it exists, alongside the serving version's annotation. A new script costs two calls
// instead of four; an existing one two round trips, as readLive without a cached annotation.
func (e *Engine) readLiveInTwo(ctx context.Context, accountID, name string) (*liveWorker, error) {
	var r liveReads
	parallel(
		func() { r.readSettings(ctx, e, accountID, name) },
		func() { r.readDeployed(ctx, e, accountID, name) },
	)
	if r.settingsErr != nil || r.settings == nil {
		return &liveWorker{}, r.settingsErr
	}
	parallel(
		func() { r.readSubdomain(ctx, e, accountID, name) },
		func() { r.readLatest(ctx, e, accountID, name) },
		func() {
			if r.depErr == nil {
				r.served, r.servedErr = e.identifyServed(ctx, accountID, name, r.identifies(), r.split)
			}
		},
		func() { r.readCanarySettings(ctx, e, accountID, name) },
	)
	return r.live()
}

// liveReads holds the answers of a script's reads until all are in.
type liveReads struct {
	settings    *cfapi.Settings
	settingsErr error
	workersDev  bool
	subErr      error
	deployed    string
	split       bool
	shares      []DeploymentShare // the active deployment
	depErr      error
	latest      string
	latestErr   error
	served      servedVersion
	servedErr   error
	// canarySettings are the canary's own settings when the deployment is split (canary.go).
	canarySettings *cfapi.Settings
	canaryErr      error
}

// readCanarySettings reads a split deployment's canary version: the diff compares the spec
// with it, not with whatever the script's settings describe during the split.
func (r *liveReads) readCanarySettings(ctx context.Context, e *Engine, accountID, name string) {
	if c := canaryOf(r.shares); c != nil && r.depErr == nil {
		r.canarySettings, r.canaryErr = e.api.Script(accountID, name).VersionSettings(ctx, c.ID)
	}
}

func (r *liveReads) readSettings(ctx context.Context, e *Engine, accountID, name string) {
	r.settings, r.settingsErr = e.getSettings(ctx, accountID, name)
}

func (r *liveReads) readDeployed(ctx context.Context, e *Engine, accountID, name string) {
	r.shares, r.depErr = e.activeShares(ctx, accountID, name)
	r.deployed, r.split = servedOf(r.shares)
}

func (r *liveReads) readSubdomain(ctx context.Context, e *Engine, accountID, name string) {
	r.workersDev, r.subErr = e.api.Script(accountID, name).WorkersDev(ctx)
}

func (r *liveReads) readLatest(ctx context.Context, e *Engine, accountID, name string) {
	r.latest, r.latestErr = e.latestVersion(ctx, accountID, name)
}

// live is the worker the reads describe, or the first of their errors.
func (r *liveReads) live() (*liveWorker, error) {
	if r.subErr != nil {
		return nil, fmt.Errorf("read workers.dev state: %w", r.subErr)
	}
	if err := errors.Join(r.depErr, r.latestErr, r.servedErr, r.canaryErr); err != nil {
		return nil, err
	}
	settings := r.settings
	if r.canarySettings != nil {
		cs := *r.canarySettings
		cs.Tags = r.settings.Tags // tags are the script's
		settings = &cs
	}
	live := liveFromSettings(settings)
	live.workersDev = r.workersDev
	live.applyServed(r.served)
	live.readCanary(r.shares)
	live.newerUndeployed = r.latest != "" && r.served.ID != "" && r.latest != r.served.ID
	if live.newerUndeployed && !live.identified {
		// The tags are the script's and were written by the newest upload, not by the version
		// that serves (another party's, deployed again after that upload, or a rollback to it):
		// they say nothing about its keys. Unknown, the key is sent again and a rotation keeps
		// the serving version's key as the previous one, so the key its clients hold still works.
		clear(live.keyFingerprints)
	}
	return live, nil
}

// parallel runs every fn at once and waits for all.
func parallel(fns ...func()) {
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Add(1)
		go func() { defer wg.Done(); fn() }()
	}
	wg.Wait()
}

// latestVersion is the id of the script's newest version ("" when unknown).
func (e *Engine) latestVersion(ctx context.Context, accountID, name string) (string, error) {
	id, err := e.api.Script(accountID, name).NewestVersion(ctx)
	if err != nil {
		if cfapi.IsNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("read versions: %w", err)
	}
	return id, nil
}

// applyServed takes what plan compares from the version that serves: its code identity and
// key fingerprints. Tags only fill in key fingerprints that no annotation vouches for.
func (live *liveWorker) applyServed(sv servedVersion) {
	live.versionID, live.split = sv.ID, sv.Split
	live.storage.version = sv.ID
	if !sv.Identified {
		return
	}
	live.identified = true
	live.bundleTag = sv.Identity.BundleTag
	live.smokePending = sv.Identity.SmokePending
	live.storage.marks = tagsOfMarks(sv.Identity.Own)
	live.storage.own = sv.Identity.Own
	if sv.Identity.Unbound != "" {
		live.storage.unbound = append(live.storage.unbound, sv.Identity.Unbound)
	}
	live.applySecrets(sv.Identity)
	for binding, fp := range sv.Identity.Keys {
		if live.secrets[binding] {
			live.keyFingerprints[binding] = fp
		}
	}
	live.applyConsumers(sv.Identity)
}

// servedVersion is the version the active deployment sends traffic to.
type servedVersion struct {
	ID         string // "" when no version serves all traffic
	Split      bool   // traffic is divided between versions
	Identified bool   // the version carries flareform's annotation
	Identity   versionIdentity
}

// servedVersion reads the active deployment and the annotation of the version it serves.
func (e *Engine) servedVersion(ctx context.Context, accountID, name string) (servedVersion, error) {
	id, split, err := e.deployedVersion(ctx, accountID, name)
	if err != nil {
		return servedVersion{Split: split}, err
	}
	return e.identifyServed(ctx, accountID, name, id, split)
}

// identifyServed completes what the deployments said serves (id, or a split) with the
// version's annotation: from the version cache, else one read.
func (e *Engine) identifyServed(ctx context.Context, accountID, name, id string, split bool) (servedVersion, error) {
	sv := servedVersion{ID: id, Split: split}
	if id == "" {
		return sv, nil
	}
	msg, found, err := e.versionMessageOf(ctx, accountID, name, id)
	if err != nil {
		return sv, err
	}
	if !found { // deleted meanwhile: plan sees an unknown version
		return sv, nil
	}
	sv.Identity, sv.Identified = parseIdentity(msg)
	return sv, nil
}

// versionMessage reads the workers/message annotation of a version's raw JSON (cfapi.Script.Version).
func versionMessage(raw string) string { return versionAnnotation(raw, "workers/message") }

// versionAnnotation reads one annotation of a version's raw JSON ("" when absent).
func versionAnnotation(raw, name string) string {
	var v struct {
		Annotations map[string]string `json:"annotations"`
	}
	if json.Unmarshal([]byte(raw), &v) != nil {
		return ""
	}
	return v.Annotations[name]
}

// getSettings returns the script's settings, nil when the script does not exist.
func (e *Engine) getSettings(ctx context.Context, accountID, name string) (*cfapi.Settings, error) {
	s, err := e.api.Script(accountID, name).Settings(ctx)
	if err != nil {
		if cfapi.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read settings: %w", err)
	}
	return s, nil
}

func liveFromSettings(s *cfapi.Settings) *liveWorker {
	live := &liveWorker{
		exists:          true,
		compatDate:      s.CompatibilityDate,
		compatFlags:     s.CompatibilityFlags,
		vars:            map[string]string{},
		reservedVars:    map[string]string{},
		otherBindings:   map[string]string{},
		rateLimits:      map[string]liveRateLimit{},
		vectorize:       map[string]string{},
		secrets:         map[string]bool{},
		tags:            s.Tags,
		keyFingerprints: map[string]string{},
	}
	for _, b := range s.Bindings {
		switch typ := b.Type; {
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
		case typ == "ratelimit":
			live.rateLimits[b.Name] = parseLiveRateLimit(b.NamespaceID, b.JSON)
		case typ == "vectorize":
			live.vectorize[b.Name] = b.IndexName
		case typ == "analytics_engine" && b.Name == spec.UsageBinding:
			live.usageDataset = datasetOf(b.JSON)
		case live.addStorage(b): // a KV, R2 or D1 binding
		default:
			live.otherBindings[b.Name] = typ
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
	id, _, err := e.deployedVersion(ctx, accountID, name)
	return id, err
}

// deployedVersion is the version serving all traffic according to the latest deployment; split
// is true when that deployment divides traffic between versions (then id is "").
func (e *Engine) deployedVersion(ctx context.Context, accountID, name string) (id string, split bool, err error) {
	shares, err := e.activeShares(ctx, accountID, name)
	id, split = servedOf(shares)
	return id, split, err
}

// activeShares is the latest deployment's versions and their shares, in the API's order; nil
// when the script has no deployment (or does not exist).
func (e *Engine) activeShares(ctx context.Context, accountID, name string) ([]DeploymentShare, error) {
	deps, err := e.api.Script(accountID, name).Deployments(ctx)
	if err != nil {
		if cfapi.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read deployments: %w", err)
	}
	latest := -1
	for i, d := range deps {
		if latest < 0 || d.Created.After(deps[latest].Created) {
			latest = i
		}
	}
	if latest < 0 {
		return nil, nil
	}
	shares := make([]DeploymentShare, 0, len(deps[latest].Versions))
	for _, v := range deps[latest].Versions {
		shares = append(shares, DeploymentShare{VersionID: canonicalUUID(v.VersionID), Percentage: v.Percentage})
	}
	return shares, nil
}

// servedOf is the version a deployment sends all traffic to, or split when it divides it.
func servedOf(shares []DeploymentShare) (id string, split bool) {
	for _, v := range shares {
		if v.Percentage >= 100 {
			return v.VersionID, false
		}
	}
	return "", len(shares) > 1
}

// readAccount reads the account's workers.dev subdomain and, when listScripts is set, its
// scripts with their tags, both at once. A plan of several workers lists the scripts so it reads
// only those that exist (on a fleet's first deploy that is one call instead of one per worker),
// and a plan of a spec with a project lists them to find the project's removed workers.
func (e *Engine) readAccount(ctx context.Context, accountID string, listScripts bool) (subdomain string, existing map[string][]string, err error) {
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

// scriptNames maps the account's script names to their tags, from one list call.
func (e *Engine) scriptNames(ctx context.Context, accountID string) (map[string][]string, error) {
	scripts, err := e.api.Account(accountID).Scripts(ctx)
	if err != nil {
		return nil, fmt.Errorf("list scripts: %w", err)
	}
	names := make(map[string][]string, len(scripts))
	for _, sc := range scripts {
		names[sc.Name] = append([]string{}, sc.Tags...)
	}
	return names, nil
}

// accountSubdomain is the account's workers.dev subdomain, "" when it has none.
func (e *Engine) accountSubdomain(ctx context.Context, accountID string) (string, error) {
	sub, err := e.api.Account(accountID).Subdomain(ctx)
	if err != nil {
		if cfapi.IsNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("read account workers.dev subdomain: %w", err)
	}
	return sub, nil
}

// liveRateLimit is a ratelimit binding as the API reports it.
type liveRateLimit struct {
	namespaceID   string
	limit, period int
}

func (r liveRateLimit) String() string {
	return fmt.Sprintf("%d per %ds (namespace %s)", r.limit, r.period, r.namespaceID)
}

// parseLiveRateLimit reads the binding's `simple` limit from its JSON (cfapi.Binding.JSON).
func parseLiveRateLimit(namespaceID, raw string) liveRateLimit {
	var v struct {
		Simple rateLimitSimple `json:"simple"`
	}
	_ = json.Unmarshal([]byte(raw), &v) // a binding without a readable limit diffs as changed
	return liveRateLimit{namespaceID: namespaceID, limit: v.Simple.Limit, period: v.Simple.Period}
}

// applyConsumers takes the consumer table's record from the serving version's annotation; a
// worker without the table secret has none, whatever the annotation says.
func (live *liveWorker) applyConsumers(id versionIdentity) {
	live.consumerFPs, live.consumerLimits = map[string]string{}, map[string]string{}
	if !live.secrets[spec.ConsumerTableBinding] {
		return
	}
	live.consumerTableFP = id.Keys[spec.ConsumerTableBinding]
	if live.secrets[spec.ConsumerSaltBinding] {
		live.consumerSaltFP = id.Keys[spec.ConsumerSaltBinding]
	}
	for binding, fp := range id.Keys {
		if name, ok := strings.CutPrefix(binding, "consumer:"); ok {
			live.consumerFPs[name] = fp
		}
	}
	for name, l := range id.Limits {
		live.consumerLimits[name] = l
	}
	live.consumerPrev = maps.Clone(id.Prev)
}

// datasetOf reads an analytics_engine binding's dataset from its JSON (cfapi.Binding.JSON).
func datasetOf(raw string) string {
	var v struct {
		Dataset string `json:"dataset"`
	}
	_ = json.Unmarshal([]byte(raw), &v) // unreadable: no dataset, which diffs as changed
	return v.Dataset
}
