package localcf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/flareform/flareform/internal/lazyre"
)

// maxVarBytes is Cloudflare's per-value limit for env vars and secrets (5 KiB; 10054).
const maxVarBytes = 5 * 1024

// bindingFields lists every binding type the API knows (Go SDK v6.10.0) and the fields each
// needs besides type and name. Only plain_text, secret_text, json, ai, ratelimit, vectorize,
// analytics_engine, kv_namespace and r2_bucket reach workerd; the others are validated and stored so read-back works. Built on first use, not at every start.
var bindingFields = sync.OnceValue(func() map[string][]string {
	return map[string][]string{
		"ai":                       nil,
		"ai_search":                nil,
		"ai_search_namespace":      nil,
		"analytics_engine":         {"dataset"},
		"assets":                   nil,
		"browser":                  nil,
		"d1":                       {"id"},
		"data_blob":                {"part"},
		"dispatch_namespace":       {"namespace"},
		"durable_object_namespace": nil,
		"hyperdrive":               {"id"},
		"inherit":                  nil,
		"images":                   nil,
		"json":                     {"json"},
		"kv_namespace":             {"namespace_id"},
		"media":                    nil,
		"mtls_certificate":         {"certificate_id"},
		"plain_text":               {"text"},
		"pipelines":                {"pipeline"},
		"queue":                    {"queue_name"},
		"ratelimit":                {"namespace_id", "simple"},
		"r2_bucket":                {"bucket_name"},
		"secret_text":              {"text"},
		"send_email":               nil,
		"service":                  {"service"},
		"text_blob":                {"part"},
		"vectorize":                {"index_name"},
		"version_metadata":         nil,
		"secrets_store_secret":     {"store_id", "secret_name"},
		"flagship":                 nil,
		"secret_key":               {"algorithm", "format", "usages"},
		"workflow":                 {"workflow_name"},
		"wasm_module":              {"part"},
		"vpc_service":              {"service_id"},
		"vpc_network":              nil,
	}
})

// uploadedBinding is a binding from an upload, checked but not yet resolved against the
// previous version (inherit) nor sealed.
type uploadedBinding struct {
	Type, Name string
	Raw        json.RawMessage // compact JSON object as uploaded
	Fields     map[string]json.RawMessage
}

// parseBindings checks every uploaded binding for a known type, a name, its required fields and
// the value-size limit.
func parseBindings(raws []json.RawMessage) ([]uploadedBinding, *apiError) {
	out := make([]uploadedBinding, 0, len(raws))
	for i, raw := range raws {
		b, apiErr := parseBinding(i, raw)
		if apiErr != nil {
			return nil, apiErr
		}
		out = append(out, b)
	}
	return out, nil
}

func parseBinding(index int, raw json.RawMessage) (uploadedBinding, *apiError) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return uploadedBinding{}, errValidation("Binding %d is not a JSON object.", index)
	}
	var b uploadedBinding
	b.Fields = fields
	_ = json.Unmarshal(fields["type"], &b.Type)
	_ = json.Unmarshal(fields["name"], &b.Name)
	if b.Name == "" {
		return b, newAPIError(http.StatusBadRequest, codeBindingNoName, "Binding %d (type %q) has no name; every binding needs a name.", index, b.Type)
	}
	required, known := bindingFields()[b.Type]
	if !known {
		return b, errValidation("Binding %q has unknown type %q.", b.Name, b.Type)
	}
	for _, f := range required {
		if v, ok := fields[f]; !ok || string(v) == "null" {
			return b, errValidation("Binding %q of type %s is missing the required field %q.", b.Name, b.Type, f)
		}
	}
	if b.Type == "plain_text" || b.Type == "secret_text" {
		var text string
		if err := json.Unmarshal(fields["text"], &text); err != nil {
			return b, errValidation("Binding %q of type %s needs `text` to be a string.", b.Name, b.Type)
		}
		if len(text) > maxVarBytes {
			return b, errVarTooLarge(b.Name, len(text))
		}
	}
	if b.Type == "ratelimit" {
		if apiErr := checkRateLimitBinding(b.Name, fields); apiErr != nil {
			return b, apiErr
		}
	}
	if b.Type == "vectorize" {
		var index string
		if err := json.Unmarshal(fields["index_name"], &index); err != nil || index == "" {
			return b, errValidation("Binding %q of type vectorize needs `index_name` to be a non-empty string.", b.Name)
		}
	}
	if b.Type == "analytics_engine" {
		var dataset string
		if err := json.Unmarshal(fields["dataset"], &dataset); err != nil || dataset == "" {
			return b, errValidation("Binding %q of type analytics_engine needs `dataset` to be a non-empty string.", b.Name)
		}
	}
	if apiErr := checkStorageBinding(b.Name, b.Type, fields); apiErr != nil {
		return b, apiErr
	}
	if apiErr := checkD1Binding(b.Name, b.Type, fields); apiErr != nil {
		return b, apiErr
	}
	if b.Type == "json" && len(fields["json"]) > maxVarBytes {
		return b, errVarTooLarge(b.Name, len(fields["json"]))
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return b, errValidation("Binding %q is not valid JSON.", b.Name)
	}
	b.Raw = compact.Bytes()
	return b, nil
}

// rateLimitConfig is a ratelimit binding's counter: namespace_id is the user's shared-counter id.
type rateLimitConfig struct {
	NamespaceID string `json:"namespace_id"`
	Simple      struct {
		Limit  int `json:"limit"`
		Period int `json:"period"`
	} `json:"simple"`
}

var positiveIntegerString = lazyre.Regexp{Expr: `^[1-9][0-9]{0,17}$`}

// checkRateLimitBinding enforces the ratelimit binding's shape: namespace_id a positive integer
// as a string, simple.limit above zero and simple.period 10 or 60 seconds.
func checkRateLimitBinding(name string, fields map[string]json.RawMessage) *apiError {
	var cfg rateLimitConfig
	if err := json.Unmarshal(fields["namespace_id"], &cfg.NamespaceID); err != nil || !positiveIntegerString.MatchString(cfg.NamespaceID) {
		return errValidation("Binding %q of type ratelimit needs `namespace_id` to be a positive integer given as a string, e.g. \"1001\".", name)
	}
	if err := json.Unmarshal(fields["simple"], &cfg.Simple); err != nil {
		return errValidation("Binding %q of type ratelimit needs `simple` to be {\"limit\": N, \"period\": 10|60}.", name)
	}
	if cfg.Simple.Limit <= 0 {
		return errValidation("Binding %q of type ratelimit needs `simple.limit` above zero, not %d.", name, cfg.Simple.Limit)
	}
	if cfg.Simple.Period != 10 && cfg.Simple.Period != 60 {
		return errValidation("Binding %q of type ratelimit needs `simple.period` to be 10 or 60 seconds, not %d.", name, cfg.Simple.Period)
	}
	return nil
}

// checkBindingTargets refuses bindings to account resources that do not exist: a vectorize
// binding needs its index. The caller holds opMu or nothing (it takes mu for reading).
func (s *Server) checkBindingTargets(accountID string, uploaded []uploadedBinding) *apiError {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.st.Accounts[accountID]
	for _, ub := range uploaded {
		if apiErr := s.checkStorageTarget(accountID, ub); apiErr != nil {
			return apiErr
		}
		if apiErr := checkD1Target(a, ub); apiErr != nil {
			return apiErr
		}
		if ub.Type != "vectorize" {
			continue
		}
		var index string
		_ = json.Unmarshal(ub.Fields["index_name"], &index)
		if a.VectorizeIndexes[index] == nil {
			return errValidation("Binding %q refers to the Vectorize index %q, which does not exist on this account: create it first (POST /vectorize/v2/indexes).", ub.Name, index)
		}
	}
	return nil
}

func errVarTooLarge(name string, size int) *apiError {
	return newAPIError(http.StatusBadRequest, codeVarTooLarge,
		"The value of binding %q is %d bytes, over the limit of %d bytes for environment variables and secrets.", name, size, maxVarBytes)
}

// bindingResolver turns uploaded bindings into the stored binding set of a new version.
type bindingResolver struct {
	sealer   *sealer
	previous *version                 // latest version before this upload; nil for a new script
	lookup   func(id string) *version // versions by id, for inherit with version_id
	strict   bool                     // bindings_inherit=strict
	maxVars  int
	// implicitSecrets carries over the previous version's secrets that the upload does not
	// name, which wrangler relies on (cloudflare-api.md §2.3; UNCONFIRMED as a contract, so
	// uploads set it only with the implicit_secret_retention quirk).
	implicitSecrets bool
	// keepAll carries over every binding the change does not name (a merging settings PATCH).
	keepAll bool
	// secretRename lets an inherit binding's old_name copy a secret under another name
	// (quirk secret_rename_inherit). Strict: refused, as that it works for secret_text is
	// UNCONFIRMED (cloudflare-operations.md 8.4).
	secretRename bool
}

// resolve applies inherit bindings, keep_bindings (by type), implicit secret retention and
// keepAll to the uploaded bindings.
func (r bindingResolver) resolve(uploaded []uploadedBinding, keepTypes []string) ([]binding, *apiError) {
	var out []binding
	names := map[string]bool{}
	add := func(b binding) *apiError {
		if names[b.Name] {
			return newAPIError(http.StatusBadRequest, codeBindingNameInUse, "The binding name %q is used more than once.", b.Name)
		}
		names[b.Name] = true
		out = append(out, b)
		return nil
	}
	for _, ub := range uploaded {
		b, found, apiErr := r.toStored(ub)
		if apiErr != nil {
			return nil, apiErr
		}
		if !found {
			continue
		}
		if apiErr := add(b); apiErr != nil {
			return nil, apiErr
		}
	}
	if r.previous != nil {
		keep := map[string]bool{}
		for _, t := range keepTypes {
			keep[t] = true
		}
		for _, pb := range r.previous.Bindings {
			if names[pb.Name] || !(r.keepAll || keep[pb.Type] || (r.implicitSecrets && pb.isSecret())) {
				continue
			}
			_ = add(pb)
		}
	}
	if apiErr := checkVarCount(out, r.maxVars); apiErr != nil {
		return nil, apiErr
	}
	return out, nil
}

// toStored converts one uploaded binding; found is false for an inherit binding that resolves to
// nothing outside strict mode (Cloudflare drops those silently).
func (r bindingResolver) toStored(ub uploadedBinding) (b binding, found bool, apiErr *apiError) {
	if ub.Type != "inherit" {
		return r.store(ub), true, nil
	}
	var oldName, versionID string
	_ = json.Unmarshal(ub.Fields["old_name"], &oldName)
	_ = json.Unmarshal(ub.Fields["version_id"], &versionID)
	if oldName == "" {
		oldName = ub.Name
	}
	source := r.previous
	if versionID != "" && versionID != "latest" {
		source = r.lookup(versionID)
	}
	if source != nil {
		for _, pb := range source.Bindings {
			if pb.Name == oldName {
				if pb.isSecret() && oldName != ub.Name && !r.secretRename {
					return b, false, errValidation("Binding %q cannot inherit the secret %q under another name: old_name does not rename %s bindings; send the secret's value instead.",
						ub.Name, oldName, pb.Type)
				}
				pb.Name = ub.Name
				pb.Raw = renameRaw(pb.Raw, ub.Name)
				return pb, true, nil
			}
		}
	}
	if r.strict {
		return b, false, newAPIError(http.StatusBadRequest, 10056,
			"Binding %q cannot be inherited: the source version has no binding named %q.", ub.Name, oldName)
	}
	return b, false, nil
}

func (r bindingResolver) store(ub uploadedBinding) binding {
	b := binding{Type: ub.Type, Name: ub.Name}
	if isSecretType(ub.Type) {
		b.Sealed = r.sealer.seal(ub.Raw)
	} else {
		b.Raw = ub.Raw
	}
	return b
}

// renameRaw rewrites the name field of a stored binding object.
func renameRaw(raw json.RawMessage, name string) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return raw
	}
	fields["name"], _ = json.Marshal(name)
	out, err := json.Marshal(fields)
	if err != nil {
		return raw
	}
	return out
}

// checkVarCount enforces the per-script limit on env vars plus secrets (10055).
func checkVarCount(bindings []binding, maxVars int) *apiError {
	n := 0
	for _, b := range bindings {
		switch b.Type {
		case "plain_text", "secret_text", "json":
			n++
		}
	}
	if n > maxVars {
		return newAPIError(http.StatusBadRequest, codeTooManyVars,
			"This Worker has %d environment variables and secrets; the limit is %d.", n, maxVars)
	}
	return nil
}

// secretText unseals a secret_text binding's value.
func (s *sealer) secretText(b binding) (string, error) {
	plain, err := s.open(b.Sealed)
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", b.Name, err)
	}
	var obj struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(plain, &obj); err != nil {
		return "", fmt.Errorf("secret %s: %w", b.Name, err)
	}
	return obj.Text, nil
}

// publicBindings renders a binding list for the API, in upload order.
func publicBindings(bs []binding) []any {
	out := make([]any, len(bs))
	for i, b := range bs {
		out[i] = b.public()
	}
	return out
}
