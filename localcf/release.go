package localcf

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/flareform/flareform/internal/lazyre"
	"github.com/flareform/flareform/localcf/workerd"
)

// scriptNamePattern is the API's rule for script names (cloudflare-api.md §9.3).
var scriptNamePattern = lazyre.Regexp{Expr: `^[a-z0-9_][a-z0-9-_]*$`}

func checkScriptName(name string) *apiError {
	if len(name) > 63 || !scriptNamePattern.MatchString(name) {
		return newAPIError(http.StatusBadRequest, codeInvalidName,
			"Invalid Worker name %q: use at most 63 lowercase letters, digits, '-' and '_', not starting with '-'.", name)
	}
	return nil
}

// sourceOf maps the client to a version's metadata.source.
func sourceOf(r *http.Request) string {
	ua := strings.ToLower(r.UserAgent())
	switch {
	case strings.HasPrefix(ua, "wrangler"):
		return "wrangler"
	case strings.Contains(ua, "terraform"):
		return "terraform"
	}
	return "api"
}

// lookupScript returns the script or 10007; the caller holds mu or opMu.
func (s *Server) lookupScript(accountID, name string) (*script, *apiError) {
	sc := s.st.Accounts[accountID].Scripts[name]
	if sc == nil || len(sc.Versions) == 0 {
		return nil, errScriptNotFound()
	}
	return sc, nil
}

// newVersionFromUpload builds an uncommitted version from a parsed upload, resolving bindings
// against the script's latest version. The caller holds opMu.
// implicitSecrets keeps the previous version's secrets even without keep_bindings (a quirk).
func (s *Server) newVersionFromUpload(accountID, name string, u *parsedUpload, strict, implicitSecrets bool) (*version, *apiError) {
	if apiErr := checkCompatDate(deref(u.Meta.CompatibilityDate), s.opts.now()); apiErr != nil {
		return nil, apiErr
	}
	uploaded, apiErr := parseBindings(u.Meta.Bindings)
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := s.checkBindingTargets(accountID, uploaded); apiErr != nil {
		return nil, apiErr
	}
	sc := s.st.Accounts[accountID].Scripts[name]
	var previous *version
	if sc != nil {
		previous = sc.latestVersion()
	}
	resolver := bindingResolver{sealer: s.sealer, previous: previous, strict: strict, implicitSecrets: implicitSecrets,
		secretRename: s.Quirks().SecretRenameInherit, maxVars: s.opts.MaxVars, lookup: func(id string) *version {
			if sc == nil {
				return nil
			}
			return sc.version(id)
		}}
	bindings, apiErr := resolver.resolve(uploaded, u.Meta.KeepBindings)
	if apiErr != nil {
		return nil, apiErr
	}
	v := &version{
		MainModule:         u.Meta.MainModule,
		CompatibilityDate:  deref(u.Meta.CompatibilityDate),
		CompatibilityFlags: nonNil(u.Meta.CompatibilityFlags),
		Bindings:           bindings,
		UsageModel:         u.Meta.UsageModel,
		Limits:             u.Meta.Limits,
		Placement:          u.Meta.Placement,
	}
	if u.Meta.Annotations != nil {
		v.Message = truncate(u.Meta.Annotations.Message, 1000)
		v.AnnotationTag = truncate(u.Meta.Annotations.Tag, 100)
	}
	if err := s.storeModules(v, u.Modules); err != nil {
		return nil, errInternal(err)
	}
	return v, nil
}

// storeModules writes module bodies to the blob store and records them (and the etag) on v.
func (s *Server) storeModules(v *version, modules []uploadedModule) error {
	h := sha256.New()
	v.Modules = nil
	for _, m := range modules {
		id, err := s.blobs.put(m.Data)
		if err != nil {
			return err
		}
		v.Modules = append(v.Modules, moduleRef{Name: m.Name, ContentType: m.ContentType, Blob: id, Size: len(m.Data)})
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", m.Name, m.ContentType, id)
	}
	v.Etag = hex.EncodeToString(h.Sum(nil))
	return nil
}

// deriveVersion copies base as the starting point of a secret or settings edit.
func deriveVersion(base *version) *version {
	v := *base
	v.Bindings = append([]binding(nil), base.Bindings...)
	v.CompatibilityFlags = append([]string{}, base.CompatibilityFlags...)
	v.Modules = append([]moduleRef(nil), base.Modules...)
	v.Message, v.AnnotationTag = "", ""
	return &v
}

// workerFor turns a stored version into what workerd runs.
func (s *Server) workerFor(k liveKey, v *version) (workerd.Worker, error) {
	w := workerd.Worker{Name: k.script, MainModule: v.MainModule, CompatibilityDate: v.CompatibilityDate,
		CompatibilityFlags: v.CompatibilityFlags, Tail: tailWorkerConfig(k, v)}
	if w.CompatibilityDate == "" {
		w.CompatibilityDate = fallbackCompatDate
	}
	for _, m := range v.Modules {
		data, err := s.blobs.get(m.Blob)
		if err != nil {
			return w, fmt.Errorf("module %s: %w", m.Name, err)
		}
		t, apiErr := moduleType(m.ContentType, m.Name, m.Name == v.MainModule)
		if apiErr != nil {
			return w, apiErr
		}
		w.Modules = append(w.Modules, workerd.Module{Name: m.Name, Type: t, Content: data})
	}
	for _, b := range v.Bindings {
		wb, ok, err := s.workerdBinding(k.account, b)
		if err != nil {
			return w, err
		}
		if ok {
			w.Bindings = append(w.Bindings, wb)
		}
	}
	return w, nil
}

// workerdBinding converts the binding types the local runtime provides; others are skipped.
// Bindings served by localcf's binding backend get a config naming their account and target.
func (s *Server) workerdBinding(accountID string, b binding) (workerd.Binding, bool, error) {
	wb := workerd.Binding{Name: b.Name, Type: b.Type}
	var fields struct {
		Text string          `json:"text"`
		JSON json.RawMessage `json:"json"`
	}
	switch b.Type {
	case "ai", "ratelimit", "vectorize", "analytics_engine", "kv_namespace", "r2_bucket", "d1":
		cfg, err := backendConfig(accountID, b)
		if err != nil {
			return wb, false, fmt.Errorf("binding %s: %w", b.Name, err)
		}
		wb.Config = cfg
		return wb, true, nil
	case "plain_text", "json":
		if err := json.Unmarshal(b.Raw, &fields); err != nil {
			return wb, false, fmt.Errorf("binding %s: %w", b.Name, err)
		}
		wb.Text, wb.JSON = fields.Text, fields.JSON
		return wb, true, nil
	case "secret_text":
		text, err := s.sealer.secretText(b)
		if err != nil {
			return wb, false, err
		}
		wb.Text = text
		return wb, true, nil
	}
	return wb, false, nil
}

// startVersion runs v in a new workerd process: the start-up check of every change and the
// serving process of deployed versions.
func (s *Server) startVersion(ctx context.Context, k liveKey, v *version) (*workerd.Process, time.Duration, error) {
	w, err := s.workerFor(k, v)
	if err != nil {
		return nil, 0, err
	}
	if s.opts.startGate != nil {
		if err := s.opts.startGate(ctx, k.script); err != nil {
			return nil, 0, fmt.Errorf("start gate: %w", err)
		}
	}
	start := time.Now()
	proc, err := workerd.Start(ctx, workerd.Options{Binary: s.opts.WorkerdBinary, AIAddr: s.aiAddr, Log: s.opts.Log}, w)
	return proc, time.Since(start), err
}

// checkStartup starts v and maps a refusal to Cloudflare's 10021 with workerd's own message.
// It records the start-up time on v, which must not be committed yet.
func (s *Server) checkStartup(ctx context.Context, k liveKey, v *version) (*workerd.Process, *apiError) {
	proc, took, apiErr := s.startChecked(ctx, k, v)
	if apiErr == nil {
		v.StartupTimeMs = int(took.Milliseconds())
	}
	return proc, apiErr
}

// startChecked starts v (committed or not) and maps a refusal to 10021.
func (s *Server) startChecked(ctx context.Context, k liveKey, v *version) (*workerd.Process, time.Duration, *apiError) {
	proc, took, err := s.startVersion(ctx, k, v)
	if err != nil {
		var se *workerd.StartupError
		var ae *apiError
		switch {
		case errors.As(err, &se):
			return nil, 0, errValidation("Uncaught error while starting the Worker: %s", se.Message)
		case errors.As(err, &ae):
			return nil, 0, ae
		}
		return nil, 0, errInternal(fmt.Errorf("start workerd: %w", err))
	}
	return proc, took, nil
}

// releaseOptions describe how a checked version is committed.
type releaseOptions struct {
	deploy      bool
	source      string
	triggeredBy string
	message     string                     // deployment annotation
	update      func(sc *script)           // script-level changes made with the commit (tags, logpush, ...)
	check       func(sc *script) *apiError // refuses the commit before anything changes; sc nil = new script
	proc        *workerd.Process           // started process for v (deploy) or nil
	deployments []deploymentVersion        // nil = v at 100%
}

// commit appends v to the script (creating the script on first upload), optionally deploys it,
// persists, and swaps the data plane over. The caller holds opMu.
func (s *Server) commit(accountID, name string, v *version, o releaseOptions) (*script, *deployment, *apiError) {
	now := s.opts.now().UTC()
	s.mu.Lock()
	a := s.st.Accounts[accountID]
	sc := a.Scripts[name]
	if o.check != nil {
		if apiErr := o.check(sc); apiErr != nil {
			s.mu.Unlock()
			if o.proc != nil {
				o.proc.Close()
			}
			return nil, nil, apiErr
		}
	}
	if sc == nil {
		sc = &script{Name: name, Tag: randomHex(16), CreatedOn: now, Tags: nil}
		a.Scripts[name] = sc
	}
	if v != nil {
		v.ID = newUUID()
		v.Number = len(sc.Versions) + 1
		if last := sc.latestVersion(); last != nil {
			v.Number = last.Number + 1
		}
		v.CreatedOn = now
		v.Source = o.source
		v.TriggeredBy = o.triggeredBy
		sc.Versions = append(sc.Versions[:len(sc.Versions):len(sc.Versions)], v)
	}
	var d *deployment
	if o.deploy {
		d = &deployment{ID: newUUID(), CreatedOn: now, Source: o.source, Strategy: "percentage",
			Versions: o.deployments, Message: o.message, TriggeredBy: o.triggeredBy}
		if d.Versions == nil {
			d.Versions = []deploymentVersion{{VersionID: v.ID, Percentage: 100}}
		}
		sc.Deployments = append(sc.Deployments[:len(sc.Deployments):len(sc.Deployments)], d)
		sc.LastDeployedFrom = o.source
	}
	if o.update != nil {
		o.update(sc)
	}
	sc.ModifiedOn = now
	err := s.persistLocked()
	deployed := sc.deployedVersion()
	var active []string
	if ad := sc.activeDeployment(); ad != nil {
		active = ad.versionIDs()
	}
	s.mu.Unlock()
	if err != nil {
		if o.proc != nil {
			o.proc.Close()
		}
		return nil, nil, errInternal(err)
	}
	s.logChange(name, v, d)
	switch {
	case o.deploy && deployed != nil:
		// o.proc serves the main version; the deployment's other version starts on its first
		// request, and versions it dropped are retired.
		s.live.install(liveKey{accountID, name}, active, deployed.ID, o.proc)
	case o.proc != nil:
		o.proc.Close()
	}
	return sc, d, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// logChange writes one human line per committed change (never binding values).
func (s *Server) logChange(name string, v *version, d *deployment) {
	if v != nil {
		fmt.Fprintf(s.opts.Log, "localcf: %s: version %d (%s, %s) by %s, start-up %d ms\n", name, v.Number, v.ID, v.TriggeredBy, v.Source, v.StartupTimeMs)
	}
	if d != nil {
		fmt.Fprintf(s.opts.Log, "localcf: %s: deployment %s -> %v\n", name, d.ID, d.Versions)
	}
}
