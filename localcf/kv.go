package localcf

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Workers KV: namespaces (the REST API in handlers_kv.go) and the kv_namespace binding (this
// file), both on the KV containerStore (kvstore.go).

// KV limits (Cloudflare's documented ones).
const (
	maxKVKeyBytes      = 512
	maxKVValueBytes    = 25 << 20
	maxKVMetadataBytes = 1024
	minKVExpirationTTL = 60
	maxKVListLimit     = 1000
	minKVRESTListLimit = 10 // the REST API's minimum page; the binding takes any positive limit
)

// KV error codes: 10009 (key not found) and 10014 (title in use) are the ones Cloudflare's KV
// API answers; 10013 for an unknown namespace is what it answers as far as the references go
// (UNCONFIRMED: rely on the HTTP status).
const (
	codeKVKeyNotFound       = 10009
	codeKVNamespaceNotFound = 10013
	codeKVTitleExists       = 10014
)

// kvNamespace is one namespace's record.
type kvNamespace struct {
	ID                  string    `json:"id"`
	Title               string    `json:"title"`
	SupportsURLEncoding bool      `json:"supports_url_encoding"`
	CreatedOn           time.Time `json:"created_on"`
}

// kvPublic is a namespace as the API shows it.
type kvPublic struct {
	ID                  string `json:"id"`
	Title               string `json:"title"`
	SupportsURLEncoding bool   `json:"supports_url_encoding"`
}

func (n kvNamespace) public() kvPublic {
	return kvPublic{ID: n.ID, Title: n.Title, SupportsURLEncoding: n.SupportsURLEncoding}
}

func errKVNamespaceNotFound() *storageError {
	return storageErr(http.StatusNotFound, codeKVNamespaceNotFound, "namespace not found")
}

// errKVValueTooLarge refuses a value of size bytes (as far as it was read or declared).
func errKVValueTooLarge(size int64) *storageError {
	return storageErr(http.StatusRequestEntityTooLarge, codeValidation, "Value length of %d exceeds limit of %d.", size, maxKVValueBytes)
}

// checkKVKey applies KV's key rules: 1 to 512 bytes of UTF-8, not "." or "..".
func checkKVKey(key string) *storageError {
	switch {
	case key == "" || key == "." || key == "..":
		return storageErr(http.StatusBadRequest, codeValidation, "Invalid key name %q: keys cannot be empty, \".\" or \"..\".", key)
	case len(key) > maxKVKeyBytes:
		return storageErr(http.StatusRequestURITooLong, codeValidation, "UTF-8 encoded length of %d exceeds key length limit of %d.", len(key), maxKVKeyBytes)
	case !utf8.ValidString(key):
		return storageErr(http.StatusBadRequest, codeValidation, "Invalid key name: keys must be valid UTF-8.")
	}
	return nil
}

// kvWriteOptions are a put's expiry and metadata, as the REST API's query and form or the
// binding's options give them.
type kvWriteOptions struct {
	Expiration    *float64        `json:"expiration"`
	ExpirationTTL *float64        `json:"expirationTtl"`
	Metadata      json.RawMessage `json:"metadata"`
}

// entry checks the options and returns the entry's metadata.
func (o kvWriteOptions) entry(key string, now time.Time) (entryMeta, *storageError) {
	m := entryMeta{Key: key, Uploaded: now.UTC()}
	if o.ExpirationTTL != nil {
		ttl := *o.ExpirationTTL
		if math.IsNaN(ttl) || ttl < minKVExpirationTTL {
			return m, storageErr(http.StatusBadRequest, codeValidation, "Invalid expiration_ttl of %v. Expiration TTL must be at least %d.", ttl, minKVExpirationTTL)
		}
		m.Expiration = now.Unix() + int64(ttl)
	}
	// With both, expiration_ttl wins and expiration is ignored (Cloudflare's API reference).
	if o.Expiration != nil && o.ExpirationTTL == nil {
		at := *o.Expiration
		if math.IsNaN(at) || at < float64(now.Unix()+minKVExpirationTTL) {
			return m, storageErr(http.StatusBadRequest, codeValidation,
				"Invalid expiration of %v. Expiration times must be at least %d seconds in the future.", at, minKVExpirationTTL)
		}
		m.Expiration = int64(at)
	}
	if len(o.Metadata) > 0 && string(o.Metadata) != "null" {
		// Stored compact, and measured so, as Cloudflare measures the serialized metadata.
		var compact bytes.Buffer
		if err := json.Compact(&compact, o.Metadata); err != nil {
			return m, storageErr(http.StatusBadRequest, codeValidation, "metadata must be JSON: %v", err)
		}
		if compact.Len() > maxKVMetadataBytes {
			return m, storageErr(http.StatusRequestEntityTooLarge, codeValidation, "Metadata length of %d exceeds limit of %d.", compact.Len(), maxKVMetadataBytes)
		}
		m.Metadata = compact.Bytes()
	}
	return m, nil
}

// kvLive reports whether a pair has not expired at now; expired pairs read as absent.
func kvLive(now time.Time) func(*entryMeta) bool {
	unix := now.Unix()
	return func(m *entryMeta) bool { return m.Expiration == 0 || m.Expiration > unix }
}

// kvKey is one key as a listing shows it.
type kvKey struct {
	Name       string          `json:"name"`
	Expiration int64           `json:"expiration,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
}

// listKVKeys lists up to limit live keys after cursor; next is "" when the listing is complete.
// The cursor is opaque to clients: the last key returned, encoded.
func (s *Server) listKVKeys(account, id, prefix, cursor string, limit int) (keys []kvKey, next string, kErr *storageError) {
	startAfter := ""
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil {
			return nil, "", storageErr(http.StatusBadRequest, codeValidation, "Invalid cursor %q.", cursor)
		}
		startAfter = string(raw)
	}
	kv, _, err := s.storage()
	if err != nil {
		return nil, "", storageErr(http.StatusInternalServerError, codeBindingBadCall, "%v", err)
	}
	entries, err := kv.list(account, id, prefix, startAfter, kvLive(s.opts.now()))
	if errors.Is(err, errNoContainer) {
		return nil, "", errKVNamespaceNotFound()
	}
	if err != nil {
		return nil, "", storageErr(http.StatusInternalServerError, codeBindingBadCall, "%v", err)
	}
	if len(entries) > limit {
		entries = entries[:limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(entries[limit-1].Key))
	}
	keys = make([]kvKey, len(entries))
	for i, m := range entries {
		keys[i] = kvKey{Name: m.Key, Expiration: m.Expiration, Metadata: m.Metadata}
	}
	return keys, next, nil
}

// putKV stores a value under key in the namespace.
func (s *Server) putKV(account, id, key string, opts kvWriteOptions, body io.Reader) *storageError {
	if kErr := checkKVKey(key); kErr != nil {
		return kErr
	}
	meta, kErr := opts.entry(key, s.opts.now())
	if kErr != nil {
		return kErr
	}
	kv, _, err := s.storage()
	if err != nil {
		return storageErr(http.StatusInternalServerError, codeBindingBadCall, "%v", err)
	}
	stored, err := kv.put(account, id, meta, body, maxKVValueBytes)
	switch {
	case errors.Is(err, errNoContainer):
		return errKVNamespaceNotFound()
	case errors.Is(err, errEntryTooLarge):
		// stored.Size counts what was read: up to one byte over the limit.
		return errKVValueTooLarge(stored.Size)
	case err != nil:
		return storageErr(http.StatusInternalServerError, codeBindingBadCall, "could not store %q: %v", key, err)
	}
	return nil
}

// The binding backend's KV protocol. Every call is POST /kv/<op> with the binding's config and
// the operation's arguments as URI-encoded JSON in the x-localcf-call header, so a put's body
// can be the value's bytes as they are. get answers the value's bytes with
// x-localcf-found: 1|0 and x-localcf-meta (URI-encoded JSON {metadata, expiration}); list and
// delete answer JSON. Failures are the shims' JSON errors, their messages those of workerd's
// own KV binding ("KV PUT failed: 413 ...").
const (
	headerCall  = "x-localcf-call"
	headerFound = "x-localcf-found"
	headerMeta  = "x-localcf-meta"
)

// kvCall is one binding call.
type kvCall struct {
	Account   string `json:"account"`
	Namespace string `json:"namespace_id"`
	Key       string `json:"key"`
	kvWriteOptions
	Prefix string `json:"prefix"`
	Cursor string `json:"cursor"`
	Limit  *int   `json:"limit"`
}

// readCallHeader decodes the x-localcf-call header into v, answering 400 itself when it cannot.
func readCallHeader(w http.ResponseWriter, r *http.Request, v any) bool {
	raw, err := url.PathUnescape(r.Header.Get(headerCall))
	if err == nil {
		err = json.Unmarshal([]byte(raw), v)
	}
	if err != nil {
		writeBindingError(w, http.StatusBadRequest, codeBindingBadCall, fmt.Sprintf("could not read the binding call: %v", err))
		return false
	}
	return true
}

// serveKV runs one env.KV operation against the namespace of the binding.
func (s *Server) serveKV(w http.ResponseWriter, r *http.Request) {
	var call kvCall
	if !readCallHeader(w, r, &call) {
		return
	}
	op := r.PathValue("op")
	fail := func(kErr *storageError) {
		writeBindingError(w, kErr.status, kErr.code, fmt.Sprintf("KV %s failed: %d %s", strings.ToUpper(op), kErr.status, kErr.message))
	}
	switch op {
	case "get":
		if kErr := checkKVKey(call.Key); kErr != nil {
			fail(kErr)
			return
		}
		s.serveKVGet(w, call, fail)
	case "put":
		if r.ContentLength > maxKVValueBytes {
			fail(errKVValueTooLarge(r.ContentLength))
			return
		}
		body := http.MaxBytesReader(w, r.Body, maxKVValueBytes+1)
		if kErr := s.putKV(call.Account, call.Namespace, call.Key, call.kvWriteOptions, body); kErr != nil {
			fail(kErr)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{})
	case "delete":
		if kErr := checkKVKey(call.Key); kErr != nil {
			fail(kErr)
			return
		}
		kv, _, err := s.storage()
		if err == nil {
			err = kv.deleteKeys(call.Account, call.Namespace, []string{call.Key})
		}
		if errors.Is(err, errNoContainer) {
			fail(errKVNamespaceNotFound())
			return
		}
		if err != nil {
			fail(storageErr(http.StatusInternalServerError, codeBindingBadCall, "%v", err))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{})
	case "list":
		s.serveKVList(w, call, fail)
	default:
		writeBindingError(w, http.StatusNotFound, codeBindingBadCall, fmt.Sprintf("unknown KV operation %q", op))
	}
}

func (s *Server) serveKVGet(w http.ResponseWriter, call kvCall, fail func(*storageError)) {
	kv, _, err := s.storage()
	if err != nil {
		fail(storageErr(http.StatusInternalServerError, codeBindingBadCall, "%v", err))
		return
	}
	meta, body, found, err := kv.get(call.Account, call.Namespace, call.Key)
	if errors.Is(err, errNoContainer) {
		fail(errKVNamespaceNotFound())
		return
	}
	if err != nil {
		fail(storageErr(http.StatusInternalServerError, codeBindingBadCall, "%v", err))
		return
	}
	if !found || !kvLive(s.opts.now())(&meta) {
		if body != nil {
			body.Close()
		}
		w.Header().Set(headerFound, "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	defer body.Close()
	info, _ := json.Marshal(map[string]any{"metadata": meta.Metadata, "expiration": meta.Expiration})
	w.Header().Set(headerFound, "1")
	w.Header().Set(headerMeta, url.PathEscape(string(info)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(meta.Size, 10))
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, body)
}

func (s *Server) serveKVList(w http.ResponseWriter, call kvCall, fail func(*storageError)) {
	limit := maxKVListLimit
	if call.Limit != nil {
		limit = *call.Limit
	}
	if limit < 1 || limit > maxKVListLimit {
		fail(storageErr(http.StatusBadRequest, codeValidation, "Invalid key limit %d: it must be between 1 and %d.", limit, maxKVListLimit))
		return
	}
	keys, next, kErr := s.listKVKeys(call.Account, call.Namespace, call.Prefix, call.Cursor, limit)
	if kErr != nil {
		fail(kErr)
		return
	}
	out := map[string]any{"keys": keys, "list_complete": next == "", "cacheStatus": nil}
	if next != "" {
		out["cursor"] = next
	}
	writeJSON(w, http.StatusOK, out)
}
