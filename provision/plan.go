package provision

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flareform/flareform/bundler"
	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision/spec"
)

// Action is what apply does to one worker.
type Action string

// Actions a plan can hold.
const (
	ActionCreate Action = "create"
	ActionUpdate Action = "update"
	ActionDelete Action = "delete"
	ActionNoOp   Action = "no-op"
)

// Change operations.
const (
	OpAdd    = "add"
	OpChange = "change"
	OpRemove = "remove"
)

// Names of the bindings and tags the engine manages or must leave alone.
const (
	modelVar        = "AI_MODEL"
	managedTag      = "flareform"
	bundleTagPrefix = "ff-bundle-"
	defaultAIName   = "AI"
)

// reservedBindings belong to future key rotation: plans ignore them and uploads keep them.
var reservedBindings = map[string]bool{
	"API_KEY_PREVIOUS":         true,
	"API_KEY_PREVIOUS_EXPIRES": true,
}

// Plan is what apply will do, computed from the spec and the live API. It marshals to JSON
// without any secret; the unexported desired state (bundle, keys) does not survive that.
type Plan struct {
	AccountID string       `json:"account_id"`
	Destroy   bool         `json:"destroy"`
	Workers   []WorkerPlan `json:"workers"`
	// Resources is every change in the order apply makes it: AI Gateways and Vectorize indexes
	// to create or update, then the workers (as in Workers), then gateways and indexes to delete.
	Resources []ResourcePlan `json:"resources"`
	// RegisterSubdomain is the workers.dev subdomain apply registers for the account first
	// (the spec's workers_dev_subdomain, on an account that has none).
	RegisterSubdomain string `json:"register_workers_dev_subdomain,omitempty"`
	// Skipped names the spec's workers a --target run left out: the plan neither read nor
	// changes them (nor the gateways and indexes they use).
	Skipped []string `json:"skipped,omitempty"`
	// Warnings are what the plan found that does not stop it: a model the Workers AI catalog
	// gives a planned_deprecation_date still ahead.
	Warnings []Warning `json:"warnings,omitempty"`

	subdomain      string        // account workers.dev subdomain, "" when it has none
	readAt         time.Time     // when the plan's reads completed; zero for a plan read back from a file
	skippedWorkers []spec.Worker // the workers behind Skipped
}

// WorkerPlan is the plan for one worker of the spec.
type WorkerPlan struct {
	Key     string   `json:"key"`
	Name    string   `json:"name"`
	Action  Action   `json:"action"`
	Changes []Change `json:"changes"`
	URL     string   `json:"url,omitempty"`
	// KeyRotationUntil is the end of a key-rotation grace window the live worker holds
	// (RFC 3339): information, not a change.
	KeyRotationUntil string `json:"key_rotation_until,omitempty"`
	// Canary is the split deployment apply makes or changes for this worker (canary.go); nil
	// when it deploys at 100% or deploys nothing.
	Canary *CanaryPlan `json:"canary,omitempty"`

	desired *desiredWorker
	live    *liveWorker
	// deleteRead is what the plan read of a worker it deletes: the delete's precondition (guard.go).
	deleteRead *workerRead
}

// Change is one difference between the live worker and the spec. A secret only ever appears as
// "(sensitive, …)" with words that depend on the state alone ("new", "changed"): never its
// value, nor a fingerprint (see diffKey).
type Change struct {
	Path string `json:"path"`
	Op   string `json:"op"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
}

// freshPlan is how old a plan's reads may be for apply to write on them without reading the
// worker again first: about the time an apply that follows its plan at once takes to start.
const freshPlan = 2 * time.Second

// fresh reports whether the plan's reads ended within freshPlan (never for a plan read back
// from a file, which has no time).
func (p *Plan) fresh() bool { return !p.readAt.IsZero() && time.Since(p.readAt) < freshPlan }

// HasChanges reports whether applying p would change anything.
func (p *Plan) HasChanges() bool {
	if p.RegisterSubdomain != "" {
		return true
	}
	for _, w := range p.Workers {
		if w.Action != ActionNoOp {
			return true
		}
	}
	for _, r := range p.Resources {
		if r.Action != ActionNoOp {
			return true
		}
	}
	return false
}

// desiredWorker is everything apply needs to make the worker match the spec.
type desiredWorker struct {
	worker     spec.Worker
	bundle     *bundler.Result
	bundleTag  string
	projectTag string            // ff-project-… of the spec's project; "" when it has none
	vars       map[string]string // plain_text bindings, AI_MODEL included
	keepVars   map[string]string // reserved plain_text bindings carried over unchanged
	key        string            // resolved env/file key; "" when generated or unmanaged
	keyFP      string            // fingerprint of key this plan uses (the live one when it matches)
	keyTag     string            // tag to upload; "" when unknown
	genKey     bool              // apply generates a new key
	sendKey    bool              // the upload carries the secret_text key
	upload     bool
	workersDev *bool // non-nil: set the script's workers.dev state
	tags       []string
	// finishRotation: the live worker's key-rotation window has ended; apply removes the
	// previous key and its expiry (the worker already refuses that key).
	finishRotation bool
	// rotateFrom is set (the version the plan read) when an env/file key changed on a worker
	// with the rotation contract: the upload keeps the old key as API_KEY_PREVIOUS until
	// rotateUntil, so clients holding it are not cut off. Apply finds that key among the
	// caller's (previousKey, resolvePreviousKeys) before it writes anything.
	rotateFrom  string
	rotateUntil string
	rotatedFP   string // fingerprint of the key being retired
	previousKey string // the key being retired, sent as API_KEY_PREVIOUS
	// rateLimitNS is the RATE_LIMITER binding's namespace_id: the live one, else a new one.
	rateLimitNS string
	// canary is the split deployment apply makes or changes (canary.go); nil: the upload
	// deploys at 100%.
	canary *CanaryPlan
	// consumers is the consumer table (consumers.go); nil when the worker has none.
	consumers *consumersDesired
	// applied is what apply made for the consumer table just before the upload.
	applied *consumerApply
	// storage are the KV, R2 and D1 bindings the upload sends, and ownMarks the ownership
	// marks its annotation records (kind_storage.go).
	storage  []storageBind
	ownMarks []string
	// unbound is the annotation's unbound= field (kind_unbound.go); "" when nothing is pending.
	unbound string
	// secrets are the secrets besides the API key (secrets.go); nil when the worker has none.
	secrets *secretsDesired
}

// speculativeReadWorkers is the largest spec whose workers are read before the script list
// says which exist, saving the round trip of waiting for it. A worker this machine has seen a
// version of is read all at once (four calls); any other most likely does not exist yet, and
// only its settings and deployments are read first (readLiveInTwo). With the account reads that
// is at most 14 calls, and the model check adds one catalog search per distinct model: up to 16
// fit the pacer's first burst and the in-flight limit and go out at once (only three workers
// seen before, with three different models, make 17, and one read waits a round trip).
const speculativeReadWorkers = 3

// Plan bundles every worker, reads its live state and diffs the two.
func (e *Engine) Plan(ctx context.Context, s *spec.Spec) (*Plan, error) {
	accountID, err := e.accountID(s.AccountID)
	if err != nil {
		return nil, err
	}
	full := s
	s, skipped, err := TargetWorkers(s, e.cfg.Targets)
	if err != nil {
		return nil, err
	}
	var tooBig []error
	for _, w := range s.Workers {
		tooBig = append(tooBig, checkIdentityFits(s, w))
	}
	if err := errors.Join(tooBig...); err != nil {
		return nil, err
	}
	p := &Plan{AccountID: accountID, Workers: make([]WorkerPlan, len(s.Workers)), Skipped: skippedNames(skipped), skippedWorkers: skipped}
	project := projectTag(s.Project, s.Env)
	// The script list tells a fleet's workers that exist, and a project's removed workers.
	listScripts := len(s.Workers) > 1 || project != ""
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := e.startPlanReads(ctx, cancel, s, accountID, listScripts)
	if err := r.firstError(s); err != nil {
		return nil, err
	}
	p.subdomain = r.subdomain
	p.Warnings = r.warnings
	existing := r.existing
	bundles := r.bundles
	if err := requireSubdomain(s, p.subdomain); err != nil {
		return nil, err
	}
	if err := planSubdomain(s, p); err != nil {
		return nil, err
	}
	// From every worker of the spec, so a targeted run picks the same ids as a full one.
	namespaces := rateLimitNamespaces(accountID, full.Workers)
	limiterNS := consumerNamespaces(accountID, full.Workers, namespaces)
	if e.storedKeys == nil {
		e.storedKeys = e.keyLookup(s)
	}
	errs := make([]error, len(s.Workers))
	e.forEach(ctx, len(s.Workers), func(ctx context.Context, i int) {
		w := s.Workers[i]
		live, err := &liveWorker{}, error(nil)
		switch _, listed := existing[w.Name]; {
		case r.speculated:
			live, err = r.lives[i], r.liveErrs[i]
		case existing == nil || listed:
			live, err = e.readLive(ctx, accountID, w.Name)
		}
		if err != nil {
			errs[i] = fmt.Errorf("plan %s: %w", w.Name, err)
			return
		}
		if err := checkOwner(s, w, live, project, slices.Contains(e.cfg.Adopt, w.Name)); err != nil {
			errs[i] = err
			return
		}
		p.Workers[i], errs[i] = e.diffWorker(w, bundles[i], live, p.subdomain, project, namespaces[w.Name])
		if errs[i] != nil {
			errs[i] = withSpecPosition(s, w, "api_key.from", errs[i])
			return
		}
		fillLimiterNamespaces(p.Workers[i].desired, limiterNS[w.Name])
	})
	p.readAt = time.Now()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(skipped) == 0 { // a targeted run deletes no worker it was not pointed at
		p.Workers = append(p.Workers, removedWorkers(s, existing, project)...)
	}
	if err := e.readDeleted(ctx, p); err != nil {
		return nil, err
	}
	if err := e.planAccountResources(ctx, s, p, existing, project); err != nil {
		return nil, err
	}
	return p, nil
}

// planReads are what a plan reads (and bundles) before it diffs.
type planReads struct {
	bundles              []*bundler.Result
	subdomain            string
	existing             map[string][]string // nil: unknown, read every worker
	speculated           bool                // lives holds every worker's reads
	lives                []*liveWorker
	liveErrs             []error
	bundleErr, modelsErr error
	accountErr           error
	warnings             []Warning // the model check's
}

// startPlanReads starts everything a plan needs at once and waits for it: bundling, the model
// check, the account reads and, for a small spec, every worker's reads, so a plan costs one
// round trip (two when the serving version's annotation is not cached). A fleet's workers wait
// for the script list instead (listScripts), which spares the reads of the workers that do not
// exist yet. A bundling error cancels ctx: the reads are no longer needed.
func (e *Engine) startPlanReads(ctx context.Context, cancel context.CancelFunc, s *spec.Spec, accountID string, listScripts bool) *planReads {
	r := &planReads{lives: make([]*liveWorker, len(s.Workers)), liveErrs: make([]error, len(s.Workers))}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if r.bundles, r.bundleErr = e.bundleAll(ctx, s); r.bundleErr != nil {
			cancel()
		}
	}()
	go func() { defer wg.Done(); r.warnings, r.modelsErr = e.checkModels(ctx, s, accountID) }()
	if r.speculated = len(s.Workers) <= speculativeReadWorkers; r.speculated {
		for i, w := range s.Workers {
			wg.Add(1)
			read := e.readLiveInTwo
			if e.versions.known(e.cfg.APIBaseURL, accountID, w.Name) {
				read = e.readLive // seen before: it most likely exists, so all reads go at once
			}
			go func() { defer wg.Done(); r.lives[i], r.liveErrs[i] = read(ctx, accountID, w.Name) }()
		}
	}
	r.subdomain, r.existing, r.accountErr = e.readAccount(ctx, accountID, listScripts)
	wg.Wait()
	return r
}

// firstError is the error the user should see first: the JavaScript's, then the spec's, then
// the account's (worker reads' errors are reported per worker).
func (r *planReads) firstError(s *spec.Spec) error {
	switch {
	case r.bundleErr != nil:
		return r.bundleErr
	case r.modelsErr != nil:
		return r.modelsErr
	case r.accountErr != nil:
		// An account-level read, but the user acts on workers: say which ones it stopped.
		return fmt.Errorf("plan %s: %w", workerNames(s), r.accountErr)
	}
	return nil
}

// checkOwner refuses to plan changes to a script that another flareform project (or another
// environment of this one) deployed, or that flareform did not deploy at all unless the run
// adopts it: applying would take it over from its owner.
func checkOwner(s *spec.Spec, w spec.Worker, live *liveWorker, project string, adopt bool) error {
	if live.exists && !adopt && !slices.Contains(live.tags, managedTag) {
		return specError(s, w, "name", fmt.Sprintf("script %s already exists on the account and flareform did not deploy it (no %q tag)", w.Name, managedTag),
			fmt.Sprintf("to take it over, run `flareform apply --adopt %s` once (`plan --adopt %s` shows what changes); or give this worker another name (`name:`)", w.Name, w.Name))
	}
	for _, t := range live.tags {
		if strings.HasPrefix(t, projectTagPrefix) && t != project {
			return specError(s, w, "name", fmt.Sprintf("script %s belongs to another flareform project or environment (tag %s)", w.Name, t),
				"give this worker another name (`name:`), or deploy it from the spec that owns it")
		}
	}
	return nil
}

// removedWorkers plans the deletion of the project's workers that the spec no longer names.
// Only scripts carrying this project's tag qualify: hand-made scripts and other projects'
// workers are never touched.
func removedWorkers(s *spec.Spec, scripts map[string][]string, project string) []WorkerPlan {
	if project == "" {
		return nil
	}
	inSpec := map[string]bool{}
	for _, w := range s.Workers {
		inSpec[w.Name] = true
	}
	var out []WorkerPlan
	for _, name := range sortedKeys(scripts) {
		if !inSpec[name] && slices.Contains(scripts[name], project) {
			out = append(out, WorkerPlan{Key: name, Name: name, Action: ActionDelete,
				Changes: []Change{{Path: "script", Op: OpRemove, Old: name + " (no longer in the spec)"}}})
		}
	}
	return out
}

// workerNames lists the spec's script names, for errors that concern all of them.
func workerNames(s *spec.Spec) string {
	names := make([]string, len(s.Workers))
	for i, w := range s.Workers {
		names[i] = w.Name
	}
	return strings.Join(names, ", ")
}

// PlanDestroy plans deleting every worker of the spec that exists; no other script.
func (e *Engine) PlanDestroy(ctx context.Context, s *spec.Spec) (*Plan, error) {
	accountID, err := e.accountID(s.AccountID)
	if err != nil {
		return nil, err
	}
	s, skipped, err := TargetWorkers(s, e.cfg.Targets)
	if err != nil {
		return nil, err
	}
	p := &Plan{AccountID: accountID, Destroy: true, Skipped: skippedNames(skipped), skippedWorkers: skipped}
	// One list call tells which scripts exist and whose they are, however many there are.
	scripts, err := e.scriptNames(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("plan destroy %s: %w", workerNames(s), err)
	}
	project := projectTag(s.Project, s.Env)
	for _, w := range s.Workers {
		wp := WorkerPlan{Key: w.Key, Name: w.Name, Action: ActionNoOp}
		if tags, ok := scripts[w.Name]; ok && ownedBy(tags, project) {
			wp.Action = ActionDelete
			wp.Changes = []Change{{Path: "script", Op: OpRemove, Old: w.Name}}
		}
		p.Workers = append(p.Workers, wp)
	}
	if len(skipped) == 0 {
		p.Workers = append(p.Workers, removedWorkers(s, scripts, project)...)
	}
	if err := e.readDeleted(ctx, p); err != nil {
		return nil, err
	}
	if err := e.planDestroyResources(ctx, s, p, scripts); err != nil {
		return nil, err
	}
	return p, nil
}

// ownedBy reports whether a script with tags was deployed by flareform for project (""
// for a spec without a project: then any flareform-managed script that is not another
// project's).
func ownedBy(tags []string, project string) bool {
	if !slices.Contains(tags, managedTag) {
		return false // created by hand or another tool: never destroyed
	}
	for _, t := range tags {
		if strings.HasPrefix(t, projectTagPrefix) {
			return t == project
		}
	}
	return true // flareform's, from before projects were recorded
}

// bundleAll bundles every worker's main module; JS errors point at the spec's `main` line.
func (e *Engine) bundleAll(ctx context.Context, s *spec.Spec) ([]*bundler.Result, error) {
	// Workers that share an entry file (a fleet of one code base) share one bundle, and
	// distinct entries are bundled in parallel: esbuild is safe to call concurrently.
	type output struct {
		res     *bundler.Result
		err     error
		sizeErr error // the bundle is over Cloudflare's size limit
	}
	// Every file a bundle reads must lie in the spec's project tree (see bundler.Options.Tree).
	tree, err := s.Tree()
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	outputs := map[bundler.Options]*output{}
	for _, w := range s.Workers {
		in := bundleOptions(s.Dir, tree, w)
		if outputs[in] == nil {
			outputs[in] = &output{}
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for in, o := range outputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			o.res, o.err = e.bundles.Bundle(ctx, in)
			if o.err == nil {
				o.sizeErr = checkBundleSize(o.res)
			}
		}()
	}
	wg.Wait()

	out := make([]*bundler.Result, len(s.Workers))
	var jsErrors spec.ErrorList
	for i, w := range s.Workers {
		o := outputs[bundleOptions(s.Dir, tree, w)]
		var be *bundler.Error
		switch {
		case errors.As(o.err, &be):
			jsErrors = append(jsErrors, specError(s, w, "main", bundleMessage(be), be.Fix("fix the JavaScript error and plan again")))
		case o.err != nil:
			return nil, fmt.Errorf("plan %s: bundle: %w", w.Name, o.err)
		case o.sizeErr != nil:
			jsErrors = append(jsErrors, specError(s, w, "main", o.sizeErr.Error(), "make the Worker smaller: drop large dependencies or data, and fetch data at run time"))
		default:
			out[i] = o.res
		}
	}
	return out, errorListOrNil(jsErrors)
}

// bundleOptions is what a worker's bundle depends on; workers with equal options share one
// (tree is the same pointer for every worker of a spec). The source map names sources
// relative to the spec's directory ("src/lib/x.js"), so the uploaded map can be read without
// the project (the local Cloudflare maps errors with it). The bundle reads files of the
// spec's project tree only: a refused import is a bundle error at the worker's main line.
func bundleOptions(projectDir string, tree *confined.Tree, w spec.Worker) bundler.Options {
	return bundler.Options{Entry: w.Main, NodeCompat: w.NodeCompat(), SourceRoot: projectDir, Tree: tree}
}

// errorListOrNil keeps a nil list from turning into a non-nil error; one error is returned as
// the plain *spec.Error.
func errorListOrNil(l spec.ErrorList) error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	default:
		return l
	}
}

func bundleMessage(be *bundler.Error) string {
	msgs := make([]string, len(be.Messages))
	for i, m := range be.Messages {
		msgs[i] = m.String()
	}
	if len(msgs) == 0 {
		return be.Error()
	}
	return "bundle failed: " + strings.Join(msgs, "; ")
}

// specError is an error at the spec line where field of w was written.
func specError(s *spec.Spec, w spec.Worker, field, msg, fix string) *spec.Error {
	pos, ok := w.Pos[field]
	for !ok && field != "" { // fall back to the enclosing block, then the worker itself
		field = field[:max(strings.LastIndex(field, "."), 0)]
		pos, ok = w.Pos[field]
	}
	return &spec.Error{File: s.File, Line: pos.Line, Col: pos.Col,
		Msg: fmt.Sprintf("workers.%s: %s", w.Key, msg), Fix: fix}
}

// withSpecPosition ties key-resolution errors to the api_key line; other errors pass through.
func withSpecPosition(s *spec.Spec, w spec.Worker, field string, err error) error {
	if at, ok := secretSpecErrors(s, w, err); ok {
		return at // at each secret's own line
	}
	var ke *keySourceError
	if errors.As(err, &ke) {
		fix := "set the key source or switch to `from: generate`"
		if rule := (*keysource.Error)(nil); errors.As(err, &rule) {
			fix = rule.Fix + ", or switch to `from: generate`"
		}
		return specError(s, w, field, ke.Error(), fix)
	}
	return err
}

type keySourceError struct{ err error }

func (e *keySourceError) Error() string { return e.err.Error() }
func (e *keySourceError) Unwrap() error { return e.err }

// diffWorker compares the spec with the live worker and decides the action.
// ns is the namespace_id for a RATE_LIMITER binding the live worker does not have yet.
func (e *Engine) diffWorker(w spec.Worker, b *bundler.Result, live *liveWorker, subdomain, project, ns string) (WorkerPlan, error) {
	d := &desiredWorker{
		worker:     w,
		projectTag: project,
		bundle:     b,
		bundleTag:  bundleTagPrefix + b.Hash[:16],
		vars:       desiredVars(w),
		keepVars:   live.reservedVars,
	}
	var changes []Change
	add := func(c Change) { changes = append(changes, c) }

	diffCode(d, live, add)
	diffUntested(live, add)
	diffScalar("compatibility_date", live.exists, live.compatDate, w.CompatibilityDate, add)
	diffScalar("compatibility_flags", live.exists, strings.Join(sortedCopy(live.compatFlags), ","),
		strings.Join(sortedCopy(w.CompatibilityFlags), ","), add)
	diffAI(w, live, add)
	diffVars(d.vars, withoutUsageVar(live.vars), add)
	diffUsage(w, live, add)
	diffRateLimit(d, live, ns, add)
	diffVectorize(w, live, add)
	diffOtherBindings(live, add)
	if err := e.diffKey(d, live, add); err != nil {
		return WorkerPlan{}, err
	}
	if err := e.diffConsumers(d, live, e.storedKeys, add); err != nil {
		return WorkerPlan{}, err
	}
	if err := e.diffSecrets(d, live, add); err != nil {
		return WorkerPlan{}, err
	}
	if live.exists && project != "" && !slices.Contains(live.tags, project) {
		add(Change{Path: "project", Op: OpAdd, New: project})
	}
	d.upload = len(changes) > 0
	diffWorkersDev(d, live, add)
	diffExpiredRotation(d, live, time.Now(), add)
	if err := diffCanary(d, live, e.cfg.Canary, add); err != nil {
		return WorkerPlan{}, err
	}
	d.tags = uploadTags(d, live)

	wp := WorkerPlan{Key: w.Key, Name: w.Name, Changes: changes, Canary: d.canary, desired: d, live: live}
	switch {
	case !live.exists:
		wp.Action = ActionCreate
	case len(changes) > 0:
		wp.Action = ActionUpdate
	default:
		wp.Action = ActionNoOp
	}
	if host := smokeHost(w, subdomain); host != "" {
		wp.URL = "https://" + host
	}
	wp.KeyRotationUntil, _ = wp.PendingRotation()
	return wp, nil
}

func workersDevURL(name, subdomain string) string {
	return "https://" + name + "." + subdomain + ".workers.dev"
}

// desiredVars is the spec's vars plus AI_MODEL and AI_GATEWAY_ID, which the engine adds for the
// worker's code.
func desiredVars(w spec.Worker) map[string]string {
	vars := maps.Clone(w.Vars)
	if vars == nil {
		vars = map[string]string{}
	}
	if w.AI != nil {
		vars[modelVar] = w.AI.Model
		if w.AI.Gateway != nil {
			vars[spec.AIGatewayVar] = w.AI.Gateway.ID
		}
	}
	return vars
}

func diffCode(d *desiredWorker, live *liveWorker, add func(Change)) {
	switch {
	case !live.exists:
		add(Change{Path: "code", Op: OpAdd, New: d.bundleTag})
	case live.bundleTag == d.bundleTag && live.newerUndeployed:
		// The spec's code serves, but after a rollback: a newer version exists, and until the
		// newest version is deployed Cloudflare refuses secret and settings edits (rotation).
		add(Change{Path: "code", Op: OpChange, Old: live.bundleTag + " (rolled back; a newer version is not deployed)", New: d.bundleTag})
	case live.bundleTag != d.bundleTag:
		old := live.bundleTag
		switch {
		case live.split:
			old = "(a gradual deployment splits traffic between versions)"
		case old == "":
			old = "(unknown: the serving version was deployed outside flareform)"
		}
		add(Change{Path: "code", Op: OpChange, Old: old, New: d.bundleTag})
	}
}

func diffScalar(path string, exists bool, old, want string, add func(Change)) {
	switch {
	case !exists:
		if want != "" {
			add(Change{Path: path, Op: OpAdd, New: want})
		}
	case old != want:
		op := OpChange
		if want == "" {
			op = OpRemove
		} else if old == "" {
			op = OpAdd
		}
		add(Change{Path: path, Op: op, Old: old, New: want})
	}
}

func diffAI(w spec.Worker, live *liveWorker, add func(Change)) {
	want := ""
	if w.AI != nil {
		want = aiBindingName(w.AI)
	}
	diffScalar("ai.binding", live.exists, strings.Join(live.aiBindings, ","), want, add)
}

func aiBindingName(a *spec.AIBinding) string {
	if a.Binding == "" {
		return defaultAIName
	}
	return a.Binding
}

func diffVars(want, have map[string]string, add func(Change)) {
	for _, name := range sortedKeys(want) {
		old, ok := have[name]
		switch {
		case !ok:
			add(Change{Path: "vars." + name, Op: OpAdd, New: want[name]})
		case old != want[name]:
			add(Change{Path: "vars." + name, Op: OpChange, Old: old, New: want[name]})
		}
	}
	for _, name := range sortedKeys(have) {
		if _, ok := want[name]; !ok {
			add(Change{Path: "vars." + name, Op: OpRemove, Old: have[name]})
		}
	}
}

// diffOtherBindings lists bindings the spec cannot express; an upload would drop them.
func diffOtherBindings(live *liveWorker, add func(Change)) {
	for _, name := range sortedKeys(live.otherBindings) {
		add(Change{Path: "bindings." + name, Op: OpRemove, Old: live.otherBindings[name]})
	}
}

// How a plan describes a managed key. A plan never shows a key, nor a fingerprint: a new
// key's fingerprint has a fresh random salt, so it would differ on every run, and two plans of
// the same state must read the same (a reviewer matches a pull request's plan to main's).
// Fingerprints stay in script tags, version annotations, apply and rotate-key results and
// saved plan files (docs/design/fingerprints.md).
const (
	keyNew            = "(sensitive, new)"
	keyGenerated      = "(sensitive, new, generated on apply)"
	keyLive           = "(sensitive)"
	keyChanged        = "(sensitive, changed)"
	keyLiveUnknown    = "(sensitive, fingerprint unknown)"
	keySentAgain      = "(sensitive, sent again: the live key cannot be compared)"
	keyChangedGrace   = "(sensitive, changed; rotating: the old key keeps working for %s after apply)"
	keySentAgainGrace = "(sensitive, sent again: the live key cannot be compared; rotating: the old key keeps working for %s after apply)"
)

// diffKey decides whether the managed key must be (re)sent. Values are never compared, only
// fingerprints recorded in the script's tags; the change shows neither (see keyNew).
func (e *Engine) diffKey(d *desiredWorker, live *liveWorker, add func(Change)) error {
	src := d.worker.APIKey
	if src == nil {
		return nil
	}
	path := "secrets." + src.Binding
	liveFP := live.keyFingerprints[src.Binding]
	hasSecret := live.secrets[src.Binding]
	if hasSecret && liveFP != "" {
		d.keyTag = keyTag(src.Binding, liveFP)
	}
	if src.From == keyFromGenerate {
		if !hasSecret {
			d.genKey, d.sendKey = true, true
			add(Change{Path: path, Op: OpAdd, New: keyGenerated})
		}
		return nil
	}
	key, err := resolveKey(src, e.cfg.Getenv)
	if err != nil {
		return &keySourceError{err: err}
	}
	d.key = key
	if hasSecret && e.fingerprints.matches(liveFP, d.worker.Name, src.Binding, key) {
		d.keyFP = liveFP
		return nil
	}
	fp := e.fingerprints.forKey(d.worker.Name, src.Binding, key)
	d.keyFP = fp
	if !hasSecret {
		add(Change{Path: path, Op: OpAdd, New: keyNew})
	} else {
		old, newDesc, graceDesc := keyLive, keyChanged, keyChangedGrace
		if liveFP == "" {
			old, newDesc, graceDesc = keyLiveUnknown, keySentAgain, keySentAgainGrace
		}
		if src.Binding == RotationKeyBinding && live.versionID != "" {
			// Zero downtime: the old key stays valid for the grace window (docs/rotation.md).
			// The deadline is counted from this plan, which apply makes just before it writes;
			// the change names the window, not the deadline, so it reads the same on every run.
			grace := src.Grace
			if grace <= 0 {
				grace = DefaultGrace
			}
			d.rotateFrom, d.rotatedFP = live.versionID, liveFP
			d.rotateUntil = time.Now().Add(grace).UTC().Format(time.RFC3339)
			newDesc = fmt.Sprintf(graceDesc, graceText(grace))
		}
		add(Change{Path: path, Op: OpChange, Old: old, New: newDesc})
	}
	d.sendKey = true
	d.keyTag = keyTag(src.Binding, fp)
	return nil
}

// graceText writes a grace window the way the spec does: 24h, 90m, 1h30m, 45s.
func graceText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// diffWorkersDev decides the POST .../subdomain call. The default state of a new script is not
// documented, so a create always sets it.
func diffWorkersDev(d *desiredWorker, live *liveWorker, add func(Change)) {
	want := d.worker.WorkersDev
	if live.exists && live.workersDev == want {
		return
	}
	d.workersDev = &want
	switch {
	case !live.exists:
		if want {
			add(Change{Path: "workers_dev", Op: OpAdd, New: "true"})
		}
	default:
		add(Change{Path: "workers_dev", Op: OpChange, Old: fmt.Sprint(live.workersDev), New: fmt.Sprint(want)})
	}
}

// uploadTags keeps tags set by others, replaces flareform's own. The code's identity is on the
// version (its annotation), not in a tag: scripts may have as few as 8 tags.
func uploadTags(d *desiredWorker, live *liveWorker) []string {
	tags := []string{managedTag}
	if d.projectTag != "" {
		tags = append(tags, d.projectTag)
	}
	if d.keyTag != "" {
		tags = append(tags, d.keyTag)
	}
	for _, t := range live.tags {
		if d.rotateFrom != "" && (strings.HasPrefix(t, prevTagPrefix) || strings.HasPrefix(t, pendingTagPrefix)) {
			continue // replaced: this upload starts a new rotation window
		}
		if !isFlareformTag(t) {
			tags = append(tags, t)
		}
	}
	if d.rotateFrom != "" && d.rotatedFP != "" {
		tags = append(tags, prevTagPrefix+tagSafe(RotationKeyBinding)+"-"+d.rotatedFP)
	}
	return tags
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
