package localcf

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"

	"github.com/flareform/flareform/localcf/workerd"
)

// versionObject renders a version; resources adds what GET versions/{id} and POST versions show.
// The caller holds mu.
func versionObject(sc *script, v *version, resources bool) map[string]any {
	ann := map[string]string{"workers/triggered_by": v.TriggeredBy}
	if v.Message != "" {
		ann["workers/message"] = v.Message
	}
	if v.AnnotationTag != "" {
		ann["workers/tag"] = v.AnnotationTag
	}
	obj := map[string]any{
		"id": v.ID, "number": v.Number, "annotations": ann,
		"metadata": map[string]any{
			"author_email": "local@localcf.invalid", "author_id": "localcf",
			"created_on": v.CreatedOn.Format(timeFormat), "modified_on": v.CreatedOn.Format(timeFormat),
			"hasPreview": false, "source": v.Source,
		},
	}
	if resources {
		runtime := map[string]any{
			"compatibility_date": v.CompatibilityDate, "compatibility_flags": nonNil(v.CompatibilityFlags),
			"migration_tag": "", "usage_model": "standard",
		}
		if v.UsageModel != "" {
			runtime["usage_model"] = v.UsageModel
		}
		if len(v.Limits) > 0 && string(v.Limits) != "null" {
			runtime["limits"] = v.Limits
		}
		obj["resources"] = map[string]any{
			"bindings": publicBindings(v.Bindings),
			"script": map[string]any{
				"etag": v.Etag, "handlers": []string{"fetch"}, "named_handlers": []any{},
				"last_deployed_from": sc.LastDeployedFrom,
			},
			"script_runtime": runtime,
		}
	}
	return obj
}

// deployableVersions is how many of the newest versions a deployment may use (docs
// deployment-management.mdx: "the last 100 uploaded versions"; rollbacks.mdx says the same).
const deployableVersions = 100

// listVersions: newest first, page/per_page; deployable=true lists only the versions a
// deployment may use, all on one page (it ignores pagination).
func (s *Server) listVersions(c *call) *apiError {
	page, perPage := pageParams(c.r, 10)
	deployable, _ := strconv.ParseBool(c.r.URL.Query().Get("deployable"))
	s.mu.RLock()
	sc, apiErr := s.lookupScript(c.accountID, c.param("script"))
	var items []any
	if apiErr == nil {
		for i := len(sc.Versions) - 1; i >= 0; i-- {
			if deployable && !isDeployable(sc, sc.Versions[i]) {
				break
			}
			items = append(items, versionObject(sc, sc.Versions[i], false))
		}
	}
	s.mu.RUnlock()
	if apiErr != nil {
		return apiErr
	}
	total := len(items)
	if deployable {
		page, perPage = 1, max(total, 1)
	} else {
		items = pageOf(items, page, perPage)
	}
	if items == nil {
		items = []any{}
	}
	writeResultInfo(c.w, map[string]any{"items": items}, pageInfo{Page: page, PerPage: perPage, Count: len(items),
		TotalCount: total, TotalPages: int(math.Ceil(float64(total) / float64(perPage)))})
	return nil
}

// isDeployable reports whether v is among the script's newest deployableVersions versions.
// The caller holds mu or opMu.
func isDeployable(sc *script, v *version) bool {
	latest := sc.latestVersion()
	return latest != nil && latest.Number-v.Number < deployableVersions
}

func pageOf(items []any, page, perPage int) []any {
	start := (page - 1) * perPage
	if start >= len(items) {
		return nil
	}
	return items[start:min(start+perPage, len(items))]
}

func (s *Server) getVersion(c *call) *apiError {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, apiErr := s.lookupScript(c.accountID, c.param("script"))
	if apiErr != nil {
		return apiErr
	}
	v := sc.version(c.param("version"))
	if v == nil {
		return errVersionNotFound(c.param("version"))
	}
	writeResult(c.w, versionObject(sc, v, true))
	return nil
}

func errVersionNotFound(id string) *apiError {
	return newAPIError(http.StatusNotFound, codeScriptNotFound, "Version %s does not exist on this Worker.", id)
}

// postVersion uploads a version without deploying it. The first version of a new script is
// allowed (Cloudflare creates the script, with nothing deployed).
func (s *Server) postVersion(c *call) *apiError {
	sc, v, apiErr := s.commitUpload(c, func(_ *parsedUpload, _ *version, proc *workerd.Process) releaseOptions {
		return releaseOptions{source: sourceOf(c.r), triggeredBy: "version_upload", proc: proc}
	})
	if apiErr != nil {
		return apiErr
	}
	s.mu.RLock()
	obj := versionObject(sc, v, true)
	s.mu.RUnlock()
	obj["startup_time_ms"] = v.StartupTimeMs
	writeResult(c.w, obj)
	return nil
}

func deploymentObject(d *deployment) map[string]any {
	ann := map[string]string{"workers/triggered_by": d.TriggeredBy}
	if d.Message != "" {
		ann["workers/message"] = d.Message
	}
	return map[string]any{
		"id": d.ID, "created_on": d.CreatedOn.Format(timeFormat), "source": d.Source, "strategy": d.Strategy,
		"versions": d.Versions, "annotations": ann, "author_email": "local@localcf.invalid",
	}
}

// listDeployments: newest first.
func (s *Server) listDeployments(c *call) *apiError {
	s.mu.RLock()
	sc, apiErr := s.lookupScript(c.accountID, c.param("script"))
	list := []any{}
	if apiErr == nil {
		for i := len(sc.Deployments) - 1; i >= 0; i-- {
			list = append(list, deploymentObject(sc.Deployments[i]))
		}
	}
	s.mu.RUnlock()
	if apiErr != nil {
		return apiErr
	}
	writeResult(c.w, map[string]any{"deployments": list})
	return nil
}

func (s *Server) findDeployment(c *call) (*script, *deployment, *apiError) {
	sc, apiErr := s.lookupScript(c.accountID, c.param("script"))
	if apiErr != nil {
		return nil, nil, apiErr
	}
	id := normalizeUUID(c.param("deployment"))
	for _, d := range sc.Deployments {
		if d.ID == id {
			return sc, d, nil
		}
	}
	return nil, nil, newAPIError(http.StatusNotFound, codeScriptNotFound, "Deployment %s does not exist on this Worker.", c.param("deployment"))
}

func (s *Server) getDeployment(c *call) *apiError {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, d, apiErr := s.findDeployment(c)
	if apiErr != nil {
		return apiErr
	}
	writeResult(c.w, deploymentObject(d))
	return nil
}

// deleteDeployment removes a past deployment; the active one cannot be deleted.
func (s *Server) deleteDeployment(c *call) *apiError {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	sc, d, apiErr := s.findDeployment(c)
	if apiErr != nil {
		return apiErr
	}
	if d == sc.activeDeployment() {
		return errValidation("Deployment %s is the active deployment and cannot be deleted; deploy another version first.", d.ID)
	}
	s.mu.Lock()
	kept := make([]*deployment, 0, len(sc.Deployments)-1)
	for _, other := range sc.Deployments {
		if other != d {
			kept = append(kept, other)
		}
	}
	sc.Deployments = kept
	err := s.persistLocked()
	s.mu.Unlock()
	if err != nil {
		return errInternal(err)
	}
	writeResult(c.w, nil)
	return nil
}

type deploymentRequest struct {
	Strategy    string              `json:"strategy"`
	Versions    []deploymentVersion `json:"versions"`
	Annotations *annotations        `json:"annotations"`
}

// postDeployment shifts traffic to existing versions: one or two, each 0 to 100 percent, adding
// up to 100. The commit starts the version with the largest share; the data plane starts the
// other on its first request and splits traffic by the percentages (split.go). Without
// ?force=true a rollback across a secret change is refused with 10220 (checkSecretRollback).
func (s *Server) postDeployment(c *call) *apiError {
	req, apiErr := readDeploymentRequest(c.r)
	if apiErr != nil {
		return apiErr
	}
	force, _ := strconv.ParseBool(c.r.URL.Query().Get("force"))
	message := ""
	if req.Annotations != nil {
		message = truncate(req.Annotations.Message, 1000)
	}
	name := c.param("script")
	// The secret check runs again at commit, against the deployment active then: a deployment
	// committed meanwhile changes what this one rolls back from.
	secretCheck := func(sc *script) *apiError {
		if force || sc == nil {
			return nil
		}
		return s.checkSecretRollback(sc, req.Versions)
	}
	var d *deployment
	apiErr = s.applyStartedChange(c.r.Context(), startedChange{
		revision: func() string { return s.scriptIdentity(c.accountID, name) },
		prepare: func() (*version, *apiError) {
			main, apiErr := s.deploymentMain(c.accountID, name, req.Versions)
			if apiErr == nil {
				apiErr = secretCheck(s.existingScript(c.accountID, name))
			}
			return main, apiErr
		},
		start: func(ctx context.Context, main *version) (*workerd.Process, *apiError) {
			proc, _, apiErr := s.startChecked(ctx, liveKey{c.accountID, name}, main) // committed: its start-up time stays
			return proc, apiErr
		},
		commit: func(_ *version, proc *workerd.Process) *apiError {
			var apiErr *apiError
			_, d, apiErr = s.commit(c.accountID, name, nil, releaseOptions{deploy: true, source: sourceOf(c.r),
				triggeredBy: "deployment", message: message, proc: proc, deployments: req.Versions, check: secretCheck})
			return apiErr
		},
	})
	if apiErr != nil {
		return apiErr
	}
	writeResult(c.w, deploymentObject(d))
	return nil
}

// readDeploymentRequest decodes a deployment body and checks its shape: strategy "percentage",
// one or two versions.
func readDeploymentRequest(r *http.Request) (*deploymentRequest, *apiError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxMetadataBytes))
	if err != nil {
		return nil, newAPIError(http.StatusBadRequest, codeParseBody, "Could not read the request body.")
	}
	var req deploymentRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, newAPIError(http.StatusBadRequest, codeParseBody, "Could not parse the deployment: %v", err)
	}
	if req.Strategy != "percentage" {
		return nil, errValidation("strategy must be \"percentage\", got %q.", req.Strategy)
	}
	if len(req.Versions) == 0 || len(req.Versions) > 2 {
		return nil, errValidation("A deployment needs one or two versions, got %d.", len(req.Versions))
	}
	return &req, nil
}

// deploymentMain checks a deployment's versions against the script and returns the one with the
// largest share (the first of equal shares), which the commit starts. It normalises the version
// ids in place. Percentages must add up to exactly 100: the strict reading, as whether the API
// itself checks the sum is UNCONFIRMED (cloudflare-operations.md 1.5). The caller holds opMu.
func (s *Server) deploymentMain(accountID, name string, versions []deploymentVersion) (*version, *apiError) {
	sc, apiErr := s.lookupScript(accountID, name)
	if apiErr != nil {
		return nil, apiErr
	}
	var sum float64
	var main *version
	var mainShare float64 = -1
	for i, dv := range versions {
		v, apiErr := deploymentVersionOf(sc, dv)
		if apiErr != nil {
			return nil, apiErr
		}
		if i > 0 && versions[0].VersionID == v.ID {
			return nil, errValidation("Version %s appears twice in the deployment; list each version once.", v.ID)
		}
		versions[i].VersionID = v.ID
		sum += dv.Percentage
		if dv.Percentage > mainShare {
			main, mainShare = v, dv.Percentage
		}
	}
	if math.Abs(sum-100) > 1e-9 {
		return nil, errValidation("Version percentages add up to %v; they must add up to 100.", sum)
	}
	return main, nil
}

// deploymentVersionOf resolves one entry of a deployment: a deployable version of sc with a
// share from 0 (reachable only through the version override header) to 100.
func deploymentVersionOf(sc *script, dv deploymentVersion) (*version, *apiError) {
	v := sc.version(dv.VersionID)
	if v == nil {
		return nil, errVersionNotFound(dv.VersionID)
	}
	if dv.Percentage < 0 || dv.Percentage > 100 || math.IsNaN(dv.Percentage) {
		return nil, errValidation("Version %s has percentage %v; use 0 to 100.", dv.VersionID, dv.Percentage)
	}
	if !isDeployable(sc, v) {
		return nil, errValidation("Version %s is not among the %d most recent versions of this Worker and cannot be deployed.",
			v.ID, deployableVersions)
	}
	return v, nil
}
