package localcf

import (
	"encoding/json"
	"fmt"
)

// kv_namespace and r2_bucket bindings: their checks at upload and the config their shim sends
// to the binding backend (kv.go, r2.go).

// checkStorageBinding checks the target field of a kv_namespace or r2_bucket binding: a
// non-empty string (an R2 jurisdiction, when given, one R2 knows).
func checkStorageBinding(name, typ string, fields map[string]json.RawMessage) *apiError {
	var field string
	switch typ {
	case "kv_namespace":
		field = "namespace_id"
	case "r2_bucket":
		field = "bucket_name"
		if raw, ok := fields["jurisdiction"]; ok && string(raw) != "null" {
			var j string
			if err := json.Unmarshal(raw, &j); err != nil || !r2Jurisdictions[j] {
				return errValidation("Binding %q of type r2_bucket has jurisdiction %s: it must be \"default\", \"eu\" or \"fedramp\".", name, raw)
			}
		}
	default:
		return nil
	}
	var target string
	if err := json.Unmarshal(fields[field], &target); err != nil || target == "" {
		return errValidation("Binding %q of type %s needs `%s` to be a non-empty string.", name, typ, field)
	}
	return nil
}

// storageTarget reads a kv_namespace or r2_bucket binding's target and, for R2, jurisdiction.
func storageTarget(raw json.RawMessage) (namespaceID, bucket, jurisdiction string, err error) {
	var f struct {
		NamespaceID  string `json:"namespace_id"`
		BucketName   string `json:"bucket_name"`
		Jurisdiction string `json:"jurisdiction"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return "", "", "", err
	}
	if f.Jurisdiction == "" {
		f.Jurisdiction = "default"
	}
	return f.NamespaceID, f.BucketName, f.Jurisdiction, nil
}

// checkStorageTarget refuses a kv_namespace or r2_bucket binding to a namespace or bucket the
// account does not have, as checkBindingTargets does for Vectorize indexes.
func (s *Server) checkStorageTarget(accountID string, ub uploadedBinding) *apiError {
	if ub.Type != "kv_namespace" && ub.Type != "r2_bucket" {
		return nil
	}
	kv, r2, err := s.storage()
	if err != nil {
		return errInternal(err)
	}
	nsID, bucket, jurisdiction, err := storageTarget(ub.Raw)
	if err != nil {
		return errValidation("Binding %q is not a valid %s binding: %v", ub.Name, ub.Type, err)
	}
	if ub.Type == "kv_namespace" {
		if _, ok := kv.record(accountID, nsID); !ok {
			return errValidation("Binding %q refers to the KV namespace %q, which does not exist on this account: create it first (POST /storage/kv/namespaces) and bind it by its id.", ub.Name, nsID)
		}
		return nil
	}
	if b, ok := r2.record(accountID, bucket); !ok || b.Jurisdiction != jurisdiction {
		return errValidation("Binding %q refers to the R2 bucket %q, which does not exist on this account (jurisdiction %s): create it first (POST /r2/buckets).", ub.Name, bucket, jurisdiction)
	}
	return nil
}

// storageBindingConfig is the backend config of a kv_namespace or r2_bucket binding.
func storageBindingConfig(accountID string, b binding) (json.RawMessage, error) {
	nsID, bucket, _, err := storageTarget(b.Raw)
	if err != nil {
		return nil, fmt.Errorf("read %s binding: %w", b.Type, err)
	}
	cfg := map[string]string{"account": accountID}
	if b.Type == "kv_namespace" {
		cfg["namespace_id"] = nsID
	} else {
		cfg["bucket_name"] = bucket
	}
	return json.Marshal(cfg)
}
