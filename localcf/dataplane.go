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
// the script (any port), to the script's deployed version.
func (s *Server) serveWorkersDev(w http.ResponseWriter, r *http.Request) {
	k, v := s.resolveHost(r.Host)
	if v == nil {
		writeUnknownHost(w, r.Host)
		return
	}
	for attempt := 0; attempt < 3; attempt++ {
		ctx, cancel := context.WithTimeout(s.ctx, lazyStartTimeout)
		ref, err := s.live.acquire(ctx, k, v)
		cancel()
		if errors.Is(err, context.Canceled) && s.ctx.Err() == nil {
			// A newer deployment replaced the process we started; serve that one.
			if k, v = s.resolveHost(r.Host); v == nil {
				writeUnknownHost(w, r.Host)
				return
			}
			continue
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

// resolveHost finds the deployed version behind a workers.dev host name or an attached custom
// domain. Both reach the same process: a script's workers.dev name and its custom domains
// serve one deployment.
func (s *Server) resolveHost(host string) (liveKey, *version) {
	host = hostOnly(host)
	rest, ok := strings.CutSuffix(host, ".workers.dev")
	if !ok {
		k, v, _ := s.resolveCustomDomain(host)
		return k, v
	}
	name, sub, ok := strings.Cut(rest, ".")
	if !ok || sub == "" || strings.Contains(sub, ".") {
		return liveKey{}, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for id, a := range s.st.Accounts {
		if a.Subdomain != sub {
			continue
		}
		sc := a.Scripts[name]
		if sc == nil || !sc.Subdomain.Enabled {
			return liveKey{}, nil
		}
		return liveKey{id, name}, sc.deployedVersion()
	}
	return liveKey{}, nil
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
