package localcf

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Host-header checks. A web page the user visits can make its own host name resolve to
// 127.0.0.1 (DNS rebinding) and then talk to localcf with the user's browser; its requests
// still carry the page's host name. Refusing every Host that is not a loopback name closes
// that door: a page cannot name loopback and stay same-origin with itself.

// isLoopbackHost reports whether a Host header (with or without port) names this machine's
// loopback: localhost, *.localhost, 127.0.0.0/8 or ::1.
func isLoopbackHost(hostport string) bool {
	host := hostOnly(hostport)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isWorkersDevHost reports whether a Host header is a *.workers.dev name.
func isWorkersDevHost(hostport string) bool {
	return strings.HasSuffix(hostOnly(hostport), ".workers.dev")
}

// isIPLiteralHost reports whether a Host header is an IP address. An address cannot be
// rebound, so with AllowRemote a client may reach the server by the machine's address.
func isIPLiteralHost(hostport string) bool {
	return net.ParseIP(hostOnly(hostport)) != nil
}

// hostOnly lowercases a Host header and drops its port, brackets and trailing dot.
func hostOnly(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// apiHostAllowed is the API listener's rule: loopback names only (plus IP literals when the
// server was started with AllowRemote).
func (s *Server) apiHostAllowed(host string) bool {
	return isLoopbackHost(host) || (s.opts.AllowRemote && isIPLiteralHost(host))
}

// workersDevHostAllowed is the data plane's rule: *.workers.dev names, names in a zone of an
// account (custom domains) and what the API allows.
func (s *Server) workersDevHostAllowed(host string) bool {
	return isWorkersDevHost(host) || s.apiHostAllowed(host) || s.isZoneHost(host)
}

// aiHostAllowed is the internal binding backend's rule: the name workerd's binding shims use
// (http://ai/run/..., http://ai/vectorize/...) and loopback.
func aiHostAllowed(host string) bool {
	return hostOnly(host) == "ai" || isLoopbackHost(host)
}

// guardHost answers 403 to a request whose Host header the listener does not serve, before
// anything else sees the request.
func guardHost(allowed func(host string) bool, what string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowed(r.Host) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": fmt.Sprintf(
				"Host %q is not served here: the local Cloudflare %s answers only %s", r.Host, what, allowedHostsText(what))})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func allowedHostsText(what string) string {
	const loopback = "loopback names (localhost, 127.0.0.1, [::1])"
	switch what {
	case workersDevListener:
		return "*.workers.dev, names in the accounts' zones (custom domains) and " + loopback
	case aiListener:
		return "ai (workerd's ai, ratelimit and vectorize bindings) and " + loopback
	}
	return loopback
}

const (
	apiListener        = "API"
	workersDevListener = "workers.dev data plane"
	aiListener         = "binding backend"
)

// isLoopbackAddr reports whether a listen address binds loopback only: its host is localhost
// or a loopback IP. An empty host (":8787") listens on every interface.
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckListenAddrs refuses listen addresses beyond loopback unless allowRemote: whoever can
// reach a non-loopback listener can read the API token and every deployed worker's secrets.
func CheckListenAddrs(allowRemote bool, addrs ...string) error {
	if remote := RemoteAddrs(addrs...); len(remote) > 0 && !allowRemote {
		return fmt.Errorf("listen address %s is not loopback: anyone who can reach it could use the API token and change the local Cloudflare; listen on 127.0.0.1:PORT, or allow remote access explicitly", remote[0])
	}
	return nil
}

// RemoteAddrs returns the listen addresses that are not loopback ("" means the loopback default).
func RemoteAddrs(addrs ...string) []string {
	var out []string
	for _, addr := range addrs {
		if addr != "" && !isLoopbackAddr(addr) {
			out = append(out, addr)
		}
	}
	return out
}
