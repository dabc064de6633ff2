package localcf

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// The d1 binding inside workerd (workerd/d1_shim.js) calls the binding backend:
//
//	POST /d1/query {account, database, statements: [{sql, params}]}
//	  -> {results: [{columns, rows, meta}]}: every statement's rows as arrays, in one
//	     transaction (prepare().all/first/run/raw send one statement, batch() several)
//	POST /d1/exec {account, database, sql} -> {count, duration}: every statement of sql
//	  without parameters, in one transaction
//
// Failures answer {errors: [{code, message}]} with message "D1_ERROR: <SQLite's message>:
// <SQLITE_CODE>" (or D1_EXEC_ERROR for exec), which the shim throws as an Error.

// d1BindingConfig is the config of a stored d1 binding: its account and database uuid.
type d1BindingConfig struct {
	Account  string `json:"account"`
	Database string `json:"database"`
}

// d1BackendConfig builds the config of a stored d1 binding.
func d1BackendConfig(accountID string, b binding) (json.RawMessage, error) {
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b.Raw, &v); err != nil {
		return nil, fmt.Errorf("read d1 binding: %w", err)
	}
	return json.Marshal(d1BindingConfig{Account: accountID, Database: v.ID})
}

// D1 binding error codes (local; the message carries D1's text).
const (
	codeD1BindingNotFound = 7404
	codeD1BindingQuery    = 7500
	codeD1BindingInternal = 7000
)

type d1BindingCall struct {
	d1BindingConfig
	Statements []struct {
		SQL    *string           `json:"sql"`
		Params []json.RawMessage `json:"params"`
	} `json:"statements"`
	SQL *string `json:"sql"` // exec
}

// maxD1BatchStatements bounds a batch() from a worker.
const maxD1BatchStatements = 1000

// serveD1 runs one env.DB call against the database named by the binding.
func (s *Server) serveD1(w http.ResponseWriter, r *http.Request) {
	var call d1BindingCall
	if !readBindingCall(w, r, &call) {
		return
	}
	op := r.PathValue("op")
	prefix := "D1_ERROR: "
	if op == "exec" {
		prefix = "D1_EXEC_ERROR: "
	}
	fail := func(status, code int, format string, args ...any) {
		writeBindingError(w, status, code, prefix+fmt.Sprintf(format, args...))
	}
	var stmts []d1Stmt
	switch op {
	case "query":
		if len(call.Statements) == 0 || len(call.Statements) > maxD1BatchStatements {
			fail(http.StatusBadRequest, codeD1BindingQuery, "a batch needs 1 to %d statements, not %d", maxD1BatchStatements, len(call.Statements))
			return
		}
		for i, st := range call.Statements {
			if st.SQL == nil {
				fail(http.StatusBadRequest, codeD1BindingQuery, "statement %d has no SQL", i+1)
				return
			}
			params, err := decodeD1Params(st.Params)
			if err != nil {
				fail(http.StatusBadRequest, codeD1BindingQuery, "%v", err)
				return
			}
			stmts = append(stmts, d1Stmt{SQL: *st.SQL, Params: params})
		}
	case "exec":
		if call.SQL == nil {
			fail(http.StatusBadRequest, codeD1BindingQuery, "exec needs a SQL string")
			return
		}
		stmts = []d1Stmt{{SQL: *call.SQL}}
	default:
		writeBindingError(w, http.StatusNotFound, codeBindingBadCall, fmt.Sprintf("unknown D1 operation %q", op))
		return
	}
	h, err := s.d1Open(call.Account, call.Database)
	if errors.Is(err, errD1Gone) {
		fail(http.StatusNotFound, codeD1BindingNotFound, "the D1 database %s does not exist on this account", call.Database)
		return
	}
	if err != nil {
		fail(http.StatusInternalServerError, codeD1BindingInternal, "%v", err)
		return
	}
	start := time.Now()
	res, err := h.run(stmts)
	if err != nil {
		var sqlErr *errSQLite
		switch {
		case errors.Is(err, errD1Gone):
			fail(http.StatusNotFound, codeD1BindingNotFound, "the D1 database %s does not exist on this account", call.Database)
		case errors.Is(err, errResultTooLarge):
			fail(http.StatusBadRequest, codeD1BindingQuery, "%v (%d bytes)", err, d1MaxResultBytes)
		case errors.As(err, &sqlErr):
			fail(http.StatusBadRequest, codeD1BindingQuery, "%s", sqlErr.Error())
		default:
			fail(http.StatusInternalServerError, codeD1BindingInternal, "%v", err)
		}
		return
	}
	if op == "exec" {
		writeJSON(w, http.StatusOK, map[string]any{"count": len(res.Results), "duration": float64(time.Since(start).Microseconds()) / 1000})
		return
	}
	type entry struct {
		Columns []string `json:"columns"`
		Rows    [][]any  `json:"rows"`
		Meta    d1Meta   `json:"meta"`
	}
	// One entry per prepared statement: one holding several SQL statements answers with its
	// last one's rows, counting the changes of all.
	out := make([]entry, len(res.Counts))
	next := 0
	for i, n := range res.Counts {
		group := res.Results[next : next+n]
		next += n
		last := group[len(group)-1]
		for _, r := range group[:len(group)-1] {
			last.Changes += r.Changes
			last.RowsRead += r.RowsRead
			last.RowsWritten += r.RowsWritten
			last.ChangedDB = last.ChangedDB || r.ChangedDB
			last.Duration += r.Duration
		}
		out[i] = entry{Columns: last.Columns, Rows: last.arrayRows(), Meta: last.meta(res.SizeAfter)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
}

// checkD1Binding checks a d1 binding's shape at upload: `id` a non-empty string.
func checkD1Binding(name, typ string, fields map[string]json.RawMessage) *apiError {
	if typ != "d1" {
		return nil
	}
	var id string
	if err := json.Unmarshal(fields["id"], &id); err != nil || id == "" {
		return errValidation("Binding %q of type d1 needs `id` to be a non-empty string (the database's uuid).", name)
	}
	return nil
}

// checkD1Target refuses a d1 binding to a database the account does not have. The caller
// holds mu.
func checkD1Target(a *account, ub uploadedBinding) *apiError {
	if ub.Type != "d1" {
		return nil
	}
	var id string
	_ = json.Unmarshal(ub.Fields["id"], &id)
	if a == nil || a.D1Databases[id] == nil {
		return errValidation("Binding %q refers to the D1 database %q, which does not exist on this account: create it first (POST /d1/database) and bind it by its uuid.", ub.Name, id)
	}
	return nil
}
