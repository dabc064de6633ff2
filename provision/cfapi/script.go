package cfapi

import (
	"context"
	"encoding/json"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/workers"
)

// Script is a handle on one script of one account (…/accounts/{account}/workers/scripts/{name}):
// every per-script call the engine makes. Making one sends nothing; each method is one
// request (retries aside). Errors are *APIError (IsNotFound: no such script or version), a
// *RetryError, or the transport's; methods add no context of their own, the caller names the
// step.
type Script struct {
	c               *Client
	accountID, name string
}

// Script is the handle on the script name of the account accountID.
func (c *Client) Script(accountID, name string) Script {
	return Script{c: c, accountID: accountID, name: name}
}

// Settings are a script's settings as GET …/settings reports them, reduced to what the engine
// reads.
type Settings struct {
	CompatibilityDate  string
	CompatibilityFlags []string
	Tags               []string
	Bindings           []Binding // in the API's order
}

// Binding is one binding of Settings.
type Binding struct {
	Name, Type  string
	Text        string // a plain_text binding's value (the API never sends a secret's)
	NamespaceID string // ratelimit: the counter's namespace
	IndexName   string // vectorize: the bound index
	// JSON is the binding as the API sent it, for what is not typed here (a ratelimit's
	// `simple` limit).
	JSON string
}

// Settings reads the script's settings.
func (s Script) Settings(ctx context.Context) (*Settings, error) {
	res, err := s.c.workers.Scripts.ScriptAndVersionSettings.Get(ctx, s.name,
		accountParams[workers.ScriptScriptAndVersionSettingGetParams](s.accountID))
	if err != nil {
		return nil, cleanAPIError(err)
	}
	out := &Settings{CompatibilityDate: res.CompatibilityDate, CompatibilityFlags: res.CompatibilityFlags, Tags: res.Tags}
	if res.Bindings != nil {
		out.Bindings = make([]Binding, 0, len(res.Bindings))
	}
	for _, b := range res.Bindings {
		out.Bindings = append(out.Bindings, Binding{Name: b.Name, Type: string(b.Type), Text: b.Text,
			NamespaceID: b.NamespaceID, IndexName: b.IndexName, JSON: b.JSON.RawJSON()})
	}
	return out, nil
}

// EditSettings sends a multipart settings PATCH (…/settings; EncodeMultipart with a `settings`
// part), which makes a new version and deploys it at once.
func (s Script) EditSettings(ctx context.Context, contentType string, body []byte) error {
	_, err := s.c.workers.Scripts.ScriptAndVersionSettings.Edit(ctx, s.name,
		accountParams[workers.ScriptScriptAndVersionSettingEditParams](s.accountID), option.WithRequestBody(contentType, body))
	return cleanAPIError(err)
}

// Tags reads the script's tags (GET …/script-settings).
func (s Script) Tags(ctx context.Context) ([]string, error) {
	res, err := s.c.workers.Scripts.Settings.Get(ctx, s.name, accountParams[workers.ScriptSettingGetParams](s.accountID))
	if err != nil {
		return nil, cleanAPIError(err)
	}
	return res.Tags, nil
}

// SetTags sets the script's tags to exactly tags (PATCH …/script-settings); it makes no new
// version.
func (s Script) SetTags(ctx context.Context, tags []string) error {
	_, err := s.c.workers.Scripts.Settings.Edit(ctx, s.name, sdkParams(func(p *workers.ScriptSettingEditParams) {
		setParam(&p.AccountID, s.accountID)
		setParam(&p.ScriptSetting.Tags, tags)
	}))
	return cleanAPIError(err)
}

// UploadResult is what the API answers to an upload.
type UploadResult struct {
	// VersionID is the new version's id as the answer names it (its deployment_id, as wrangler
	// reads it, which may lack the hyphens); "" when the answer names none.
	VersionID string
}

// Upload sends a script upload (PUT …/scripts/{s}?bindings_inherit=strict) with a multipart
// body (EncodeMultipart: the `metadata` part, then the modules). The new version is deployed at
// once.
func (s Script) Upload(ctx context.Context, contentType string, body []byte) (UploadResult, error) {
	res, err := s.c.workers.Scripts.Update(ctx, s.name, sdkParams(func(p *workers.ScriptUpdateParams) {
		setParam(&p.AccountID, s.accountID)
		setParam(&p.BindingsInherit, workers.ScriptUpdateParamsBindingsInheritStrict)
	}), option.WithRequestBody(contentType, body))
	if err != nil {
		return UploadResult{}, cleanAPIError(err)
	}
	// The SDK's response type does not expose the id.
	var v struct {
		DeploymentID string `json:"deployment_id"`
	}
	if json.Unmarshal([]byte(res.JSON.RawJSON()), &v) != nil {
		return UploadResult{}, nil
	}
	return UploadResult{VersionID: v.DeploymentID}, nil
}

// Delete deletes the script.
func (s Script) Delete(ctx context.Context) error {
	_, err := s.c.workers.Scripts.Delete(ctx, s.name, accountParams[workers.ScriptDeleteParams](s.accountID))
	return cleanAPIError(err)
}

// DeleteSecret deletes the secret binding name, which makes a new version and deploys it.
func (s Script) DeleteSecret(ctx context.Context, name string) error {
	_, err := s.c.workers.Scripts.Secrets.Delete(ctx, s.name, name, accountParams[workers.ScriptSecretDeleteParams](s.accountID))
	return cleanAPIError(err)
}

// Deployment is one entry of the script's deployments.
type Deployment struct {
	ID       string
	Created  time.Time
	Versions []DeploymentVersion
	Message  string // the workers/message annotation
	// Source is what made the deployment as the API names it ("api", "wrangler", "dash", ...).
	Source      string
	AuthorEmail string
	TriggeredBy string // the workers/triggered_by annotation ("upload", "rollback", ...)
}

// DeploymentVersion is one version of a Deployment and its share of the traffic.
type DeploymentVersion struct {
	VersionID  string
	Percentage float64
}

// Deployments lists the script's deployments, in the API's order.
func (s Script) Deployments(ctx context.Context) ([]Deployment, error) {
	res, err := s.c.workers.Scripts.Deployments.List(ctx, s.name, accountParams[workers.ScriptDeploymentListParams](s.accountID))
	if err != nil {
		return nil, cleanAPIError(err)
	}
	out := make([]Deployment, 0, len(res.Deployments))
	for _, d := range res.Deployments {
		dep := Deployment{ID: d.ID, Created: d.CreatedOn, Message: d.Annotations.WorkersMessage,
			Source: d.Source, AuthorEmail: d.AuthorEmail, TriggeredBy: d.Annotations.WorkersTriggeredBy}
		for _, v := range d.Versions {
			dep.Versions = append(dep.Versions, DeploymentVersion{VersionID: v.VersionID, Percentage: v.Percentage})
		}
		out = append(out, dep)
	}
	return out, nil
}

// DeployVersion deploys the existing version versionID to all traffic, with message as the
// deployment's workers/message annotation. It is forced: deploying across a secret change
// needs that.
func (s Script) DeployVersion(ctx context.Context, versionID, message string) error {
	return s.Deploy(ctx, []DeploymentVersion{{VersionID: versionID, Percentage: 100}}, message, true)
}

// Version is the raw JSON of version versionID (GET …/versions/{id}): its annotations and
// bindings, which the SDK's type lacks.
func (s Script) Version(ctx context.Context, versionID string) (string, error) {
	v, err := s.c.workers.Scripts.Versions.Get(ctx, s.name, versionID, accountParams[workers.ScriptVersionGetParams](s.accountID))
	if err != nil {
		return "", cleanAPIError(err)
	}
	return v.JSON.RawJSON(), nil
}

// NewestVersion is the id of the script's newest version (one page of one version); "" when
// the API lists none.
func (s Script) NewestVersion(ctx context.Context) (string, error) {
	page, err := s.c.workers.Scripts.Versions.List(ctx, s.name, sdkParams(func(p *workers.ScriptVersionListParams) {
		setParam(&p.AccountID, s.accountID)
		setParam(&p.PerPage, int64(1))
	}))
	if err != nil {
		return "", cleanAPIError(err)
	}
	if len(page.Result.Items) == 0 {
		return "", nil
	}
	return page.Result.Items[0].ID, nil
}

// VersionInfo is one entry of the script's versions list.
type VersionInfo struct {
	ID          string
	Number      int
	Created     time.Time // zero when the API sent no readable created_on
	Source      string    // metadata.source: "api", "wrangler", "dash", ...
	AuthorEmail string
	Message     string // the workers/message annotation
	TriggeredBy string // the workers/triggered_by annotation
	Tag         string // the workers/tag annotation
	// Annotated: the entry carried an annotations object. The SDK's type has none (wrangler
	// reads one from the list), so without it the three annotations above are unknown, not
	// empty, and the caller may read the version itself.
	Annotated bool
}

// Versions lists the script's newest versions, at most perPage of them (one page), newest
// first as the API returns them.
func (s Script) Versions(ctx context.Context, perPage int) ([]VersionInfo, error) {
	page, err := s.c.workers.Scripts.Versions.List(ctx, s.name, sdkParams(func(p *workers.ScriptVersionListParams) {
		setParam(&p.AccountID, s.accountID)
		setParam(&p.PerPage, int64(perPage))
	}))
	if err != nil {
		return nil, cleanAPIError(err)
	}
	out := make([]VersionInfo, 0, len(page.Result.Items))
	for _, item := range page.Result.Items {
		out = append(out, versionInfo(item))
	}
	return out, nil
}

// versionInfo reads one list entry: the typed fields, and the annotations from its raw JSON.
func versionInfo(item workers.ScriptVersionListResponse) VersionInfo {
	v := VersionInfo{ID: item.ID, Number: int(item.Number), Source: string(item.Metadata.Source),
		AuthorEmail: item.Metadata.AuthorEmail}
	if t, err := time.Parse(time.RFC3339Nano, item.Metadata.CreatedOn); err == nil {
		v.Created = t
	}
	var raw struct {
		Annotations *struct {
			Message     string `json:"workers/message"`
			TriggeredBy string `json:"workers/triggered_by"`
			Tag         string `json:"workers/tag"`
		} `json:"annotations"`
	}
	if json.Unmarshal([]byte(item.JSON.RawJSON()), &raw) == nil && raw.Annotations != nil {
		v.Annotated = true
		v.Message, v.TriggeredBy, v.Tag = raw.Annotations.Message, raw.Annotations.TriggeredBy, raw.Annotations.Tag
	}
	return v
}

// WorkersDev reports whether the script is served on its workers.dev route.
func (s Script) WorkersDev(ctx context.Context) (bool, error) {
	sub, err := s.c.workers.Scripts.Subdomain.Get(ctx, s.name, accountParams[workers.ScriptSubdomainGetParams](s.accountID))
	if err != nil {
		return false, cleanAPIError(err)
	}
	return sub.Enabled, nil
}

// scriptAPIDateHeader date-versions the script subdomain endpoint (cloudflare-operations.md
// 7.3). wrangler sends it on POST .../workers/scripts/{name}/subdomain and nowhere else; what it
// changes is UNCONFIRMED, so flareform sends what wrangler sends, on that call only, and a body
// that names both fields, leaving no default to the server.
const (
	scriptAPIDateHeader = "Cloudflare-Workers-Script-Api-Date"
	scriptAPIDate       = "2025-08-01"
)

// SetWorkersDev turns the script's workers.dev route on or off (previews always off).
func (s Script) SetWorkersDev(ctx context.Context, enabled bool) error {
	_, err := s.c.workers.Scripts.Subdomain.New(ctx, s.name, sdkParams(func(p *workers.ScriptSubdomainNewParams) {
		setParam(&p.AccountID, s.accountID)
		setParam(&p.Enabled, enabled)
		setParam(&p.PreviewsEnabled, false)
	}), option.WithHeader(scriptAPIDateHeader, scriptAPIDate))
	return cleanAPIError(err)
}
