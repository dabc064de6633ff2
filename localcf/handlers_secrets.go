package localcf

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
)

func errLatestNotDeployed() *apiError {
	return newAPIError(http.StatusBadRequest, codeNotDeployed,
		"The latest version of this Worker is not currently deployed; deploy it before editing secrets or settings (or use version-level edits).")
}

func errSecretNotFound(name string) *apiError {
	return newAPIError(http.StatusNotFound, 10056, "Secret %q does not exist on this Worker.", name)
}

// editLatest makes a new version from the latest one, changed by edit, checks it in workerd and
// deploys it. Secret and settings edits go through here (10215 unless the latest is deployed).
func (s *Server) editLatest(c *call, triggeredBy string, edit func(v *version) *apiError, update func(sc *script)) (*script, *version, *apiError) {
	name := c.param("script")
	s.opMu.Lock()
	defer s.opMu.Unlock()
	sc, apiErr := s.lookupScript(c.accountID, name)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	if !sc.latestIsDeployed() {
		return nil, nil, errLatestNotDeployed()
	}
	v := deriveVersion(sc.latestVersion())
	if apiErr := edit(v); apiErr != nil {
		return nil, nil, apiErr
	}
	if apiErr := checkVarCount(v.Bindings, s.opts.MaxVars); apiErr != nil {
		return nil, nil, apiErr
	}
	proc, apiErr := s.checkStartup(c.r.Context(), liveKey{c.accountID, name}, v)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	sc, _, apiErr = s.commit(c.accountID, name, v, releaseOptions{deploy: true, source: sourceOf(c.r),
		triggeredBy: triggeredBy, proc: proc, update: update})
	return sc, v, apiErr
}

// readSecretBody parses one secret object ({name, text, type} or a secret_key) from JSON.
func readSecretBody(raw json.RawMessage) (uploadedBinding, *apiError) {
	b, apiErr := parseBinding(0, raw)
	if apiErr != nil {
		return b, apiErr
	}
	if !isSecretType(b.Type) {
		return b, errValidation("Secret %q has type %q; use secret_text or secret_key.", b.Name, b.Type)
	}
	return b, nil
}

// setSecret replaces or adds a secret binding on v; a non-secret binding of that name is a clash.
func (s *Server) setSecret(v *version, ub uploadedBinding) *apiError {
	stored := bindingResolver{sealer: s.sealer}.store(ub)
	for i, b := range v.Bindings {
		if b.Name != ub.Name {
			continue
		}
		if !b.isSecret() {
			return newAPIError(http.StatusBadRequest, codeBindingNameInUse,
				"The name %q is already used by a %s binding of this Worker; choose another secret name.", ub.Name, b.Type)
		}
		v.Bindings[i] = stored
		return nil
	}
	v.Bindings = append(v.Bindings, stored)
	return nil
}

func removeSecret(v *version, name string) bool {
	for i, b := range v.Bindings {
		if b.Name == name && b.isSecret() {
			v.Bindings = append(v.Bindings[:i:i], v.Bindings[i+1:]...)
			return true
		}
	}
	return false
}

func (s *Server) putSecret(c *call) *apiError {
	s.mu.RLock()
	_, apiErr := s.lookupScript(c.accountID, c.param("script"))
	s.mu.RUnlock()
	if apiErr != nil {
		return apiErr
	}
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxMetadataBytes))
	if err != nil {
		return newAPIError(http.StatusBadRequest, codeParseBody, "Could not read the request body.")
	}
	ub, apiErr := readSecretBody(body)
	if apiErr != nil {
		return apiErr
	}
	_, _, apiErr = s.editLatest(c, "secret", func(v *version) *apiError { return s.setSecret(v, ub) }, nil)
	if apiErr != nil {
		return apiErr
	}
	writeResult(c.w, map[string]string{"name": ub.Name, "type": ub.Type})
	return nil
}

func secretsOf(v *version) []map[string]string {
	out := []map[string]string{}
	for _, b := range v.Bindings {
		if b.isSecret() {
			out = append(out, map[string]string{"name": b.Name, "type": b.Type})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["name"] < out[j]["name"] })
	return out
}

func (s *Server) listSecrets(c *call) *apiError {
	v, apiErr := s.pickVersion(c, (*script).latestVersion)
	if apiErr != nil {
		return apiErr
	}
	list := secretsOf(v)
	writeResult(c.w, list)
	return nil
}

func (s *Server) getSecret(c *call) *apiError {
	v, apiErr := s.pickVersion(c, (*script).latestVersion)
	if apiErr != nil {
		return apiErr
	}
	list := secretsOf(v)
	for _, sec := range list {
		if sec["name"] == c.param("secret") {
			writeResult(c.w, sec)
			return nil
		}
	}
	return errSecretNotFound(c.param("secret"))
}

func (s *Server) deleteSecret(c *call) *apiError {
	name := c.param("secret")
	_, _, apiErr := s.editLatest(c, "secret", func(v *version) *apiError {
		if !removeSecret(v, name) {
			return errSecretNotFound(name)
		}
		return nil
	}, nil)
	if apiErr != nil {
		return apiErr
	}
	writeResult(c.w, nil)
	return nil
}

// patchSecretsBulk applies a merge patch {"secrets":{"NAME":{...}|null}} as one new version.
func (s *Server) patchSecretsBulk(c *call) *apiError {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, 8*maxMetadataBytes))
	if err != nil {
		return newAPIError(http.StatusBadRequest, codeParseBody, "Could not read the request body.")
	}
	var patch struct {
		Secrets map[string]json.RawMessage `json:"secrets"`
	}
	if err := json.Unmarshal(body, &patch); err != nil {
		return newAPIError(http.StatusBadRequest, codeParseBody, "Could not parse the request body: %v", err)
	}
	names := make([]string, 0, len(patch.Secrets))
	for n := range patch.Secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	sets := map[string]uploadedBinding{}
	for _, n := range names {
		raw := patch.Secrets[n]
		if string(raw) == "null" {
			continue
		}
		ub, apiErr := readSecretBody(raw)
		if apiErr != nil {
			return apiErr
		}
		if ub.Name != n {
			return errValidation("Secret key %q does not match its name %q.", n, ub.Name)
		}
		sets[n] = ub
	}
	_, v, apiErr := s.editLatest(c, "secret", func(v *version) *apiError {
		for _, n := range names {
			if ub, ok := sets[n]; ok {
				if apiErr := s.setSecret(v, ub); apiErr != nil {
					return apiErr
				}
				continue
			}
			removeSecret(v, n)
		}
		return nil
	}, nil)
	if apiErr != nil {
		return apiErr
	}
	writeResult(c.w, secretsOf(v))
	return nil
}
