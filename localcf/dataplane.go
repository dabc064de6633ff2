package localcf

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// lazyStartTimeout bounds starting a deployed version on its first request after a restart.
const lazyStartTimeout = 30 * time.Second

// serveWorkersDev routes Host: <script>.<subdomain>.workers.dev, or a custom domain attached to
// the script (any port), to a version of the script's active deployment: the one the version
// override header names, else by the deployment's percentages (routeVersion).
func (s *Server) serveWorkersDev(w http.ResponseWriter, r *http.Request) {
	k, ok := s.resolveHost(r.Host)
	if !ok {
		writeUnknownHost(w, r.Host)
		return
	}
	for attempt := 0; attempt < 3; attempt++ {
		v := s.routeVersion(k, r.Header)
		if v == nil {
			writeUnknownHost(w, r.Host)
			return
		}
		ctx, cancel := context.WithTimeout(s.ctx, lazyStartTimeout)
		ref, err := s.live.acquire(ctx, k, v, func() bool { return s.isDeployed(k, v.ID) })
		cancel()
		if errors.Is(err, errNotServing) && s.ctx.Err() == nil {
			continue // a newer deployment dropped the version we started; pick from that one
		}
		if err != nil {
			fmt.Fprintf(s.opts.Log, "localcf: start %s: %v\n", k.script, err)
			http.Error(w, "error 1101: Worker threw exception while starting", http.StatusInternalServerError)
			return
		}
		defer s.live.release(ref)
		ref.proc.ServeHTTP(w, r)
		return
	}
	http.Error(w, "error 1101: Worker is being redeployed, retry", http.StatusServiceUnavailable)
}

// routeVersion is the version of k's active deployment that serves a request with header h (see
// splitter.choose); nil when nothing is deployed.
func (s *Server) routeVersion(k liveKey, h http.Header) *version {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc := s.existingScript(k.account, k.script)
	if sc == nil {
		return nil
	}
	d := sc.activeDeployment()
	if d == nil {
		return nil
	}
	return sc.version(s.split.choose(k, d, h))
}

// isDeployed reports whether versionID is in k's active deployment. A lazily started process
// is kept only then: it may have been picked from a deployment replaced meanwhile.
func (s *Server) isDeployed(k liveKey, versionID string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc := s.existingScript(k.account, k.script)
	if sc == nil {
		return false
	}
	d := sc.activeDeployment()
	return d != nil && deploymentHas(d, versionID)
}

// resolveHost finds the script behind a workers.dev host name or an attached custom domain, if
// it has a deployment. Both reach the same processes: a script's workers.dev name and its
// custom domains serve one deployment.
func (s *Server) resolveHost(host string) (liveKey, bool) {
	host = hostOnly(host)
	rest, ok := strings.CutSuffix(host, ".workers.dev")
	if !ok {
		k, v, _ := s.resolveCustomDomain(host)
		return k, v != nil
	}
	name, sub, ok := strings.Cut(rest, ".")
	if !ok || sub == "" || strings.Contains(sub, ".") {
		return liveKey{}, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for id, a := range s.st.Accounts {
		if a.Subdomain != sub {
			continue
		}
		sc := a.Scripts[name]
		if sc == nil || !sc.Subdomain.Enabled {
			return liveKey{}, false
		}
		return liveKey{id, name}, sc.activeDeployment() != nil
	}
	return liveKey{}, false
}

// writeUnknownHost answers like Cloudflare's edge for a workers.dev name (or a name in a local
// zone) with nothing behind it.
func writeUnknownHost(w http.ResponseWriter, host string) {
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintf(w, "<!DOCTYPE html><html><head><title>There is nothing here yet</title></head><body>"+
		"<h1>There is nothing here yet</h1><p>If you expected something at %s, the Worker may not be deployed, its workers.dev route may be disabled, or no Worker may be attached to this custom domain.</p>"+
		"<p>Error 1042 (local Cloudflare)</p></body></html>\n", htmlEscape(host))
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
