package spec

import (
	"fmt"
	"regexp"
	"strings"
)

// domains reads `domains:` on a worker: the hostnames it is attached to as Workers custom
// domains (each inside one of the account's zones, which plan checks).
func (l *loader) domains(w *Worker, v *value) {
	if v == nil || v.null {
		return
	}
	w.Pos["domains"] = posOf(v.node)
	seen := map[string]bool{}
	for _, item := range v.node.Content {
		h, ok := l.str(&value{node: resolveAlias(item)})
		if !ok {
			continue
		}
		host := strings.ToLower(h.s)
		switch {
		case strings.HasPrefix(host, "*"):
			l.errorAt(h.pos, fmt.Sprintf("domain %s is a wildcard; a custom domain is one hostname", h.show()), "list each hostname, e.g. api.example.com")
		case strings.ContainsAny(host, "/:"):
			l.errorAt(h.pos, fmt.Sprintf("domain %s is a URL or route, not a hostname", h.show()), "write the hostname only, e.g. api.example.com")
		case !hostnamePattern.MatchString(host) || len(host) > 253:
			l.errorAt(h.pos, fmt.Sprintf("domain %s is not a hostname", h.show()), "write a hostname of a zone on the account, e.g. api.example.com")
		case seen[host]:
			l.errorAt(h.pos, fmt.Sprintf("domain %s is listed twice", h.show()), "remove the duplicate")
		default:
			seen[host] = true
			w.Domains = append(w.Domains, host)
			w.Pos["domains."+host] = h.pos
		}
	}
}

// hostnamePattern is two or more DNS labels of a-z, 0-9 and '-' (not at either end of a label).
var hostnamePattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// checkUniqueDomains refuses a hostname two workers claim: a custom domain serves one worker.
func (l *loader) checkUniqueDomains(workers []Worker) {
	owner := map[string]string{}
	for _, w := range workers {
		for _, h := range w.Domains {
			if other, ok := owner[h]; ok {
				l.errorAt(w.Pos["domains."+h], fmt.Sprintf("domain %q is also listed by worker %q; a custom domain serves one worker", h, other), "keep it on one worker")
				continue
			}
			owner[h] = w.Key
		}
	}
}
