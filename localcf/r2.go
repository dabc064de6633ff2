package localcf

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flareform/flareform/internal/lazyre"
)

// R2: buckets (the REST API in handlers_r2.go) and the r2_bucket binding (this file), both on
// the R2 containerStore (kvstore.go).

// R2 limits (Cloudflare's documented ones; maxR2RESTObjectBytes is the v4 API's upload size
// that wrangler enforces for `r2 object put`).
const (
	maxR2KeyBytes        = 1024
	maxR2MetadataBytes   = 8192
	maxR2ObjectBytes     = 5 << 30
	maxR2RESTObjectBytes = 300 << 20
	maxR2ListLimit       = 1000
)

// R2 error codes. The bucket codes are R2's API codes as far as the references go; the delete
// refusal's code is UNCONFIRMED (the quirk r2_delete_nonempty takes the other reading).
const (
	codeR2BucketExists  = 10004
	codeR2InvalidName   = 10005
	codeR2NoSuchBucket  = 10006
	codeR2NoSuchKey     = 10007
	codeR2NotEmpty      = 10008
	codeR2InvalidObject = 10020
	codeR2BadDigest     = 10037
	codeR2MetadataLimit = 10062
	codeR2TooLarge      = 100100
)

// r2Bucket is one bucket's record, as the API shows it.
type r2Bucket struct {
	Name         string `json:"name"`
	CreationDate string `json:"creation_date"`
	Location     string `json:"location"`
	StorageClass string `json:"storage_class"`
	Jurisdiction string `json:"jurisdiction"`
}

var (
	bucketNamePattern = lazyre.Regexp{Expr: `^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`}
	r2Locations       = map[string]bool{"apac": true, "eeur": true, "enam": true, "weur": true, "wnam": true, "oc": true}
	r2StorageClasses  = map[string]bool{"Standard": true, "InfrequentAccess": true}
	r2Jurisdictions   = map[string]bool{"default": true, "eu": true, "fedramp": true}
)

func errNoSuchBucket() *storageError {
	return storageErr(http.StatusNotFound, codeR2NoSuchBucket, "The specified bucket does not exist.")
}

func errNoSuchKey() *storageError {
	return storageErr(http.StatusNotFound, codeR2NoSuchKey, "The specified key does not exist.")
}

// checkR2Key applies R2's key rules: 1 to 1024 bytes of UTF-8.
func checkR2Key(key string) *storageError {
	if key == "" || len(key) > maxR2KeyBytes || !utf8.ValidString(key) {
		return storageErr(http.StatusBadRequest, codeR2InvalidObject, "The specified object name is not valid: 1 to %d bytes of UTF-8, not %d bytes.", maxR2KeyBytes, len(key))
	}
	return nil
}

// r2HTTPFields are the httpMetadata fields an object keeps, with the header each stands for.
var r2HTTPFields = []struct{ field, header string }{
	{"contentType", "Content-Type"},
	{"contentLanguage", "Content-Language"},
	{"contentDisposition", "Content-Disposition"},
	{"contentEncoding", "Content-Encoding"},
	{"cacheControl", "Cache-Control"},
	{"cacheExpiry", "Expires"},
}

// checkR2Metadata refuses unknown httpMetadata fields and metadata over R2's size limit.
func checkR2Metadata(httpMeta, custom map[string]string) *storageError {
	size := 0
	for k, v := range httpMeta {
		known := false
		for _, f := range r2HTTPFields {
			known = known || f.field == k
		}
		if !known {
			return storageErr(http.StatusBadRequest, codeR2InvalidObject, "httpMetadata has no field %q.", k)
		}
		size += len(k) + len(v)
	}
	for k, v := range custom {
		size += len(k) + len(v)
	}
	if size > maxR2MetadataBytes {
		return storageErr(http.StatusBadRequest, codeR2MetadataLimit, "Your metadata headers exceed the maximum allowed metadata size (%d bytes, over %d).", size, maxR2MetadataBytes)
	}
	return nil
}

// r2ObjectInfo is an object as the binding shim receives it (it makes the R2Object of it).
type r2ObjectInfo struct {
	Key            string            `json:"key"`
	Version        string            `json:"version"`
	Size           int64             `json:"size"`
	ETag           string            `json:"etag"`
	HTTPETag       string            `json:"httpEtag"`
	Uploaded       string            `json:"uploaded"`
	HTTPMetadata   map[string]string `json:"httpMetadata"`
	CustomMetadata map[string]string `json:"customMetadata"`
	StorageClass   string            `json:"storageClass"`
	Checksums      map[string]string `json:"checksums"`
	Range          map[string]int64  `json:"range,omitempty"`
}

func r2Info(m entryMeta, withMetadata bool) r2ObjectInfo {
	info := r2ObjectInfo{Key: m.Key, Version: m.Version, Size: m.Size, ETag: m.ETag, HTTPETag: `"` + m.ETag + `"`,
		Uploaded: m.Uploaded.UTC().Format("2006-01-02T15:04:05.000Z"), StorageClass: "Standard",
		Checksums: map[string]string{"md5": m.ETag}}
	if withMetadata {
		info.HTTPMetadata, info.CustomMetadata = nonNilMap(m.HTTPMetadata), nonNilMap(m.CustomMetadata)
	}
	return info
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// putR2 stores an object; md5Hex, when set, must be the data's MD5.
func (s *Server) putR2(account, bucket string, meta entryMeta, md5Hex string, body io.Reader, maxBytes int64) (entryMeta, *storageError) {
	if rErr := checkR2Key(meta.Key); rErr != nil {
		return meta, rErr
	}
	if rErr := checkR2Metadata(meta.HTTPMetadata, meta.CustomMetadata); rErr != nil {
		return meta, rErr
	}
	_, r2, err := s.storage()
	if err != nil {
		return meta, storageErr(http.StatusInternalServerError, codeBindingBadCall, "%v", err)
	}
	meta.Uploaded = s.opts.now().UTC()
	if md5Hex != "" {
		// Checked as the data is read, so a mismatch fails the write before it commits.
		body = &md5Check{r: body, want: strings.ToLower(md5Hex), sum: md5.New()}
	}
	stored, err := r2.put(account, bucket, meta, body, maxBytes)
	switch {
	case errors.Is(err, errMD5Mismatch):
		return meta, storageErr(http.StatusBadRequest, codeR2BadDigest, "The Content-MD5 you specified did not match what we received.")
	case err != nil:
		return meta, r2StoreError(err, meta.Key, maxBytes)
	}
	return stored, nil
}

func r2StoreError(err error, key string, maxBytes int64) *storageError {
	switch {
	case errors.Is(err, errNoContainer):
		return errNoSuchBucket()
	case errors.Is(err, errEntryTooLarge):
		return storageErr(http.StatusRequestEntityTooLarge, codeR2TooLarge, "Your proposed upload exceeds the maximum allowed object size (%d bytes).", maxBytes)
	}
	return storageErr(http.StatusInternalServerError, codeBindingBadCall, "could not store %q: %v", key, err)
}

// errMD5Mismatch fails a write whose data does not have the MD5 the caller gave: md5Check
// returns it in place of io.EOF, so the store never commits the data.
var errMD5Mismatch = errors.New("md5 mismatch")

type md5Check struct {
	r    io.Reader
	want string
	sum  hash.Hash
}

func (c *md5Check) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	_, _ = c.sum.Write(p[:n])
	if errors.Is(err, io.EOF) && hex.EncodeToString(c.sum.Sum(nil)) != c.want {
		return n, errMD5Mismatch
	}
	return n, err
}

// r2ListOptions are a listing's options (the binding's; the REST API maps its query to them).
type r2ListOptions struct {
	Prefix     string   `json:"prefix"`
	Cursor     string   `json:"cursor"`
	Delimiter  string   `json:"delimiter"`
	StartAfter string   `json:"startAfter"`
	Limit      *int     `json:"limit"`
	Include    []string `json:"include"`
}

// r2Listing is one page of a listing.
type r2Listing struct {
	Objects           []entryMeta
	DelimitedPrefixes []string
	Truncated         bool
	Cursor            string
}

// listR2 lists up to limit objects and delimited prefixes, in key order. The cursor is opaque
// to clients: the key after which the next page starts, encoded.
func (s *Server) listR2(account, bucket string, o r2ListOptions) (r2Listing, *storageError) {
	var out r2Listing
	limit := maxR2ListLimit
	if o.Limit != nil {
		limit = *o.Limit
	}
	if limit < 1 || limit > maxR2ListLimit {
		return out, storageErr(http.StatusBadRequest, codeR2InvalidObject, "limit must be between 1 and %d, not %d.", maxR2ListLimit, limit)
	}
	startAfter := o.StartAfter
	if o.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(o.Cursor)
		if err != nil {
			return out, storageErr(http.StatusBadRequest, codeR2InvalidObject, "The cursor %q is not valid.", o.Cursor)
		}
		startAfter = max(startAfter, string(raw))
	}
	_, r2, err := s.storage()
	if err != nil {
		return out, storageErr(http.StatusInternalServerError, codeBindingBadCall, "%v", err)
	}
	entries, err := r2.list(account, bucket, o.Prefix, startAfter, nil)
	if errors.Is(err, errNoContainer) {
		return out, errNoSuchBucket()
	}
	if err != nil {
		return out, storageErr(http.StatusInternalServerError, codeBindingBadCall, "%v", err)
	}
	out.Objects = []entryMeta{}
	out.DelimitedPrefixes = []string{}
	last, lastPrefix := "", ""
	for _, m := range entries {
		if lastPrefix != "" && strings.HasPrefix(m.Key, lastPrefix) {
			continue
		}
		if len(out.Objects)+len(out.DelimitedPrefixes) == limit {
			out.Truncated = true
			out.Cursor = base64.RawURLEncoding.EncodeToString([]byte(last))
			break
		}
		if o.Delimiter != "" {
			if i := strings.Index(m.Key[len(o.Prefix):], o.Delimiter); i >= 0 {
				lastPrefix = m.Key[:len(o.Prefix)+i+len(o.Delimiter)]
				out.DelimitedPrefixes = append(out.DelimitedPrefixes, lastPrefix)
				// Past every key under the prefix: keys are UTF-8, which never has a 0xff byte.
				last = lastPrefix + "\xff"
				continue
			}
		}
		out.Objects = append(out.Objects, m)
		last = m.Key
	}
	return out, nil
}

// The binding backend's R2 protocol, like KV's (kv.go): POST /r2/<op> with the call as
// URI-encoded JSON in x-localcf-call; put's body is the object's bytes; get answers them with
// x-localcf-found and x-localcf-meta (the object's info); head, list, delete and put answer
// JSON. Failures carry R2's message and code, which the shim throws as
// "<op>: <message> (<code>)", as workerd's own R2 binding does.

// r2Call is one binding call.
type r2Call struct {
	Account        string            `json:"account"`
	Bucket         string            `json:"bucket_name"`
	Key            string            `json:"key"`
	Keys           []string          `json:"keys"`
	HTTPMetadata   map[string]string `json:"httpMetadata"`
	CustomMetadata map[string]string `json:"customMetadata"`
	MD5            string            `json:"md5"`
	Range          *r2Range          `json:"range"`
	r2ListOptions
}

// r2Range is a get's range: offset and length, or the last suffix bytes.
type r2Range struct {
	Offset *int64 `json:"offset"`
	Length *int64 `json:"length"`
	Suffix *int64 `json:"suffix"`
}

// resolve returns the range's first byte and length within an object of size bytes.
func (rg *r2Range) resolve(size int64) (offset, length int64, rErr *storageError) {
	bad := storageErr(http.StatusRequestedRangeNotSatisfiable, 10039, "The requested range is not satisfiable.")
	if rg.Suffix != nil {
		if *rg.Suffix < 0 {
			return 0, 0, bad
		}
		length = min(*rg.Suffix, size)
		return size - length, length, nil
	}
	if rg.Offset != nil {
		offset = *rg.Offset
	}
	length = size - offset
	if rg.Length != nil {
		length = min(*rg.Length, length)
	}
	if offset < 0 || offset > size || length < 0 {
		return 0, 0, bad
	}
	return offset, length, nil
}

// serveR2 runs one env.BUCKET operation against the bucket of the binding.
func (s *Server) serveR2(w http.ResponseWriter, r *http.Request) {
	var call r2Call
	if !readCallHeader(w, r, &call) {
		return
	}
	op := r.PathValue("op")
	fail := func(rErr *storageError) { writeBindingError(w, rErr.status, rErr.code, rErr.message) }
	_, r2, err := s.storage()
	if err != nil {
		fail(storageErr(http.StatusInternalServerError, codeBindingBadCall, "%v", err))
		return
	}
	switch op {
	case "put":
		meta := entryMeta{Key: call.Key, HTTPMetadata: call.HTTPMetadata, CustomMetadata: call.CustomMetadata}
		stored, rErr := s.putR2(call.Account, call.Bucket, meta, call.MD5, http.MaxBytesReader(w, r.Body, maxR2ObjectBytes+1), maxR2ObjectBytes)
		if rErr != nil {
			fail(rErr)
			return
		}
		writeJSON(w, http.StatusOK, r2Info(stored, true))
	case "get":
		s.serveR2Get(w, r2, call, fail)
	case "head":
		if rErr := checkR2Key(call.Key); rErr != nil {
			fail(rErr)
			return
		}
		m, found, err := r2.head(call.Account, call.Bucket, call.Key)
		switch {
		case errors.Is(err, errNoContainer):
			fail(errNoSuchBucket())
		case err != nil:
			fail(storageErr(http.StatusInternalServerError, codeBindingBadCall, "%v", err))
		case !found:
			w.Header().Set(headerFound, "0")
			writeJSON(w, http.StatusOK, nil)
		default:
			w.Header().Set(headerFound, "1")
			writeJSON(w, http.StatusOK, r2Info(m, true))
		}
	case "delete":
		for _, k := range call.Keys {
			if rErr := checkR2Key(k); rErr != nil {
				fail(rErr)
				return
			}
		}
		err := r2.deleteKeys(call.Account, call.Bucket, call.Keys)
		if errors.Is(err, errNoContainer) {
			fail(errNoSuchBucket())
			return
		}
		if err != nil {
			fail(storageErr(http.StatusInternalServerError, codeBindingBadCall, "%v", err))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{})
	case "list":
		page, rErr := s.listR2(call.Account, call.Bucket, call.r2ListOptions)
		if rErr != nil {
			fail(rErr)
			return
		}
		withMeta := false
		for _, inc := range call.Include {
			withMeta = withMeta || inc == "httpMetadata" || inc == "customMetadata"
		}
		objects := make([]r2ObjectInfo, len(page.Objects))
		for i, m := range page.Objects {
			objects[i] = r2Info(m, withMeta)
		}
		out := map[string]any{"objects": objects, "truncated": page.Truncated, "delimitedPrefixes": page.DelimitedPrefixes}
		if page.Truncated {
			out["cursor"] = page.Cursor
		}
		writeJSON(w, http.StatusOK, out)
	default:
		writeBindingError(w, http.StatusNotFound, codeBindingBadCall, fmt.Sprintf("unknown R2 operation %q", op))
	}
}

func (s *Server) serveR2Get(w http.ResponseWriter, r2 *containerStore[r2Bucket], call r2Call, fail func(*storageError)) {
	if rErr := checkR2Key(call.Key); rErr != nil {
		fail(rErr)
		return
	}
	meta, body, found, err := r2.get(call.Account, call.Bucket, call.Key)
	switch {
	case errors.Is(err, errNoContainer):
		fail(errNoSuchBucket())
		return
	case err != nil:
		fail(storageErr(http.StatusInternalServerError, codeBindingBadCall, "%v", err))
		return
	case !found:
		w.Header().Set(headerFound, "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	defer body.Close()
	info := r2Info(meta, true)
	var reader io.Reader = body
	length := meta.Size
	if call.Range != nil {
		offset, n, rErr := call.Range.resolve(meta.Size)
		if rErr != nil {
			fail(rErr)
			return
		}
		if _, err := io.CopyN(io.Discard, body, offset); err != nil {
			fail(storageErr(http.StatusInternalServerError, codeBindingBadCall, "read %q: %v", call.Key, err))
			return
		}
		reader, length = io.LimitReader(body, n), n
		info.Range = map[string]int64{"offset": offset, "length": n}
	}
	encoded, _ := json.Marshal(info)
	w.Header().Set(headerFound, "1")
	w.Header().Set(headerMeta, url.PathEscape(string(encoded)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, reader)
}

// r2LastModified is an object's time as the REST listing shows it.
func r2LastModified(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
