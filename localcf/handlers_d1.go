package localcf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/flareform/flareform/internal/lazyre"
)

// D1 API error codes. Cloudflare's own codes for these cases are not in the references
// (UNCONFIRMED); these are local choices in D1's 7xxx range, documented in
// docs/local-cloudflare.md.
const (
	codeD1Invalid   = 7400 // a bad name, option or body
	codeD1NotFound  = 7404 // no database with that id on the account
	codeD1NameTaken = 7502 // a database with that name exists on the account
	codeD1Query     = 7500 // SQLite refused the query
)

// d1NamePattern is the local rule for database names: 1 to 64 lowercase letters, digits, '-'
// or '_' (flareform's spec rule, provision/spec/storage.go). Cloudflare documents no exact
// rule; this is a strict reading that the names in its examples all fit.
var d1NamePattern = lazyre.Regexp{Expr: `^[a-z0-9_-]{1,64}$`}

var (
	d1Jurisdictions  = map[string]bool{"eu": true, "fedramp": true}
	d1LocationHints  = map[string]bool{"wnam": true, "enam": true, "weur": true, "eeur": true, "apac": true, "oc": true}
	d1DefaultPerPage = 1000
)

// maxD1QueryBody bounds a query or raw body (a batch of statements with their parameters).
const maxD1QueryBody = 16 << 20

// d1Public is a database as the API shows it (GET and POST); list entries leave out
// num_tables and file_size, as the SDK's list type has neither.
type d1Public struct {
	UUID            string         `json:"uuid"`
	Name            string         `json:"name"`
	Version         string         `json:"version"`
	CreatedAt       string         `json:"created_at"`
	Jurisdiction    *string        `json:"jurisdiction"`
	NumTables       *int64         `json:"num_tables,omitempty"`
	FileSize        *int64         `json:"file_size,omitempty"`
	ReadReplication *d1Replication `json:"read_replication,omitempty"`
}

// d1Replication is read replication's mode; local databases have one copy ("disabled").
type d1Replication struct {
	Mode string `json:"mode"`
}

func (d *d1Database) public() d1Public {
	p := d1Public{UUID: d.UUID, Name: d.Name, Version: "production", CreatedAt: d.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z")}
	if d.Jurisdiction != "" {
		j := d.Jurisdiction
		p.Jurisdiction = &j
	}
	return p
}

func errD1NotFound(id string) *apiError {
	return newAPIError(http.StatusNotFound, codeD1NotFound, "The database %s could not be found.", id)
}

// detailed adds the table count, size and read replication mode, opening the database.
func (s *Server) d1Detailed(accountID string, d *d1Database) (d1Public, *apiError) {
	p := d.public()
	h, err := s.d1Open(accountID, d.UUID)
	if errors.Is(err, errD1Gone) {
		return p, errD1NotFound(d.UUID)
	}
	if err != nil {
		return p, errInternal(err)
	}
	tables, size, err := h.stats()
	if errors.Is(err, errD1Gone) {
		return p, errD1NotFound(d.UUID)
	}
	if err != nil {
		return p, errInternal(err)
	}
	p.NumTables, p.FileSize, p.ReadReplication = &tables, &size, &d1Replication{Mode: "disabled"}
	return p, nil
}

type createD1Body struct {
	Name                *string `json:"name"`
	PrimaryLocationHint *string `json:"primary_location_hint"`
	Jurisdiction        *string `json:"jurisdiction"`
}

// createD1: POST /d1/database {name, primary_location_hint?, jurisdiction?}.
func (s *Server) createD1(c *call) *apiError {
	var body createD1Body
	if apiErr := decodeJSONBody(c.r, &body); apiErr != nil {
		return apiErr
	}
	if body.Name == nil {
		return newAPIError(http.StatusBadRequest, codeD1Invalid, "A database name is required.")
	}
	if !d1NamePattern.MatchString(*body.Name) {
		return newAPIError(http.StatusBadRequest, codeD1Invalid,
			"Database name %q is invalid: use 1 to 64 lowercase letters, digits, '-' or '_'.", *body.Name)
	}
	d := &d1Database{UUID: newUUID(), Name: *body.Name, CreatedAt: s.opts.now().UTC()}
	if j := body.Jurisdiction; j != nil {
		if !d1Jurisdictions[*j] {
			return newAPIError(http.StatusBadRequest, codeD1Invalid, "jurisdiction must be \"eu\" or \"fedramp\", not %q.", *j)
		}
		d.Jurisdiction = *j
	}
	if hint := body.PrimaryLocationHint; hint != nil {
		if !d1LocationHints[*hint] {
			return newAPIError(http.StatusBadRequest, codeD1Invalid, "primary_location_hint must be one of wnam, enam, weur, eeur, apac, oc, not %q.", *hint)
		}
		d.PrimaryLocationHint = *hint
	}
	if apiErr := s.addD1(c.accountID, d); apiErr != nil {
		return apiErr
	}
	pub, apiErr := s.d1Detailed(c.accountID, d)
	if apiErr != nil {
		return apiErr
	}
	writeResult(c.w, pub)
	return nil
}

// addD1 records a new database; its file is created on first open.
func (s *Server) addD1(accountID string, d *d1Database) *apiError {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.Accounts[accountID]
	for _, other := range a.D1Databases {
		if other.Name == d.Name {
			return newAPIError(http.StatusBadRequest, codeD1NameTaken, "A database with the name %q already exists on this account.", d.Name)
		}
	}
	if a.D1Databases == nil {
		a.D1Databases = map[string]*d1Database{}
	}
	a.D1Databases[d.UUID] = d
	if err := s.persistLocked(); err != nil {
		delete(a.D1Databases, d.UUID)
		return errInternal(err)
	}
	return nil
}

// listD1: GET /d1/database?name=&page=&per_page=, by name. name= matches names containing it.
func (s *Server) listD1(c *call) *apiError {
	page, perPage := pageParams(c.r, d1DefaultPerPage)
	if perPage > 10000 {
		perPage = 10000
	}
	filter := c.r.URL.Query().Get("name")
	s.mu.RLock()
	var all []d1Public
	for _, d := range s.st.Accounts[c.accountID].D1Databases {
		if filter == "" || strings.Contains(d.Name, filter) {
			all = append(all, d.public())
		}
	}
	s.mu.RUnlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	out := []d1Public{}
	if from := (page - 1) * perPage; from < len(all) {
		out = all[from:min(from+perPage, len(all))]
	}
	total := len(all)
	writeResultInfo(c.w, out, pageInfo{Page: page, PerPage: perPage, Count: len(out), TotalCount: total, TotalPages: (total + perPage - 1) / perPage})
	return nil
}

// d1Lookup returns the account's database named by the path's {database} (a uuid).
func (s *Server) d1Lookup(c *call) (*d1Database, *apiError) {
	id := strings.ToLower(c.param("database"))
	s.mu.RLock()
	d := s.d1DatabaseFor(c.accountID, id)
	var copyOf d1Database
	if d != nil {
		copyOf = *d
	}
	s.mu.RUnlock()
	if d == nil {
		return nil, errD1NotFound(c.param("database"))
	}
	return &copyOf, nil
}

func (s *Server) getD1(c *call) *apiError {
	d, apiErr := s.d1Lookup(c)
	if apiErr != nil {
		return apiErr
	}
	pub, apiErr := s.d1Detailed(c.accountID, d)
	if apiErr != nil {
		return apiErr
	}
	writeResult(c.w, pub)
	return nil
}

// deleteD1 removes the database from the state, then its files. Workers bound to it keep
// running; their calls fail with "database not found".
func (s *Server) deleteD1(c *call) *apiError {
	id := strings.ToLower(c.param("database"))
	if _, apiErr := deleteAccountEntry(s, c, func(a *account) map[string]*d1Database { return a.D1Databases }, id, func(string) *apiError {
		return errD1NotFound(c.param("database"))
	}); apiErr != nil {
		return apiErr
	}
	if err := s.d1Drop(id); err != nil {
		// The database is gone from the state; leftover files are swept on next use.
		fmt.Fprintf(s.opts.Log, "localcf: %v\n", err)
	}
	writeResult(c.w, nil)
	return nil
}

// d1QueryBody is the body of /query and /raw: one statement (sql may hold several without
// params) or a batch.
type d1QueryBody struct {
	SQL    *string           `json:"sql"`
	Params []json.RawMessage `json:"params"`
	Batch  []struct {
		SQL    *string           `json:"sql"`
		Params []json.RawMessage `json:"params"`
	} `json:"batch"`
}

func (b d1QueryBody) statements() ([]d1Stmt, *apiError) {
	type one struct {
		sql    *string
		params []json.RawMessage
	}
	var list []one
	switch {
	case b.SQL != nil && b.Batch != nil:
		return nil, newAPIError(http.StatusBadRequest, codeD1Invalid, "Send either sql (with params) or batch, not both.")
	case b.SQL != nil:
		list = []one{{b.SQL, b.Params}}
	case len(b.Batch) > 0:
		for _, q := range b.Batch {
			list = append(list, one{q.SQL, q.Params})
		}
	default:
		return nil, newAPIError(http.StatusBadRequest, codeD1Invalid, "sql is required.")
	}
	out := make([]d1Stmt, len(list))
	for i, q := range list {
		if q.sql == nil || strings.TrimSpace(*q.sql) == "" {
			return nil, newAPIError(http.StatusBadRequest, codeD1Invalid, "Statement %d has no sql.", i+1)
		}
		params, err := decodeD1Params(q.params)
		if err != nil {
			return nil, newAPIError(http.StatusBadRequest, codeD1Invalid, "Statement %d: %v.", i+1, err)
		}
		out[i] = d1Stmt{SQL: *q.sql, Params: params}
	}
	return out, nil
}

// runD1Call reads a query body and runs it against the path's database as one transaction.
func (s *Server) runD1Call(c *call) (d1CallResult, *apiError) {
	d, apiErr := s.d1Lookup(c)
	if apiErr != nil {
		return d1CallResult{}, apiErr
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxD1QueryBody))
	if err != nil {
		return d1CallResult{}, newAPIError(http.StatusRequestEntityTooLarge, codeD1Invalid, "The query body is over %d bytes or could not be read.", maxD1QueryBody)
	}
	var body d1QueryBody
	if err := json.Unmarshal(data, &body); err != nil {
		return d1CallResult{}, newAPIError(http.StatusBadRequest, codeParseBody, "Could not parse the request body as JSON: %v", err)
	}
	stmts, apiErr := body.statements()
	if apiErr != nil {
		return d1CallResult{}, apiErr
	}
	h, err := s.d1Open(c.accountID, d.UUID)
	if errors.Is(err, errD1Gone) {
		return d1CallResult{}, errD1NotFound(d.UUID)
	}
	if err != nil {
		return d1CallResult{}, errInternal(err)
	}
	res, err := h.run(stmts)
	switch {
	case errors.Is(err, errD1Gone):
		return d1CallResult{}, errD1NotFound(d.UUID)
	case errors.Is(err, errResultTooLarge):
		return d1CallResult{}, newAPIError(http.StatusBadRequest, codeD1Query, "%v (%d bytes): select fewer rows or columns", err, d1MaxResultBytes)
	case err != nil:
		var sqlErr *errSQLite
		if errors.As(err, &sqlErr) {
			return d1CallResult{}, newAPIError(http.StatusBadRequest, codeD1Query, "%s", sqlErr.Error())
		}
		return d1CallResult{}, errInternal(err)
	}
	return res, nil
}

// queryD1: POST /d1/database/{id}/query -> one entry per statement, rows as objects.
func (s *Server) queryD1(c *call) *apiError {
	res, apiErr := s.runD1Call(c)
	if apiErr != nil {
		return apiErr
	}
	type entry struct {
		Results []orderedRow `json:"results"`
		Success bool         `json:"success"`
		Meta    d1Meta       `json:"meta"`
	}
	out := make([]entry, len(res.Results))
	for i, r := range res.Results {
		out[i] = entry{Results: r.objectRows(), Success: true, Meta: r.meta(res.SizeAfter)}
	}
	writeResult(c.w, out)
	return nil
}

// rawD1: POST /d1/database/{id}/raw -> one entry per statement, rows as arrays.
func (s *Server) rawD1(c *call) *apiError {
	res, apiErr := s.runD1Call(c)
	if apiErr != nil {
		return apiErr
	}
	type rows struct {
		Columns []string `json:"columns"`
		Rows    [][]any  `json:"rows"`
	}
	type entry struct {
		Results rows   `json:"results"`
		Success bool   `json:"success"`
		Meta    d1Meta `json:"meta"`
	}
	out := make([]entry, len(res.Results))
	for i, r := range res.Results {
		out[i] = entry{Results: rows{Columns: r.Columns, Rows: r.arrayRows()}, Success: true, Meta: r.meta(res.SizeAfter)}
	}
	writeResult(c.w, out)
	return nil
}
