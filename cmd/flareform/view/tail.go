package view

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Redacted replaces every value the tail hides.
const Redacted = "[redacted]"

// minSecretLen keeps a very short "secret" from blanking ordinary text.
const minSecretLen = 4

// TailRedactor hides secrets in tail events before either form prints them: the values of
// headers named Authorization, Cookie or Set-Cookie, or containing auth, key, token, secret or
// jwt; query parameters whose names say they carry a key or token; and every known secret
// value (the worker's API keys, the API token) wherever it appears.
type TailRedactor struct {
	secrets *strings.Replacer
}

// NewTailRedactor redacts the given secret values (longest first, so a value wins over its
// parts; values shorter than 4 characters are ignored).
func NewTailRedactor(secrets []string) *TailRedactor {
	var vals []string
	for _, s := range secrets {
		if len(s) >= minSecretLen {
			vals = append(vals, s)
		}
	}
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, Redacted)
	}
	return &TailRedactor{secrets: strings.NewReplacer(pairs...)}
}

// RedactJSON rewrites one event with its secrets hidden. Everything else stays as the API sent
// it, keys in their order; the result is compact JSON.
func (r *TailRedactor) RedactJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out bytes.Buffer
	if err := r.copyValue(dec, &out, nil); err != nil {
		return nil, fmt.Errorf("read tail event: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read tail event: trailing data after the event")
	}
	return out.Bytes(), nil
}

// copyValue copies the next JSON value from dec to out; path is the keys leading to it.
func (r *TailRedactor) copyValue(dec *json.Decoder, out *bytes.Buffer, path []string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return r.copyObject(dec, out, path)
		}
		return r.copyArray(dec, out, path)
	case string:
		writeJSONString(out, r.redactString(path, v))
	case json.Number:
		out.WriteString(v.String())
	case bool:
		fmt.Fprint(out, v)
	case nil:
		out.WriteString("null")
	}
	return nil
}

func (r *TailRedactor) copyObject(dec *json.Decoder, out *bytes.Buffer, path []string) error {
	out.WriteByte('{')
	for i := 0; dec.More(); i++ {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if i > 0 {
			out.WriteByte(',')
		}
		writeJSONString(out, r.secrets.Replace(key))
		out.WriteByte(':')
		if err := r.copyValue(dec, out, append(path, key)); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	out.WriteByte('}')
	return err
}

func (r *TailRedactor) copyArray(dec *json.Decoder, out *bytes.Buffer, path []string) error {
	out.WriteByte('[')
	for i := 0; dec.More(); i++ {
		if i > 0 {
			out.WriteByte(',')
		}
		if err := r.copyValue(dec, out, append(path, "[]")); err != nil {
			return err
		}
	}
	_, err := dec.Token() // ']'
	out.WriteByte(']')
	return err
}

// redactString applies the rules to a string found at path.
func (r *TailRedactor) redactString(path []string, s string) string {
	n := len(path)
	if n >= 2 && path[n-2] == "headers" && SensitiveHeader(path[n-1]) {
		return Redacted
	}
	if n >= 1 && path[n-1] == "url" {
		s = RedactURL(s)
	}
	return r.secrets.Replace(s)
}

// writeJSONString writes s as a JSON string without HTML escaping (a log's <, > and & stay
// readable, as the API sent them).
func writeJSONString(out *bytes.Buffer, s string) {
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)           // a string always encodes
	out.Truncate(out.Len() - 1) // Encode's newline
}

// SensitiveHeader reports whether a header's value is hidden.
func SensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	if n == "cookie" || n == "set-cookie" {
		return true
	}
	for _, part := range []string{"auth", "key", "token", "secret", "jwt"} {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// sensitiveParam reports whether a query parameter's value is hidden.
func sensitiveParam(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "key", "token", "api_key", "apikey", "api-key", "access_token", "secret", "password", "sig", "signature":
		return true
	}
	return strings.HasSuffix(n, "_key") || strings.HasSuffix(n, "_token") || strings.HasSuffix(n, "-token")
}

// RedactURL hides the values of key and token query parameters; the rest of the URL, and the
// order of its parameters, stay as they are.
func RedactURL(raw string) string {
	base, query, ok := strings.Cut(raw, "?")
	if !ok {
		return raw
	}
	query, frag, hasFrag := strings.Cut(query, "#")
	params := strings.Split(query, "&")
	for i, p := range params {
		name, _, hasValue := strings.Cut(p, "=")
		if decoded, err := url.QueryUnescape(name); err == nil {
			name = decoded
		}
		if hasValue && sensitiveParam(name) {
			params[i] = p[:strings.Index(p, "=")+1] + Redacted
		}
	}
	out := base + "?" + strings.Join(params, "&")
	if hasFrag {
		out += "#" + frag
	}
	return out
}

// TailEvent is the part of a tail event the pretty form shows.
type TailEvent struct {
	Outcome    string `json:"outcome"`
	ScriptName string `json:"scriptName"`
	Exceptions []struct {
		Name    string `json:"name"`
		Message string `json:"message"`
		Stack   string `json:"stack"`
	} `json:"exceptions"`
	Logs []struct {
		Message []json.RawMessage `json:"message"`
		Level   string            `json:"level"`
	} `json:"logs"`
	EventTimestamp int64 `json:"eventTimestamp"`
	Event          *struct {
		Request *struct {
			URL    string `json:"url"`
			Method string `json:"method"`
		} `json:"request"`
		Cron string `json:"cron"`
	} `json:"event"`
}

// outcomeText is how the pretty form names an outcome (as wrangler's pretty form does).
var outcomeText = map[string]string{
	"ok": "Ok", "canceled": "Canceled", "exception": "Exception Thrown",
	"exceededCpu": "Exceeded CPU Limit", "exceededMemory": "Exceeded Memory", "unknown": "Unknown",
}

// Tail writes one event for a person: a line with the time (UTC), the request and the outcome,
// then its console logs and exceptions indented below. Pass only redacted events.
func Tail(w io.Writer, ev TailEvent) {
	when := time.UnixMilli(ev.EventTimestamp).UTC().Format("2006-01-02 15:04:05Z")
	outcome := outcomeText[ev.Outcome]
	if outcome == "" {
		outcome = ev.Outcome
	}
	fmt.Fprintf(w, "%s %s - %s\n", when, describeTrigger(ev), outcome)
	for _, l := range ev.Logs {
		fmt.Fprintf(w, "  (%s) %s\n", l.Level, logText(l.Message))
	}
	for _, x := range ev.Exceptions {
		fmt.Fprintf(w, "  ✘ %s: %s\n", x.Name, x.Message)
		for _, line := range strings.Split(strings.TrimSpace(x.Stack), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				fmt.Fprintf(w, "      %s\n", line)
			}
		}
	}
}

func describeTrigger(ev TailEvent) string {
	switch {
	case ev.Event != nil && ev.Event.Request != nil:
		return ev.Event.Request.Method + " " + ev.Event.Request.URL
	case ev.Event != nil && ev.Event.Cron != "":
		return fmt.Sprintf("cron %q", ev.Event.Cron)
	}
	return "event"
}

// logText joins a console call's arguments as console.log would: strings as they are, other
// values as JSON.
func logText(args []json.RawMessage) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		var s string
		if json.Unmarshal(a, &s) == nil {
			parts = append(parts, s)
			continue
		}
		parts = append(parts, string(a))
	}
	return strings.Join(parts, " ")
}
