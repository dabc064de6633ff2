package localcf

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
)

// tailEventsPath is where the tail worker of every workerd process posts its trace events
// (workerd/tail_worker.js), on the binding backend.
const tailEventsPath = "/tail-events"

// maxTailPost bounds one batch of trace events (an invocation's console output included).
const maxTailPost = 8 << 20

// tailFilter is one item of a tail's filters: exactly one field is set (cloudflare-operations.md
// §2.2). All of a tail's filters must match for an event to be sent.
type tailFilter struct {
	SamplingRate  *float64      `json:"sampling_rate,omitempty"`
	Outcome       []string      `json:"outcome,omitempty"`
	Method        []string      `json:"method,omitempty"`
	Header        *headerFilter `json:"header,omitempty"`
	ClientIP      []string      `json:"client_ip,omitempty"`
	Query         *string       `json:"query,omitempty"`
	ScriptVersion *string       `json:"scriptVersion,omitempty"`
}

type headerFilter struct {
	Key   string  `json:"key"`
	Query *string `json:"query,omitempty"`
}

// tailOutcomes are the outcomes an event can have (wrangler's "error" is a client-side
// shorthand for the last four).
var tailOutcomes = []string{"ok", "canceled", "exception", "exceededCpu", "exceededMemory", "unknown"}

// checkTailFilters refuses filters the strictest reading does not allow: an item with no or
// several fields, a sampling rate outside (0, 1), an unknown outcome, an empty list or key,
// a client_ip that is neither an address nor "self".
func checkTailFilters(filters []tailFilter) *apiError {
	for i, f := range filters {
		if n := f.fieldCount(); n != 1 {
			return errValidation("filters[%d]: want exactly one of sampling_rate, outcome, method, header, client_ip, query, scriptVersion; got %d", i, n)
		}
		if msg := f.problem(); msg != "" {
			return errValidation("filters[%d]: %s", i, msg)
		}
	}
	return nil
}

func (f tailFilter) fieldCount() int {
	n := 0
	for _, set := range []bool{f.SamplingRate != nil, f.Outcome != nil, f.Method != nil, f.Header != nil,
		f.ClientIP != nil, f.Query != nil, f.ScriptVersion != nil} {
		if set {
			n++
		}
	}
	return n
}

func (f tailFilter) problem() string {
	switch {
	case f.SamplingRate != nil && (*f.SamplingRate <= 0 || *f.SamplingRate >= 1):
		return "sampling_rate must be above 0 and below 1"
	case f.Outcome != nil && (len(f.Outcome) == 0 || slices.ContainsFunc(f.Outcome, func(o string) bool { return !slices.Contains(tailOutcomes, o) })):
		return "outcome must list some of " + strings.Join(tailOutcomes, ", ")
	case f.Method != nil && (len(f.Method) == 0 || slices.Contains(f.Method, "")):
		return "method must list HTTP methods"
	case f.Header != nil && f.Header.Key == "":
		return "header needs a key"
	case f.ClientIP != nil && (len(f.ClientIP) == 0 || slices.ContainsFunc(f.ClientIP, func(ip string) bool { return ip != "self" && net.ParseIP(ip) == nil })):
		return `client_ip must list IP addresses or "self"`
	case f.Query != nil && *f.Query == "":
		return "query must not be empty"
	case f.ScriptVersion != nil && *f.ScriptVersion == "":
		return "scriptVersion must not be empty"
	}
	return ""
}

// tailEventView is what the filters read of an event; the event is sent as it came.
type tailEventView struct {
	Outcome string `json:"outcome"`
	Logs    []struct {
		Message []json.RawMessage `json:"message"`
	} `json:"logs"`
	Event *struct {
		Request *tailRequestView `json:"request"`
	} `json:"event"`
}

// tailPost is one batch from a tail worker: its config (set by workerFor) and the events.
type tailPost struct {
	Config struct {
		Account string `json:"account"`
		Script  string `json:"script"`
		Version string `json:"version"`
	} `json:"config"`
	Events []json.RawMessage `json:"events"`
}

// tailWorkerConfig is the config workerd's tail worker of version v of k posts with.
func tailWorkerConfig(k liveKey, v *version) json.RawMessage {
	cfg, _ := json.Marshal(map[string]string{"account": k.account, "script": k.script, "version": v.ID})
	return cfg
}

// routeTailEvents takes the tail worker's posts off the binding backend before the binding
// log: they are not calls a worker made.
func (s *Server) routeTailEvents(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == tailEventsPath {
			s.ingestTailEvents(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ingestTailEvents hands each event of a batch to every ready tail of its script whose
// filters it matches. A full session buffer drops the event (sampling, as Cloudflare does).
func (s *Server) ingestTailEvents(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTailPost))
	var post tailPost
	if err == nil {
		err = json.Unmarshal(data, &post)
	}
	if err != nil {
		http.Error(w, "bad tail events: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
	sessions := s.tails.readySessions(post.Config.Account, post.Config.Script, s.opts.now())
	for _, raw := range post.Events {
		var ev tailEventView
		if json.Unmarshal(raw, &ev) != nil {
			continue
		}
		for _, t := range sessions {
			if t.matches(&ev, post.Config.Version) {
				t.offer(compactJSON(raw))
			}
		}
	}
}

// offer queues ev for the socket unless the buffer is full or the tail has ended.
func (t *tailSession) offer(ev []byte) {
	select {
	case <-t.done:
	case t.events <- ev:
	default:
	}
}

func compactJSON(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// matches reports whether every filter of t lets ev through.
func (t *tailSession) matches(ev *tailEventView, versionID string) bool {
	for _, f := range t.filters {
		if !f.matches(ev, versionID, t.creatorIP) {
			return false
		}
	}
	return true
}

func (f tailFilter) matches(ev *tailEventView, versionID, selfIP string) bool {
	req := ev.request()
	switch {
	case f.SamplingRate != nil:
		return rand.Float64() < *f.SamplingRate
	case f.Outcome != nil:
		return slices.Contains(f.Outcome, ev.Outcome)
	case f.Method != nil:
		return req != nil && slices.Contains(f.Method, req.Method)
	case f.Header != nil:
		return req != nil && headerMatches(req.Headers, *f.Header)
	case f.ClientIP != nil:
		return req != nil && slices.ContainsFunc(f.ClientIP, func(ip string) bool {
			return ip == clientIPOf(req.Headers, req.CF.ClientIP) || (ip == "self" && selfIP == clientIPOf(req.Headers, req.CF.ClientIP))
		})
	case f.Query != nil:
		return ev.logsContain(*f.Query)
	case f.ScriptVersion != nil:
		return *f.ScriptVersion == versionID
	}
	return false
}

// tailRequestView is what the filters read of an event's request.
type tailRequestView struct {
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	CF      struct {
		ClientIP string `json:"clientIp"`
	} `json:"cf"`
}

func (ev *tailEventView) request() *tailRequestView {
	if ev.Event == nil {
		return nil
	}
	return ev.Event.Request
}

// headerMatches: the header is present (names compare case-insensitively) and, when the
// filter has a query, its value is exactly that (the strictest reading). Values are those the
// event shows, so a redacted header matches only "REDACTED".
func headerMatches(headers map[string]string, f headerFilter) bool {
	for name, value := range headers {
		if strings.EqualFold(name, f.Key) && (f.Query == nil || value == *f.Query) {
			return true
		}
	}
	return false
}

// clientIPOf is the client's address as the runtime saw it: CF-Connecting-IP when the request
// has one, else the address part of workerd's cf.clientIp.
func clientIPOf(headers map[string]string, cfClientIP string) string {
	for name, value := range headers {
		if strings.EqualFold(name, "cf-connecting-ip") {
			return value
		}
	}
	return remoteIP(cfClientIP)
}

// logsContain reports whether a console message has text: string arguments as printed, others
// as their JSON.
func (ev *tailEventView) logsContain(text string) bool {
	for _, l := range ev.Logs {
		for _, arg := range l.Message {
			var s string
			if json.Unmarshal(arg, &s) == nil {
				if strings.Contains(s, text) {
					return true
				}
			} else if strings.Contains(string(arg), text) {
				return true
			}
		}
	}
	return false
}
