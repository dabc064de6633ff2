package localcf

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// state is everything the server remembers. It is one JSON document (module bodies live in the
// blob store), rewritten atomically after every change.
type state struct {
	Format         int                 `json:"format"`
	DefaultAccount string              `json:"default_account"`
	Accounts       map[string]*account `json:"accounts"`
}

func newState() *state {
	return &state{Format: 1, Accounts: map[string]*account{}}
}

// init fills maps that JSON left nil.
func (st *state) init() {
	if st.Accounts == nil {
		st.Accounts = map[string]*account{}
	}
	for _, a := range st.Accounts {
		if a.Scripts == nil {
			a.Scripts = map[string]*script{}
		}
	}
}

type account struct {
	ID        string             `json:"id"`
	Name      string             `json:"name"`
	Subdomain string             `json:"subdomain,omitempty"`
	CreatedOn time.Time          `json:"created_on"`
	Token     tokenRecord        `json:"token"`
	Scripts   map[string]*script `json:"scripts"`
	// AIGateways and VectorizeIndexes are account resources that worker bindings refer to;
	// nil until the account creates one (older state files have neither).
	AIGateways       map[string]*aiGateway      `json:"ai_gateways,omitempty"`
	VectorizeIndexes map[string]*vectorizeIndex `json:"vectorize_indexes,omitempty"`
	// D1Databases are the account's D1 databases by uuid (d1.go; rows live in their SQLite
	// files); nil until the account creates one.
	D1Databases map[string]*d1Database `json:"d1_databases,omitempty"`
	// Zones (by zone id) and the Workers custom domains in them (by domain id); nil until the
	// account has one (older state files have neither).
	Zones   map[string]*zone         `json:"zones,omitempty"`
	Domains map[string]*customDomain `json:"custom_domains,omitempty"`
	// Tokens are the account's other API tokens (Server.AddToken); nil until it has one.
	Tokens []*tokenRecord `json:"tokens,omitempty"`
}

// tokenRecord keeps a token sealed (so Token() survives restarts) plus a one-way hash for lookup.
type tokenRecord struct {
	ID     string `json:"id"`
	Hash   string `json:"hash"`
	Sealed string `json:"sealed"`
	// AccountOwned marks an account-owned token (AddToken): /user/tokens/verify does not know
	// it (401, code 1000), only its account's /accounts/{id}/tokens/verify does. The account's
	// own token is user-owned and verifies on both.
	AccountOwned bool `json:"account_owned,omitempty"`
	// Disabled and ExpiresOn make the token unusable: every API call but the verify endpoints
	// is refused (403, code 10000), and verify reports status "disabled" or "expired".
	Disabled  bool       `json:"disabled,omitempty"`
	ExpiresOn *time.Time `json:"expires_on,omitempty"`
}

// status is the token's status as the verify endpoints report it at now.
func (t *tokenRecord) status(now time.Time) string {
	switch {
	case t.Disabled:
		return "disabled"
	case t.ExpiresOn != nil && !now.Before(*t.ExpiresOn):
		return "expired"
	}
	return "active"
}

type subdomainState struct {
	Enabled         bool `json:"enabled"`
	PreviewsEnabled bool `json:"previews_enabled"`
}

type script struct {
	Name             string          `json:"name"`
	Tag              string          `json:"tag"`
	CreatedOn        time.Time       `json:"created_on"`
	ModifiedOn       time.Time       `json:"modified_on"`
	Logpush          bool            `json:"logpush"`
	Observability    json.RawMessage `json:"observability,omitempty"`
	Tags             []string        `json:"tags"`
	TailConsumers    json.RawMessage `json:"tail_consumers,omitempty"`
	Subdomain        subdomainState  `json:"subdomain"`
	LastDeployedFrom string          `json:"last_deployed_from"`
	Versions         []*version      `json:"versions"`    // oldest first
	Deployments      []*deployment   `json:"deployments"` // oldest first
}

type version struct {
	ID                 string          `json:"id"`
	Number             int             `json:"number"`
	CreatedOn          time.Time       `json:"created_on"`
	Source             string          `json:"source"`
	Message            string          `json:"message,omitempty"`
	AnnotationTag      string          `json:"annotation_tag,omitempty"`
	TriggeredBy        string          `json:"triggered_by"`
	MainModule         string          `json:"main_module"`
	Modules            []moduleRef     `json:"modules"`
	CompatibilityDate  string          `json:"compatibility_date"`
	CompatibilityFlags []string        `json:"compatibility_flags"`
	Bindings           []binding       `json:"bindings"`
	UsageModel         string          `json:"usage_model"`
	Limits             json.RawMessage `json:"limits,omitempty"`
	Placement          json.RawMessage `json:"placement,omitempty"`
	Etag               string          `json:"etag"`
	StartupTimeMs      int             `json:"startup_time_ms"`
}

type moduleRef struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Blob        string `json:"blob"`
	Size        int    `json:"size"`
}

// binding is one stored binding. Non-secret bindings keep their uploaded JSON object in Raw;
// secret ones (secret_text, secret_key) keep it only sealed.
type binding struct {
	Type   string          `json:"type"`
	Name   string          `json:"name"`
	Raw    json.RawMessage `json:"raw,omitempty"`
	Sealed string          `json:"sealed,omitempty"`
}

func (b binding) isSecret() bool { return isSecretType(b.Type) }

func isSecretType(t string) bool { return t == "secret_text" || t == "secret_key" }

// public is the binding as the API shows it: secrets as {name, type} only.
func (b binding) public() any {
	if b.isSecret() || len(b.Raw) == 0 {
		return map[string]string{"name": b.Name, "type": b.Type}
	}
	return b.Raw
}

type deployment struct {
	ID          string              `json:"id"`
	CreatedOn   time.Time           `json:"created_on"`
	Source      string              `json:"source"`
	Strategy    string              `json:"strategy"`
	Versions    []deploymentVersion `json:"versions"`
	Message     string              `json:"message,omitempty"`
	TriggeredBy string              `json:"triggered_by"`
}

type deploymentVersion struct {
	VersionID  string  `json:"version_id"`
	Percentage float64 `json:"percentage"`
}

// latestVersion is the newest version, deployed or not.
func (sc *script) latestVersion() *version {
	if len(sc.Versions) == 0 {
		return nil
	}
	return sc.Versions[len(sc.Versions)-1]
}

func (sc *script) version(id string) *version {
	id = normalizeUUID(id)
	for _, v := range sc.Versions {
		if v.ID == id {
			return v
		}
	}
	return nil
}

func (sc *script) activeDeployment() *deployment {
	if len(sc.Deployments) == 0 {
		return nil
	}
	return sc.Deployments[len(sc.Deployments)-1]
}

// deployedVersion is the active deployment's main version: the one with the largest share (the
// first of equal shares). It is what the script object shows, and the version a deployment's
// commit starts; the data plane splits traffic over all the deployment's versions (split.go).
func (sc *script) deployedVersion() *version {
	d := sc.activeDeployment()
	if d == nil || len(d.Versions) == 0 {
		return nil
	}
	best := d.Versions[0]
	for _, dv := range d.Versions[1:] {
		if dv.Percentage > best.Percentage {
			best = dv
		}
	}
	return sc.version(best.VersionID)
}

// newestActiveVersion is the newest (highest-numbered) version of the active deployment, nil
// when nothing is deployed: what a deployment of an older version rolls back from (10220).
func (sc *script) newestActiveVersion() *version {
	d := sc.activeDeployment()
	if d == nil {
		return nil
	}
	var newest *version
	for _, dv := range d.Versions {
		if v := sc.version(dv.VersionID); v != nil && (newest == nil || v.Number > newest.Number) {
			newest = v
		}
	}
	return newest
}

// versionIDs lists the deployment's versions, in its order.
func (d *deployment) versionIDs() []string {
	ids := make([]string, len(d.Versions))
	for i, dv := range d.Versions {
		ids[i] = dv.VersionID
	}
	return ids
}

// latestIsDeployed reports whether the newest version takes all traffic: the precondition
// for secret and settings edits (10215 otherwise).
func (sc *script) latestIsDeployed() bool {
	d := sc.activeDeployment()
	latest := sc.latestVersion()
	if d == nil || latest == nil {
		return false
	}
	for _, dv := range d.Versions {
		if dv.VersionID == latest.ID && dv.Percentage >= 100 {
			return true
		}
	}
	return false
}

func (a *account) sortedScripts() []*script {
	out := make([]*script, 0, len(a.Scripts))
	for _, sc := range a.Scripts {
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func randomHex(nbytes int) string {
	b := make([]byte, nbytes)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// newUUID returns a random (v4) UUID in the hyphenated form.
func newUUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// normalizeUUID accepts a UUID with or without hyphens (PUT returns deployment_id hyphenless).
func normalizeUUID(id string) string {
	id = strings.ToLower(id)
	if len(id) == 32 && !strings.Contains(id, "-") {
		return id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
	}
	return id
}

// newToken returns a token shaped like Cloudflare's: 40 characters of [A-Za-z0-9_-].
func newToken() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
	b := make([]byte, 40)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
