package cfapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/workers"
)

// UploadVersion uploads a version without deploying it (POST …/scripts/{s}/versions), with a
// multipart body as Upload's. It returns the new version's id.
func (s Script) UploadVersion(ctx context.Context, contentType string, body []byte) (string, error) {
	res, err := s.c.workers.Scripts.Versions.New(ctx, s.name, sdkParams(func(p *workers.ScriptVersionNewParams) {
		setParam(&p.AccountID, s.accountID)
		setParam(&p.BindingsInherit, workers.ScriptVersionNewParamsBindingsInheritStrict)
	}), option.WithRequestBody(contentType, body))
	if err != nil {
		return "", cleanAPIError(err)
	}
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal([]byte(res.JSON.RawJSON()), &v) != nil || v.ID == "" {
		return res.ID, nil
	}
	return v.ID, nil
}

// CodeSecretsChanged is the API's refusal of a deployment that goes back across a secret
// change (cloudflare-operations.md 1.1); the same request with force deploys.
const CodeSecretsChanged = 10220

// IsSecretsChanged reports whether err is the API's 10220 refusal.
func IsSecretsChanged(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Code == CodeSecretsChanged
}

// Deploy creates a deployment of one or two existing versions with their shares of the
// traffic (which add up to 100), with message as its workers/message annotation. force sends
// ?force=true, which a rollback across a secret change needs.
func (s Script) Deploy(ctx context.Context, versions []DeploymentVersion, message string, force bool) error {
	_, err := s.c.workers.Scripts.Deployments.New(ctx, s.name, sdkParams(func(p *workers.ScriptDeploymentNewParams) {
		setParam(&p.AccountID, s.accountID)
		if force {
			setParam(&p.Force, true)
		}
		setParam(&p.Deployment.Strategy, workers.DeploymentStrategyPercentage)
		list := make([]workers.DeploymentVersionParam, 0, len(versions))
		for _, v := range versions {
			list = append(list, sdkParams(func(dv *workers.DeploymentVersionParam) {
				setParam(&dv.VersionID, v.VersionID)
				setParam(&dv.Percentage, v.Percentage)
			}))
		}
		setParam(&p.Deployment.Versions, list)
		setParam(&p.Deployment.Annotations, sdkParams(func(a *workers.DeploymentAnnotationsParam) {
			setParam(&a.WorkersMessage, message)
		}))
	}))
	return cleanAPIError(err)
}

// VersionSettings reads the settings of one version (GET …/versions/{id}: its bindings and
// runtime), for a version that does not serve all traffic, such as a canary: what the script's
// settings describe during a split deployment is not documented.
func (s Script) VersionSettings(ctx context.Context, versionID string) (*Settings, error) {
	raw, err := s.Version(ctx, versionID)
	if err != nil {
		return nil, err
	}
	var v struct {
		Resources struct {
			Bindings []json.RawMessage `json:"bindings"`
			Runtime  struct {
				CompatibilityDate  string   `json:"compatibility_date"`
				CompatibilityFlags []string `json:"compatibility_flags"`
			} `json:"script_runtime"`
		} `json:"resources"`
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return nil, fmt.Errorf("read version %s: %w", versionID, err)
	}
	out := &Settings{CompatibilityDate: v.Resources.Runtime.CompatibilityDate,
		CompatibilityFlags: v.Resources.Runtime.CompatibilityFlags, Bindings: make([]Binding, 0, len(v.Resources.Bindings))}
	for _, rb := range v.Resources.Bindings {
		var b struct {
			Name        string `json:"name"`
			Type        string `json:"type"`
			Text        string `json:"text"`
			NamespaceID string `json:"namespace_id"`
			IndexName   string `json:"index_name"`
		}
		if err := json.Unmarshal(rb, &b); err != nil {
			return nil, fmt.Errorf("read version %s: binding: %w", versionID, err)
		}
		out.Bindings = append(out.Bindings, Binding{Name: b.Name, Type: b.Type, Text: b.Text,
			NamespaceID: b.NamespaceID, IndexName: b.IndexName, JSON: string(rb)})
	}
	return out, nil
}
