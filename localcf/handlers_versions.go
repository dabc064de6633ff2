package localcf

import (
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

// listVersions: newest first, page/per_page (ignored with deployable=true).
func (s *Server) listVersions(c *call) *apiError {
	page, perPage := pageParams(c.r, 10)
	all, _ := strconv.ParseBool(c.r.URL.Query().Get("deployable"))
	s.mu.RLock()
	sc, apiErr := s.lookupScript(c.accountID, c.param("script"))
	var items []any
	total := 0
	if apiErr == nil {
		total = len(sc.Versions)
		for i := len(sc.Versions) - 1; i >= 0; i-- {
			items = append(items, versionObject(sc, sc.Versions[i], false))
		}
	}
	s.mu.RUnlock()
	if apiErr != nil {
		return apiErr
	}
	if !all {
		items = pageOf(items, page, perPage)
	}
	if items == nil {
		items = []any{}
	}
	writeResultInfo(c.w, map[string]any{"items": items}, pageInfo{Page: page, PerPage: perPage, Count: len(items),
		TotalCount: total, TotalPages: int(math.Ceil(float64(total) / float64(perPage)))})
	return nil
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

// postDeployment shifts traffic to existing versions (percentages must add up to 100). The
// local data plane serves the version with the largest share.
func (s *Server) postDeployment(c *call) *apiError {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxMetadataBytes))
	if err != nil {
		return newAPIError(http.StatusBadRequest, codeParseBody, "Could not read the request body.")
	}
	var req deploymentRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return newAPIError(http.StatusBadRequest, codeParseBody, "Could not parse the deployment: %v", err)
	}
	if req.Strategy != "percentage" {
		return errValidation("strategy must be \"percentage\", got %q.", req.Strategy)
	}
	if len(req.Versions) == 0 || len(req.Versions) > 2 {
		return errValidation("A deployment needs one or two versions, got %d.", len(req.Versions))
	}
	name := c.param("script")
	s.opMu.Lock()
	defer s.opMu.Unlock()
	sc, apiErr := s.lookupScript(c.accountID, name)
	if apiErr != nil {
		return apiErr
	}
	var sum float64
	var main *version
	var mainShare float64 = -1
	for i, dv := range req.Versions {
		v := sc.version(dv.VersionID)
		if v == nil {
			return errVersionNotFound(dv.VersionID)
		}
		if dv.Percentage < 0 || dv.Percentage > 100 {
			return errValidation("Version %s has percentage %v; use 0 to 100.", dv.VersionID, dv.Percentage)
		}
		req.Versions[i].VersionID = v.ID
		sum += dv.Percentage
		if dv.Percentage > mainShare {
			main, mainShare = v, dv.Percentage
		}
	}
	if math.Abs(sum-100) > 1e-9 {
		return errValidation("Version percentages add up to %v; they must add up to 100.", sum)
	}
	proc, _, apiErr := s.startChecked(c.r.Context(), liveKey{c.accountID, name}, main)
	if apiErr != nil {
		return apiErr
	}
	message := ""
	if req.Annotations != nil {
		message = truncate(req.Annotations.Message, 1000)
	}
	_, d, apiErr := s.commit(c.accountID, name, nil, releaseOptions{deploy: true, source: sourceOf(c.r),
		triggeredBy: "deployment", message: message, proc: proc, deployments: req.Versions})
	if apiErr != nil {
		return apiErr
	}
	writeResult(c.w, deploymentObject(d))
	return nil
}
