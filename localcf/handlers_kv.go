package localcf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The Workers KV REST API (cloudflare-operations.md §9): namespaces under
// /accounts/{account}/storage/kv/namespaces, their keys and values.

// maxKVTitleBytes bounds a namespace title (a local choice; Cloudflare documents none).
const maxKVTitleBytes = 512

func errKVTitleTaken() *apiError {
	return newAPIError(http.StatusBadRequest, codeKVTitleExists, "a namespace with this account ID and title already exists")
}

// kvStoreOrError opens the KV store for a handler.
func (s *Server) kvStoreOrError() (*containerStore[kvNamespace], *apiError) {
	kv, _, err := s.storage()
	if err != nil {
		return nil, errInternal(err)
	}
	return kv, nil
}

// checkKVTitle validates a create or rename body's title.
func checkKVTitle(title *string) *apiError {
	if title == nil || strings.TrimSpace(*title) == "" {
		return errValidation("title is required: a non-empty name for the namespace.")
	}
	if len(*title) > maxKVTitleBytes || !utf8.ValidString(*title) {
		return errValidation("title must be valid UTF-8 of at most %d bytes.", maxKVTitleBytes)
	}
	return nil
}

// titleFree refuses a title another namespace of the account has.
func titleFree(title string) func([]kvNamespace) error {
	return func(existing []kvNamespace) error {
		for _, n := range existing {
			if n.Title == title {
				return errKVTitleTaken()
			}
		}
		return nil
	}
}

// titledKVRequest reads the {"title"} body of a create or rename, checked, and opens the store.
func (s *Server) titledKVRequest(c *call) (string, *containerStore[kvNamespace], *apiError) {
	var body struct {
		Title *string `json:"title"`
	}
	if apiErr := decodeJSONBody(c.r, &body); apiErr != nil {
		return "", nil, apiErr
	}
	if apiErr := checkKVTitle(body.Title); apiErr != nil {
		return "", nil, apiErr
	}
	kv, apiErr := s.kvStoreOrError()
	return *body.Title, kv, apiErr
}

// createKVNamespace: POST /storage/kv/namespaces {"title"}.
func (s *Server) createKVNamespace(c *call) *apiError {
	title, kv, apiErr := s.titledKVRequest(c)
	if apiErr != nil {
		return apiErr
	}
	ns := kvNamespace{ID: randomHex(16), Title: title, SupportsURLEncoding: true, CreatedOn: s.opts.now().UTC()}
	if err := kv.create(c.accountID, ns.ID, ns, titleFree(ns.Title)); err != nil {
		return storeAPIError(err)
	}
	writeResult(c.w, ns.public())
	return nil
}

// storeAPIError turns a store error into the API's answer (an *apiError from a conflict check
// passes through).
func storeAPIError(err error) *apiError {
	var apiErr *apiError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	return errInternal(err)
}

// listKVNamespaces: GET /storage/kv/namespaces?page&per_page&order=id|title&direction=asc|desc.
func (s *Server) listKVNamespaces(c *call) *apiError {
	q := c.r.URL.Query()
	order, direction := q.Get("order"), q.Get("direction")
	if order != "" && order != "id" && order != "title" {
		return errValidation("order must be \"id\" or \"title\", not %q.", order)
	}
	if direction != "" && direction != "asc" && direction != "desc" {
		return errValidation("direction must be \"asc\" or \"desc\", not %q.", direction)
	}
	page, perPage := pageParams(c.r, 20)
	perPage = min(perPage, 1000)
	kv, apiErr := s.kvStoreOrError()
	if apiErr != nil {
		return apiErr
	}
	all := kv.records(c.accountID)
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if direction == "desc" {
			a, b = b, a
		}
		if order == "id" || a.Title == b.Title {
			return a.ID < b.ID
		}
		return a.Title < b.Title
	})
	out := []kvPublic{}
	for i := (page - 1) * perPage; i < len(all) && i < page*perPage; i++ {
		out = append(out, all[i].public())
	}
	writeResultInfo(c.w, out, pageInfo{Page: page, PerPage: perPage, Count: len(out), TotalCount: len(all),
		TotalPages: (len(all) + perPage - 1) / perPage})
	return nil
}

func (s *Server) getKVNamespace(c *call) *apiError {
	kv, apiErr := s.kvStoreOrError()
	if apiErr != nil {
		return apiErr
	}
	ns, ok := kv.record(c.accountID, c.param("namespace"))
	if !ok {
		return errKVNamespaceNotFound().apiError()
	}
	writeResult(c.w, ns.public())
	return nil
}

// renameKVNamespace: PUT /storage/kv/namespaces/{id} {"title"}.
func (s *Server) renameKVNamespace(c *call) *apiError {
	title, kv, apiErr := s.titledKVRequest(c)
	if apiErr != nil {
		return apiErr
	}
	ns, err := kv.update(c.accountID, c.param("namespace"), func(rec *kvNamespace, others []kvNamespace) error {
		if err := titleFree(title)(others); err != nil {
			return err
		}
		rec.Title = title
		return nil
	})
	if errors.Is(err, errNoContainer) {
		return errKVNamespaceNotFound().apiError()
	}
	if err != nil {
		return storeAPIError(err)
	}
	writeResult(c.w, ns.public())
	return nil
}

// deleteKVNamespace removes the namespace and every pair in it, for good. Workers still bound
// to it keep running; their calls fail until they are redeployed without it.
func (s *Server) deleteKVNamespace(c *call) *apiError {
	kv, apiErr := s.kvStoreOrError()
	if apiErr != nil {
		return apiErr
	}
	err := kv.remove(c.accountID, c.param("namespace"), true, nil)
	if errors.Is(err, errNoContainer) {
		return errKVNamespaceNotFound().apiError()
	}
	if err != nil {
		return errInternal(err)
	}
	writeResult(c.w, map[string]any{})
	return nil
}

// listKVKeys: GET /storage/kv/namespaces/{id}/keys?limit=10..1000&prefix&cursor. result_info
// is {count, cursor}; the cursor is "" on the last page.
func (s *Server) listKVKeysAPI(c *call) *apiError {
	q := c.r.URL.Query()
	limit := maxKVListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < minKVRESTListLimit || n > maxKVListLimit {
			return errValidation("limit must be a number from %d to %d, not %q.", minKVRESTListLimit, maxKVListLimit, v)
		}
		limit = n
	}
	keys, next, kErr := s.listKVKeys(c.accountID, c.param("namespace"), q.Get("prefix"), q.Get("cursor"), limit)
	if kErr != nil {
		return kErr.apiError()
	}
	writeResultInfo(c.w, keys, map[string]any{"count": len(keys), "cursor": next})
	return nil
}

// kvKeyFromPath is the key of a values/{key} route, taken from the escaped path so a key may
// hold '/' either encoded or not (and "//"), then URL-decoded (supports_url_encoding).
func kvKeyFromPath(c *call) (string, *apiError) {
	return keyFromPath(c, "/storage/kv/namespaces/"+c.param("namespace")+"/values/")
}

// keyFromPath returns what follows marker in the request's escaped path, URL-decoded.
func keyFromPath(c *call, marker string) (string, *apiError) {
	p := c.r.URL.EscapedPath()
	i := strings.Index(p, marker)
	if i < 0 {
		return "", errNoRoute(c.r.URL.Path)
	}
	key, err := url.PathUnescape(p[i+len(marker):])
	if err != nil {
		return "", errValidation("The key in the path is not validly URL-encoded: %v", err)
	}
	return key, nil
}

// putKVValue: PUT /storage/kv/namespaces/{id}/values/{key}?expiration&expiration_ttl. The body
// is the value's bytes, or a multipart form with a `value` part and an optional `metadata` part
// (JSON), as cloudflare-go sends it.
func (s *Server) putKVValue(c *call) *apiError {
	key, apiErr := kvKeyFromPath(c)
	if apiErr != nil {
		return apiErr
	}
	var opts kvWriteOptions
	q := c.r.URL.Query()
	for name, dst := range map[string]**float64{"expiration": &opts.Expiration, "expiration_ttl": &opts.ExpirationTTL} {
		if v := q.Get(name); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return errValidation("%s must be a number of seconds, not %q.", name, v)
			}
			*dst = &f
		}
	}
	var body io.Reader = http.MaxBytesReader(c.w, c.r.Body, maxKVValueBytes+1)
	mt, params, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" && c.r.ContentLength > maxKVValueBytes {
		return errKVValueTooLarge(c.r.ContentLength).apiError()
	}
	if mt == "multipart/form-data" {
		value, metadata, apiErr := readKVForm(c, params["boundary"])
		if apiErr != nil {
			return apiErr
		}
		body, opts.Metadata = bytes.NewReader(value), metadata
	}
	if kErr := s.putKV(c.accountID, c.param("namespace"), key, opts, body); kErr != nil {
		return kErr.apiError()
	}
	writeResult(c.w, map[string]any{})
	return nil
}

// readKVForm reads a multipart value write: the `value` part (at most the value limit) and the
// `metadata` part (JSON).
func readKVForm(c *call, boundary string) (value []byte, metadata json.RawMessage, apiErr *apiError) {
	if boundary == "" {
		return nil, nil, newAPIError(http.StatusBadRequest, codeParseBody, "The multipart body has no boundary.")
	}
	body := http.MaxBytesReader(c.w, c.r.Body, maxKVValueBytes+maxMetadataBytes)
	mr := multipart.NewReader(body, boundary)
	sawValue := false
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, newAPIError(http.StatusBadRequest, codeParseBody, "Could not read the multipart body: %v", err)
		}
		switch p.FormName() {
		case "value":
			value, err = io.ReadAll(io.LimitReader(p, maxKVValueBytes+1))
			if len(value) > maxKVValueBytes {
				return nil, nil, errKVValueTooLarge(int64(len(value))).apiError()
			}
			sawValue = true
		case "metadata":
			var raw []byte
			raw, err = io.ReadAll(io.LimitReader(p, maxMetadataBytes))
			metadata = raw
		}
		if err != nil {
			return nil, nil, newAPIError(http.StatusBadRequest, codeParseBody, "Could not read the multipart body: %v", err)
		}
	}
	if !sawValue {
		return nil, nil, errValidation("The multipart body has no `value` part.")
	}
	return value, metadata, nil
}

// kvKeyRequest is the checked key of a value route and the store it is read from.
func (s *Server) kvKeyRequest(c *call) (string, *containerStore[kvNamespace], *apiError) {
	key, apiErr := kvKeyFromPath(c)
	if apiErr != nil {
		return "", nil, apiErr
	}
	if kErr := checkKVKey(key); kErr != nil {
		return "", nil, kErr.apiError()
	}
	kv, apiErr := s.kvStoreOrError()
	return key, kv, apiErr
}

// getKVValue: GET /storage/kv/namespaces/{id}/values/{key} answers the value's bytes.
func (s *Server) getKVValue(c *call) *apiError {
	key, kv, apiErr := s.kvKeyRequest(c)
	if apiErr != nil {
		return apiErr
	}
	meta, body, found, err := kv.get(c.accountID, c.param("namespace"), key)
	if errors.Is(err, errNoContainer) {
		return errKVNamespaceNotFound().apiError()
	}
	if err != nil {
		return errInternal(err)
	}
	if !found || !kvLive(s.opts.now())(&meta) {
		if body != nil {
			body.Close()
		}
		return newAPIError(http.StatusNotFound, codeKVKeyNotFound, "get: 'key not found'")
	}
	defer body.Close()
	c.w.Header().Set("Content-Type", "application/octet-stream")
	c.w.Header().Set("Content-Length", strconv.FormatInt(meta.Size, 10))
	if meta.Expiration != 0 {
		c.w.Header().Set("Expiration", strconv.FormatInt(meta.Expiration, 10))
	}
	c.w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(c.w, body)
	return nil
}

// getKVMetadata: GET /storage/kv/namespaces/{id}/metadata/{key} answers the pair's metadata
// (null when it has none).
func (s *Server) getKVMetadata(c *call) *apiError {
	key, apiErr := keyFromPath(c, "/storage/kv/namespaces/"+c.param("namespace")+"/metadata/")
	if apiErr != nil {
		return apiErr
	}
	if kErr := checkKVKey(key); kErr != nil {
		return kErr.apiError()
	}
	kv, apiErr := s.kvStoreOrError()
	if apiErr != nil {
		return apiErr
	}
	meta, found, err := kv.head(c.accountID, c.param("namespace"), key)
	switch {
	case errors.Is(err, errNoContainer):
		return errKVNamespaceNotFound().apiError()
	case err != nil:
		return errInternal(err)
	case !found || !kvLive(s.opts.now())(&meta):
		return newAPIError(http.StatusNotFound, codeKVKeyNotFound, "get: 'key not found'")
	}
	var result any
	if len(meta.Metadata) > 0 {
		result = meta.Metadata
	}
	writeResult(c.w, result)
	return nil
}

// deleteKVValue: DELETE /storage/kv/namespaces/{id}/values/{key}; a key that is not there is
// no error.
func (s *Server) deleteKVValue(c *call) *apiError {
	key, kv, apiErr := s.kvKeyRequest(c)
	if apiErr != nil {
		return apiErr
	}
	err := kv.deleteKeys(c.accountID, c.param("namespace"), []string{key})
	if errors.Is(err, errNoContainer) {
		return errKVNamespaceNotFound().apiError()
	}
	if err != nil {
		return errInternal(fmt.Errorf("delete %q: %w", key, err))
	}
	writeResult(c.w, map[string]any{})
	return nil
}
