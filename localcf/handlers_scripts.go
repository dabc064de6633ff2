package localcf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/flareform/flareform/localcf/workerd"
)

const timeFormat = time.RFC3339Nano

// putScript uploads a script (creating it) and deploys the new version at 100%.
func (s *Server) putScript(c *call) *apiError {
	q := s.Quirks()
	sc, v, apiErr := s.commitUpload(c, func(u *parsedUpload, v *version, proc *workerd.Process) releaseOptions {
		return releaseOptions{
			deploy: true, source: sourceOf(c.r), triggeredBy: "upload", message: v.Message, proc: proc,
			update: func(sc *script) {
				tags := u.Meta.Tags
				if !q.ScriptTagsReplace {
					tags = mergeTags(sc.Tags, tags)
				}
				applyScriptLevel(sc, u.Meta, tags)
			},
			check: func(sc *script) *apiError { return s.checkUploadTags(sc, u.Meta.Tags, q) },
		}
	})
	if apiErr != nil {
		return apiErr
	}
	s.mu.RLock()
	obj := scriptObject(sc, v)
	s.mu.RUnlock()
	obj["startup_time_ms"] = v.StartupTimeMs
	obj["entry_point"] = v.MainModule
	if q.DeploymentID {
		// wrangler reads it as the new version's id; the SDK's type has no such field.
		obj["deployment_id"] = strings.ReplaceAll(v.ID, "-", "")
	}
	writeResult(c.w, obj)
	return nil
}

// mergeTags is the strict reading of an upload's tags: added to the script's (nil = unchanged).
func mergeTags(have, add []string) []string {
	if add == nil {
		return nil
	}
	out := slices.Clone(have)
	for _, t := range add {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// checkUploadTags refuses an upload that would leave the script (nil when new) with more
// than 8 tags, unless the no_tag_limit quirk is on.
func (s *Server) checkUploadTags(sc *script, tags []string, q Quirks) *apiError {
	if tags == nil || q.NoTagLimit {
		return nil
	}
	if !q.ScriptTagsReplace && sc != nil {
		tags = mergeTags(sc.Tags, tags)
	}
	return checkTagCount(tags, q)
}

// checkTagCount enforces the 8-tag limit on the tag set a change would leave.
func checkTagCount(tags []string, q Quirks) *apiError {
	if q.NoTagLimit || len(tags) <= maxScriptTags {
		return nil
	}
	return errValidation("A Worker can have at most %d tags; this change would give it %d (%s).", maxScriptTags, len(tags), strings.Join(tags, ", "))
}

// commitUpload is what every code upload (script PUT, versions POST) does: check the name,
// parse and validate the multipart body, build the version, prove it starts in workerd, and
// commit it with the release options the caller derives from the upload. The workerd start
// runs without any global lock (startedChange): uploads of different scripts (a fleet deploy)
// start their processes in parallel, and an upload overlapping another change of its script is
// rebuilt on the new state, as if it had arrived later.
func (s *Server) commitUpload(c *call, release func(*parsedUpload, *version, *workerd.Process) releaseOptions) (*script, *version, *apiError) {
	name := c.param("script")
	if apiErr := checkScriptName(name); apiErr != nil {
		return nil, nil, apiErr
	}
	q := s.Quirks()
	u, apiErr := parseUpload(c.r.Header.Get("Content-Type"), c.r.Body, s.opts.MaxScriptBytes, !q.MainModuleByFilename)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	strict := c.r.URL.Query().Get("bindings_inherit") == "strict"
	var sc *script
	var committed *version
	apiErr = s.applyStartedChange(c.r.Context(), startedChange{
		revision: func() string { return s.latestVersionID(c.accountID, name) },
		prepare: func() (*version, *apiError) {
			return s.newVersionFromUpload(c.accountID, name, u, strict, q.ImplicitSecretRetention)
		},
		start: s.startNew(c.accountID, name),
		commit: func(v *version, proc *workerd.Process) *apiError {
			var apiErr *apiError
			sc, _, apiErr = s.commit(c.accountID, name, v, release(u, v, proc))
			committed = v
			return apiErr
		},
	})
	if apiErr != nil {
		return nil, nil, apiErr
	}
	return sc, committed, nil
}

// applyScriptLevel copies the unversioned settings an upload may carry onto the script; tags
// is the script's new tag set (nil = unchanged), which the caller derives from m.Tags.
func applyScriptLevel(sc *script, m uploadMetadata, tags []string) {
	if tags != nil {
		sc.Tags = append([]string{}, tags...)
	}
	if m.Logpush != nil {
		sc.Logpush = *m.Logpush
	}
	if len(m.Observability) > 0 && string(m.Observability) != "null" {
		sc.Observability = m.Observability
	}
	if len(m.TailConsumers) > 0 {
		sc.TailConsumers = m.TailConsumers
	}
}

// scriptObject is the script as PUT, list and services show it; v is the version whose code it
// describes. The caller holds mu.
func scriptObject(sc *script, v *version) map[string]any {
	obj := map[string]any{
		"id": sc.Name, "tag": sc.Tag, "etag": "",
		"created_on": sc.CreatedOn.Format(timeFormat), "modified_on": sc.ModifiedOn.Format(timeFormat),
		"handlers": []string{"fetch"}, "named_handlers": []any{},
		"has_assets": false, "has_modules": true, "logpush": sc.Logpush,
		"last_deployed_from": sc.LastDeployedFrom, "migration_tag": "",
		"observability": observabilityOf(sc), "tags": tagsOf(sc), "tail_consumers": rawOrNull(sc.TailConsumers),
		"usage_model": "standard", "compatibility_date": "", "compatibility_flags": []string{},
	}
	if v != nil {
		obj["etag"] = v.Etag
		obj["compatibility_date"] = v.CompatibilityDate
		obj["compatibility_flags"] = nonNil(v.CompatibilityFlags)
		if v.UsageModel != "" {
			obj["usage_model"] = v.UsageModel
		}
		if len(v.Placement) > 0 && string(v.Placement) != "null" {
			obj["placement"] = v.Placement
		}
	}
	return obj
}

func observabilityOf(sc *script) any {
	if len(sc.Observability) == 0 {
		return map[string]any{"enabled": false}
	}
	return sc.Observability
}

func tagsOf(sc *script) []string {
	return nonNil(sc.Tags)
}

func rawOrNull(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return raw
}

// servingVersion is the deployed version, or the latest when nothing is deployed.
func (sc *script) servingVersion() *version {
	if v := sc.deployedVersion(); v != nil {
		return v
	}
	return sc.latestVersion()
}

// listScripts: GET /workers/scripts, with the optional tags=a:yes,b:no filter.
func (s *Server) listScripts(c *call) *apiError {
	filter := parseTagFilter(c.r.URL.Query().Get("tags"))
	s.mu.RLock()
	list := []any{}
	for _, sc := range s.st.Accounts[c.accountID].sortedScripts() {
		if len(sc.Versions) == 0 || !filter.matches(sc.Tags) {
			continue
		}
		obj := scriptObject(sc, sc.servingVersion())
		obj["routes"] = []any{}
		list = append(list, obj)
	}
	s.mu.RUnlock()
	writeResult(c.w, list)
	return nil
}

type tagFilter map[string]bool // tag -> must have (true) / must not have (false)

func parseTagFilter(q string) tagFilter {
	f := tagFilter{}
	for _, item := range strings.Split(q, ",") {
		tag, want, ok := strings.Cut(strings.TrimSpace(item), ":")
		if item == "" {
			continue
		}
		f[tag] = !ok || want != "no"
	}
	return f
}

func (f tagFilter) matches(tags []string) bool {
	have := map[string]bool{}
	for _, t := range tags {
		have[t] = true
	}
	for tag, want := range f {
		if have[tag] != want {
			return false
		}
	}
	return true
}

// searchScripts: GET /workers/scripts-search?name=...
func (s *Server) searchScripts(c *call) *apiError {
	q := strings.ToLower(c.r.URL.Query().Get("name"))
	s.mu.RLock()
	list := []any{}
	for _, sc := range s.st.Accounts[c.accountID].sortedScripts() {
		if len(sc.Versions) == 0 || !strings.Contains(sc.Name, q) {
			continue
		}
		list = append(list, map[string]any{"id": sc.Tag, "script_name": sc.Name,
			"created_on": sc.CreatedOn.Format(timeFormat), "modified_on": sc.ModifiedOn.Format(timeFormat)})
	}
	s.mu.RUnlock()
	page, perPage := pageParams(c.r, 50)
	writeResultInfo(c.w, list, pageInfo{Page: page, PerPage: perPage, Count: len(list), TotalCount: len(list), TotalPages: 1})
	return nil
}

// downloadScript is the old raw download: the main module's bytes, no envelope.
func (s *Server) downloadScript(c *call) *apiError {
	v, apiErr := s.pickVersion(c, (*script).servingVersion)
	if apiErr != nil {
		return apiErr
	}
	for _, m := range v.Modules {
		if m.Name != v.MainModule {
			continue
		}
		data, err := s.blobs.get(m.Blob)
		if err != nil {
			return errInternal(err)
		}
		c.w.Header().Set("Content-Type", "application/javascript")
		_, _ = c.w.Write(data)
		return nil
	}
	return errInternal(fmt.Errorf("main module %s missing", v.MainModule))
}

// getContent: GET content/v2, multipart with one part per module and cf-entrypoint.
func (s *Server) getContent(c *call) *apiError {
	v, apiErr := s.pickVersion(c, (*script).servingVersion)
	if apiErr != nil {
		return apiErr
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, m := range v.Modules {
		data, err := s.blobs.get(m.Blob)
		if err != nil {
			return errInternal(err)
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, m.Name, m.Name))
		if m.ContentType != "" {
			h.Set("Content-Type", m.ContentType)
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			return errInternal(err)
		}
		_, _ = pw.Write(data)
	}
	if err := mw.Close(); err != nil {
		return errInternal(err)
	}
	c.w.Header().Set("Content-Type", mw.FormDataContentType())
	c.w.Header().Set("cf-entrypoint", v.MainModule)
	_, _ = c.w.Write(buf.Bytes())
	return nil
}

// putContent replaces only the code: a new version from the latest one, deployed.
func (s *Server) putContent(c *call) *apiError {
	name := c.param("script")
	rawMeta, modules, apiErr := parseMultipart(c.r.Header.Get("Content-Type"), c.r.Body, "metadata", s.opts.MaxScriptBytes)
	if apiErr != nil {
		return apiErr
	}
	u := &parsedUpload{Modules: modules}
	if rawMeta != nil {
		if err := decodeStrict(rawMeta, &u.Meta); err != nil {
			return newAPIError(http.StatusBadRequest, codeParseBody, "Could not parse the metadata part as JSON: %v", err)
		}
	}
	if u.Meta.MainModule == "" {
		u.Meta.MainModule = c.r.Header.Get("CF-WORKER-MAIN-MODULE-PART")
	}
	if u.Meta.BodyPart == "" {
		u.Meta.BodyPart = c.r.Header.Get("CF-WORKER-BODY-PART")
	}
	if !s.Quirks().MainModuleByFilename {
		u.nameModulesByPart()
	}
	if apiErr := u.checkModules(); apiErr != nil {
		return apiErr
	}
	var sc *script
	var v *version
	apiErr = s.applyStartedChange(c.r.Context(), startedChange{
		revision: func() string { return s.latestVersionID(c.accountID, name) },
		prepare: func() (*version, *apiError) {
			sc, apiErr := s.lookupScript(c.accountID, name)
			if apiErr != nil {
				return nil, apiErr
			}
			next := deriveVersion(sc.latestVersion())
			next.MainModule = u.Meta.MainModule
			if err := s.storeModules(next, u.Modules); err != nil {
				return nil, errInternal(err)
			}
			return next, nil
		},
		start: s.startNew(c.accountID, name),
		commit: func(next *version, proc *workerd.Process) *apiError {
			var apiErr *apiError
			sc, _, apiErr = s.commit(c.accountID, name, next, releaseOptions{deploy: true, source: sourceOf(c.r), triggeredBy: "upload", proc: proc})
			v = next
			return apiErr
		},
	})
	if apiErr != nil {
		return apiErr
	}
	s.mu.RLock()
	obj := scriptObject(sc, v)
	s.mu.RUnlock()
	writeResult(c.w, obj)
	return nil
}

// deleteScript: DELETE /workers/scripts/{name} and /workers/services/{name} (wrangler). The
// script's custom domains are detached with it (account.detachDomains).
func (s *Server) deleteScript(c *call) *apiError {
	name := c.param("script")
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if _, apiErr := s.lookupScript(c.accountID, name); apiErr != nil {
		return apiErr
	}
	s.mu.Lock()
	a := s.st.Accounts[c.accountID]
	delete(a.Scripts, name)
	a.detachDomains(name)
	err := s.persistLocked()
	s.mu.Unlock()
	s.live.remove(liveKey{c.accountID, name})
	fmt.Fprintf(s.opts.Log, "localcf: %s: deleted\n", name)
	if err != nil {
		return errInternal(err)
	}
	writeResult(c.w, nil)
	return nil
}

// getService is the service object wrangler reads before deploying: 10090 when absent.
func (s *Server) getService(c *call) *apiError {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, apiErr := s.lookupScript(c.accountID, c.param("script"))
	if apiErr != nil {
		return newAPIError(http.StatusNotFound, codeServiceNotFound, "workers.api.error.environment_not_found")
	}
	env := map[string]any{
		"environment": "production", "created_on": sc.CreatedOn.Format(timeFormat), "modified_on": sc.ModifiedOn.Format(timeFormat),
		"script": scriptObject(sc, sc.servingVersion()),
	}
	writeResult(c.w, map[string]any{
		"id": sc.Name, "default_environment": env, "environments": []any{env},
		"created_on": sc.CreatedOn.Format(timeFormat), "modified_on": sc.ModifiedOn.Format(timeFormat),
	})
	return nil
}

// getWorker is the newer Workers API object (wrangler reads subdomain.enabled from it).
func (s *Server) getWorker(c *call) *apiError {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, apiErr := s.lookupScript(c.accountID, c.param("script"))
	if apiErr != nil {
		return apiErr
	}
	var deployedOn any
	if d := sc.activeDeployment(); d != nil {
		deployedOn = d.CreatedOn.Format(timeFormat)
	}
	writeResult(c.w, map[string]any{
		"id": sc.Tag, "name": sc.Name,
		"created_on": sc.CreatedOn.Format(timeFormat), "updated_on": sc.ModifiedOn.Format(timeFormat), "deployed_on": deployedOn,
		"logpush": sc.Logpush, "observability": observabilityOf(sc), "references": referencesObject(),
		"subdomain": sc.Subdomain, "tags": tagsOf(sc), "tail_consumers": nonNilRaw(sc.TailConsumers),
	})
	return nil
}

func nonNilRaw(raw json.RawMessage) any {
	if len(raw) == 0 || string(raw) == "null" {
		return []any{}
	}
	return raw
}

func referencesObject() map[string]any {
	return map[string]any{
		"services":           map[string]any{"incoming": []any{}, "outgoing": []any{}, "pages_function": false},
		"durable_objects":    []any{},
		"dispatch_outbounds": []any{},
	}
}

func (s *Server) getReferences(c *call) *apiError {
	s.mu.RLock()
	_, apiErr := s.lookupScript(c.accountID, c.param("script"))
	s.mu.RUnlock()
	if apiErr != nil {
		return apiErr
	}
	writeResult(c.w, referencesObject())
	return nil
}

// pickVersion looks up the request's script under the read lock and returns the version pick
// chooses (serving or latest). Versions are immutable once committed, so the caller may use
// the result after the lock is released.
func (s *Server) pickVersion(c *call, pick func(*script) *version) (*version, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, apiErr := s.lookupScript(c.accountID, c.param("script"))
	if apiErr != nil {
		return nil, apiErr
	}
	return pick(sc), nil
}
