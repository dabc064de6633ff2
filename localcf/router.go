package localcf

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/flareform/flareform/internal/lazyre"
)

const apiPrefix = "/client/v4"

// call is one API request on its way through a handler.
type call struct {
	w         http.ResponseWriter
	r         *http.Request
	params    map[string]string
	accountID string // set for account routes once auth passed
	token     string
}

func (c *call) param(name string) string { return c.params[name] }

type handlerFunc func(s *Server, c *call) *apiError

// authKind says how a route authenticates.
type authKind int

const (
	authAccount       authKind = iota // token must belong to {account}
	authAnyToken                      // any known token (user-level listings)
	authVerifyUser                    // /user/tokens/verify: the handler reports token problems itself
	authVerifyAccount                 // /accounts/{account}/tokens/verify
)

type route struct {
	method  string
	pattern []string // segments; "{name}" matches one, "{name...}" the rest (at least one)
	auth    authKind
	handler handlerFunc
}

func r(method, pattern string, auth authKind, h handlerFunc) route {
	return route{method: method, pattern: strings.Split(strings.Trim(pattern, "/"), "/"), auth: auth, handler: h}
}

// routes is Cloudflare's API surface that localcf implements (cloudflare-api.md §2-8 and every
// call in wrangler-wire.md), built on first use rather than at every start of flareform.
var routes = sync.OnceValue(func() []route {
	return []route{
		r("GET", "user/tokens/verify", authVerifyUser, (*Server).verifyUserToken),
		r("GET", "accounts/{account}/tokens/verify", authVerifyAccount, (*Server).verifyAccountToken),
		r("GET", "accounts", authAnyToken, (*Server).listAccounts),
		r("GET", "accounts/{account}", authAccount, (*Server).getAccount),
		r("GET", "memberships", authAnyToken, (*Server).listMemberships),
		r("GET", "zones", authAnyToken, (*Server).listZones),

		r("GET", "accounts/{account}/workers/subdomain", authAccount, (*Server).getAccountSubdomain),
		r("PUT", "accounts/{account}/workers/subdomain", authAccount, (*Server).putAccountSubdomain),
		r("DELETE", "accounts/{account}/workers/subdomain", authAccount, (*Server).deleteAccountSubdomain),
		r("GET", "accounts/{account}/workers/subdomains/{name}", authAccount, (*Server).checkSubdomainAvailability),

		r("GET", "accounts/{account}/workers/scripts", authAccount, (*Server).listScripts),
		r("GET", "accounts/{account}/workers/scripts-search", authAccount, (*Server).searchScripts),
		r("PUT", "accounts/{account}/workers/scripts/{script}", authAccount, (*Server).putScript),
		r("GET", "accounts/{account}/workers/scripts/{script}", authAccount, (*Server).downloadScript),
		r("DELETE", "accounts/{account}/workers/scripts/{script}", authAccount, (*Server).deleteScript),
		r("GET", "accounts/{account}/workers/services/{script}", authAccount, (*Server).getService),
		r("DELETE", "accounts/{account}/workers/services/{script}", authAccount, (*Server).deleteScript),
		r("GET", "accounts/{account}/workers/workers/{script}", authAccount, (*Server).getWorker),

		r("PUT", "accounts/{account}/workers/scripts/{script}/secrets", authAccount, (*Server).putSecret),
		r("GET", "accounts/{account}/workers/scripts/{script}/secrets", authAccount, (*Server).listSecrets),
		r("GET", "accounts/{account}/workers/scripts/{script}/secrets/{secret}", authAccount, (*Server).getSecret),
		r("DELETE", "accounts/{account}/workers/scripts/{script}/secrets/{secret}", authAccount, (*Server).deleteSecret),
		r("PATCH", "accounts/{account}/workers/scripts/{script}/secrets-bulk", authAccount, (*Server).patchSecretsBulk),

		r("GET", "accounts/{account}/workers/scripts/{script}/subdomain", authAccount, (*Server).getScriptSubdomain),
		r("POST", "accounts/{account}/workers/scripts/{script}/subdomain", authAccount, (*Server).postScriptSubdomain),
		r("DELETE", "accounts/{account}/workers/scripts/{script}/subdomain", authAccount, (*Server).deleteScriptSubdomain),

		r("GET", "accounts/{account}/workers/scripts/{script}/settings", authAccount, (*Server).getSettings),
		r("PATCH", "accounts/{account}/workers/scripts/{script}/settings", authAccount, (*Server).patchSettings),
		r("GET", "accounts/{account}/workers/scripts/{script}/script-settings", authAccount, (*Server).getScriptSettings),
		r("PATCH", "accounts/{account}/workers/scripts/{script}/script-settings", authAccount, (*Server).patchScriptSettings),
		r("GET", "accounts/{account}/workers/scripts/{script}/content/v2", authAccount, (*Server).getContent),
		r("PUT", "accounts/{account}/workers/scripts/{script}/content", authAccount, (*Server).putContent),

		r("GET", "accounts/{account}/workers/scripts/{script}/versions", authAccount, (*Server).listVersions),
		r("POST", "accounts/{account}/workers/scripts/{script}/versions", authAccount, (*Server).postVersion),
		r("GET", "accounts/{account}/workers/scripts/{script}/versions/{version}", authAccount, (*Server).getVersion),
		r("GET", "accounts/{account}/workers/scripts/{script}/deployments", authAccount, (*Server).listDeployments),
		r("POST", "accounts/{account}/workers/scripts/{script}/deployments", authAccount, (*Server).postDeployment),
		r("GET", "accounts/{account}/workers/scripts/{script}/deployments/{deployment}", authAccount, (*Server).getDeployment),
		r("DELETE", "accounts/{account}/workers/scripts/{script}/deployments/{deployment}", authAccount, (*Server).deleteDeployment),

		r("GET", "accounts/{account}/workers/scripts/{script}/references", authAccount, (*Server).getReferences),
		r("GET", "accounts/{account}/workers/scripts/{script}/queue-consumers", authAccount, (*Server).getQueueConsumers),
		r("GET", "accounts/{account}/workers/tails/by-consumer/{script}", authAccount, emptyList),
		r("POST", "accounts/{account}/workers/scripts/{script}/tails", authAccount, (*Server).createTail),
		r("GET", "accounts/{account}/workers/scripts/{script}/tails", authAccount, (*Server).listTails),
		r("DELETE", "accounts/{account}/workers/scripts/{script}/tails/{tail}", authAccount, (*Server).deleteTail),
		r("GET", "accounts/{account}/workers/durable_objects/namespaces", authAccount, emptyPagedList),

		r("PUT", "accounts/{account}/workers/domains", authAccount, (*Server).putDomain),
		r("GET", "accounts/{account}/workers/domains", authAccount, (*Server).listDomains),
		r("GET", "accounts/{account}/workers/domains/{domain}", authAccount, (*Server).getDomain),
		r("DELETE", "accounts/{account}/workers/domains/{domain}", authAccount, (*Server).deleteDomain),

		r("POST", "accounts/{account}/ai-gateway/gateways", authAccount, (*Server).createGateway),
		r("GET", "accounts/{account}/ai-gateway/gateways", authAccount, (*Server).listGateways),
		r("GET", "accounts/{account}/ai-gateway/gateways/{gateway}", authAccount, (*Server).getGateway),
		r("PUT", "accounts/{account}/ai-gateway/gateways/{gateway}", authAccount, (*Server).updateGateway),
		r("DELETE", "accounts/{account}/ai-gateway/gateways/{gateway}", authAccount, (*Server).deleteGateway),

		r("POST", "accounts/{account}/vectorize/v2/indexes", authAccount, (*Server).createIndex),
		r("GET", "accounts/{account}/vectorize/v2/indexes", authAccount, (*Server).listIndexes),
		r("GET", "accounts/{account}/vectorize/v2/indexes/{index}", authAccount, (*Server).getIndex),
		r("DELETE", "accounts/{account}/vectorize/v2/indexes/{index}", authAccount, (*Server).deleteIndex),

		r("POST", "accounts/{account}/d1/database", authAccount, (*Server).createD1),
		r("GET", "accounts/{account}/d1/database", authAccount, (*Server).listD1),
		r("GET", "accounts/{account}/d1/database/{database}", authAccount, (*Server).getD1),
		r("DELETE", "accounts/{account}/d1/database/{database}", authAccount, (*Server).deleteD1),
		r("POST", "accounts/{account}/d1/database/{database}/query", authAccount, (*Server).queryD1),
		r("POST", "accounts/{account}/d1/database/{database}/raw", authAccount, (*Server).rawD1),

		// KV and R2 (handlers_kv.go, handlers_r2.go); keys and object names may hold '/'.
		r("POST", "accounts/{account}/storage/kv/namespaces", authAccount, (*Server).createKVNamespace),
		r("GET", "accounts/{account}/storage/kv/namespaces", authAccount, (*Server).listKVNamespaces),
		r("GET", "accounts/{account}/storage/kv/namespaces/{namespace}", authAccount, (*Server).getKVNamespace),
		r("PUT", "accounts/{account}/storage/kv/namespaces/{namespace}", authAccount, (*Server).renameKVNamespace),
		r("DELETE", "accounts/{account}/storage/kv/namespaces/{namespace}", authAccount, (*Server).deleteKVNamespace),
		r("GET", "accounts/{account}/storage/kv/namespaces/{namespace}/keys", authAccount, (*Server).listKVKeysAPI),
		r("PUT", "accounts/{account}/storage/kv/namespaces/{namespace}/values/{key...}", authAccount, (*Server).putKVValue),
		r("GET", "accounts/{account}/storage/kv/namespaces/{namespace}/values/{key...}", authAccount, (*Server).getKVValue),
		r("DELETE", "accounts/{account}/storage/kv/namespaces/{namespace}/values/{key...}", authAccount, (*Server).deleteKVValue),
		r("GET", "accounts/{account}/storage/kv/namespaces/{namespace}/metadata/{key...}", authAccount, (*Server).getKVMetadata),
		r("POST", "accounts/{account}/r2/buckets", authAccount, (*Server).createBucket),
		r("GET", "accounts/{account}/r2/buckets", authAccount, (*Server).listBuckets),
		r("GET", "accounts/{account}/r2/buckets/{bucket}", authAccount, (*Server).getBucket),
		r("DELETE", "accounts/{account}/r2/buckets/{bucket}", authAccount, (*Server).deleteBucket),
		r("GET", "accounts/{account}/r2/buckets/{bucket}/objects", authAccount, (*Server).listObjects),
		r("PUT", "accounts/{account}/r2/buckets/{bucket}/objects/{key...}", authAccount, (*Server).putObject),
		r("GET", "accounts/{account}/r2/buckets/{bucket}/objects/{key...}", authAccount, (*Server).getObject),
		r("DELETE", "accounts/{account}/r2/buckets/{bucket}/objects/{key...}", authAccount, (*Server).deleteObject),

		r("POST", "accounts/{account}/ai/run/{model...}", authAccount, (*Server).runAI),
		r("GET", "accounts/{account}/ai/models/search", authAccount, (*Server).searchModels),
		r("GET", "accounts/{account}/ai/models/schema", authAccount, (*Server).modelSchema),
		r("GET", "accounts/{account}/ai/tasks/search", authAccount, (*Server).searchTasks),
		r("GET", "accounts/{account}/ai/authors/search", authAccount, (*Server).searchAuthors),

		r("POST", "accounts/{account}/analytics_engine/sql", authAccount, (*Server).analyticsSQL),
		r("POST", "graphql", authAnyToken, (*Server).graphQL),
	}
})

// match reports whether segs fit the pattern, filling params.
func (rt route) match(segs []string) (map[string]string, bool) {
	params := map[string]string{}
	for i, p := range rt.pattern {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "...}") {
			if i >= len(segs) {
				return nil, false
			}
			params[p[1:len(p)-4]] = strings.Join(segs[i:], "/")
			return params, true
		}
		if i >= len(segs) {
			return nil, false
		}
		if strings.HasPrefix(p, "{") {
			if segs[i] == "" {
				return nil, false
			}
			params[p[1:len(p)-1]] = segs[i]
			continue
		}
		if p != segs[i] {
			return nil, false
		}
	}
	return params, len(segs) == len(rt.pattern)
}

// splitPath returns the unescaped segments of the path below /client/v4. Segments are split on
// the escaped path so a %2F in a secret name (wrangler's url_encoded=true) stays in its segment.
func splitPath(r *http.Request) ([]string, bool) {
	p := r.URL.EscapedPath()
	rest, ok := strings.CutPrefix(p, apiPrefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return nil, false
	}
	var segs []string
	for _, raw := range strings.Split(rest, "/") {
		if raw == "" {
			continue // tolerate "//" from base URLs with a trailing slash
		}
		seg, err := url.PathUnescape(raw)
		if err != nil {
			seg = raw
		}
		segs = append(segs, seg)
	}
	return segs, true
}

// routeAPI dispatches a Cloudflare API request.
func (s *Server) routeAPI(w http.ResponseWriter, req *http.Request) {
	segs, ok := splitPath(req)
	if !ok {
		writeAPIError(w, errNoRoute(req.URL.Path))
		return
	}
	var methodMismatch bool
	for _, rt := range routes() {
		params, ok := rt.match(segs)
		if !ok {
			continue
		}
		if rt.method != req.Method {
			methodMismatch = true
			continue
		}
		c := &call{w: w, r: req, params: params}
		if apiErr := s.authorize(c, rt.auth); apiErr != nil {
			writeAPIError(w, apiErr)
			return
		}
		if apiErr := rt.handler(s, c); apiErr != nil {
			writeAPIError(w, apiErr)
		}
		return
	}
	if methodMismatch {
		writeAPIError(w, newAPIError(http.StatusMethodNotAllowed, codeMethodNotAllowed, "Method %s not allowed for this route", req.Method))
		return
	}
	writeAPIError(w, errNoRoute(req.URL.Path))
}

func errNoRoute(path string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Errors: []apiMessage{
		{Code: codeCouldNotRoute, Message: fmt.Sprintf("Could not route to %s, perhaps your object identifier is invalid?", path)},
		{Code: codeNoRoute, Message: "No route for that URI"},
	}}
}

var accountIDPattern = lazyre.Regexp{Expr: `^[0-9a-f]{32}$`}

// authorize checks the Authorization header for the route's auth kind. The order mirrors
// Cloudflare: header syntax first, then the object identifier, then the token.
func (s *Server) authorize(c *call, kind authKind) *apiError {
	token, present, apiErr := parseAuthorization(c.r)
	if apiErr != nil {
		return apiErr
	}
	c.token = token
	acct, hasAccount := c.params["account"]
	if hasAccount && !accountIDPattern.MatchString(acct) {
		return errNoRoute(c.r.URL.Path)
	}
	switch kind {
	case authVerifyUser, authVerifyAccount:
		if !present {
			return newAPIError(http.StatusBadRequest, codeMissingAuth, "Missing Authorization header")
		}
		if kind == authVerifyAccount {
			c.accountID = acct
		}
		return nil // the handler answers 1000 for an unknown token
	case authAnyToken:
		if s.accountForToken(token) == "" {
			return errAuth()
		}
		return nil
	}
	if !present || s.accountForToken(token) != acct {
		return errAuth()
	}
	c.accountID = acct
	return nil
}

// parseAuthorization returns the bearer token. An absent header is not an error here (the
// route decides); a header that is not "Bearer <printable token>" is 6003/6111 like Cloudflare.
func parseAuthorization(r *http.Request) (token string, present bool, apiErr *apiError) {
	h, ok := r.Header["Authorization"]
	if !ok || len(h) == 0 {
		return "", false, nil
	}
	token, ok = strings.CutPrefix(h[0], "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" || len(h) > 1 || !printableToken(token) {
		return "", true, &apiError{Status: http.StatusBadRequest, Errors: []apiMessage{{
			Code: codeBadHeaders, Message: "Invalid request headers",
			ErrorChain: []apiMessage{{Code: codeBadAuthFormat, Message: "Invalid format for Authorization header"}},
		}}}
	}
	return token, true, nil
}

func printableToken(t string) bool {
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] > '~' {
			return false
		}
	}
	return true
}

// accountForToken is the account of a token the API accepts: known, not disabled, not
// expired; "" for any other.
func (s *Server) accountForToken(token string) string {
	acct, rec := s.lookupToken(token)
	if rec == nil || rec.status(s.opts.now()) != "active" {
		return ""
	}
	return acct
}

// lookupToken finds a token's account and record whatever its status; nil for an unknown one.
func (s *Server) lookupToken(token string) (string, *tokenRecord) {
	if token == "" {
		return "", nil
	}
	hash := tokenHash(token)
	s.mu.RLock()
	defer s.mu.RUnlock()
	acct := s.tokens[hash]
	a := s.st.Accounts[acct]
	if a == nil {
		return "", nil
	}
	if a.Token.Hash == hash {
		rec := a.Token
		return acct, &rec
	}
	for _, t := range a.Tokens {
		if t.Hash == hash {
			rec := *t
			return acct, &rec
		}
	}
	return "", nil
}

func emptyList(_ *Server, c *call) *apiError {
	writeResult(c.w, []any{})
	return nil
}

func emptyPagedList(_ *Server, c *call) *apiError {
	page, perPage := pageParams(c.r, 20)
	writeResultInfo(c.w, []any{}, pageInfo{Page: page, PerPage: perPage})
	return nil
}
