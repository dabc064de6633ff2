package localcf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/flareform/flareform/internal/lazyre"
)

// D1: each database is one SQLite file, <state dir>/d1/<uuid>.sqlite3 (with its -wal and -shm
// while open), named only by the uuid localcf generated, never by anything a client sent. The
// database's name and the account it belongs to are in state.json; its rows only in the file.
// A memory-only server keeps each database in memory for as long as it runs.

const d1Dir = "d1"

// d1Database is a D1 database's record in the state document.
type d1Database struct {
	UUID                string    `json:"uuid"`
	Name                string    `json:"name"`
	CreatedAt           time.Time `json:"created_at"`
	Jurisdiction        string    `json:"jurisdiction,omitempty"`
	PrimaryLocationHint string    `json:"primary_location_hint,omitempty"`
}

// d1UUIDPattern is the only shape of id that ever becomes part of a file name.
var d1UUIDPattern = lazyre.Regexp{Expr: `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`}

// d1Store holds the open databases of a server.
type d1Store struct {
	mu     sync.Mutex
	open   map[string]*d1Handle // by uuid
	closed bool
	swept  bool
}

// d1Handle serialises the calls to one database: one call (a query, a batch, an exec) at a
// time, each its own transaction.
type d1Handle struct {
	mu   sync.Mutex
	conn *sqliteConn // nil once the database is deleted or the server closed
}

// errD1Gone is a call to a database deleted meanwhile (or a closing server).
var errD1Gone = errors.New("the database does not exist")

func (s *Server) d1Path(uuid string) string {
	if s.opts.StateDir == "" {
		return ""
	}
	return filepath.Join(s.opts.StateDir, d1Dir, uuid+".sqlite3")
}

// d1DatabaseFor returns the record of an account's database; the caller holds mu.
func (s *Server) d1DatabaseFor(accountID, uuid string) *d1Database {
	a := s.st.Accounts[accountID]
	if a == nil {
		return nil
	}
	return a.D1Databases[uuid]
}

// d1Open returns the open handle of an account's database, opening its file on first use.
// It refuses a uuid the account does not hold, so a deleted database is never re-created.
// Lock order: d1Store.mu, then Server.mu (never the other way round).
func (s *Server) d1Open(accountID, uuid string) (*d1Handle, error) {
	st := &s.d1
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return nil, errors.New("the local Cloudflare is shutting down")
	}
	s.mu.RLock()
	exists := s.d1DatabaseFor(accountID, uuid) != nil
	s.mu.RUnlock()
	if !exists || !d1UUIDPattern.MatchString(uuid) {
		return nil, errD1Gone
	}
	if h := st.open[uuid]; h != nil {
		return h, nil
	}
	if !st.swept {
		st.swept = true
		s.sweepD1Files()
	}
	path := s.d1Path(uuid)
	if path != "" {
		if _, err := os.Stat(filepath.Dir(path)); errors.Is(err, os.ErrNotExist) {
			if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
				return nil, fmt.Errorf("create the D1 directory: %w", err)
			}
			// The new directory's entry must be durable before a file in it is.
			if err := syncDir(s.opts.StateDir); err != nil {
				return nil, fmt.Errorf("create the D1 directory: %w", err)
			}
		}
	}
	conn, err := openSQLite(path)
	if err != nil {
		return nil, fmt.Errorf("open D1 database %s: %w", uuid, err)
	}
	if path != "" {
		// The new file's directory entry must be durable before a write is acknowledged.
		if err := syncDir(filepath.Dir(path)); err != nil {
			conn.close()
			return nil, fmt.Errorf("open D1 database %s: %w", uuid, err)
		}
	}
	if st.open == nil {
		st.open = map[string]*d1Handle{}
	}
	h := &d1Handle{conn: conn}
	st.open[uuid] = h
	return h, nil
}

// sweepD1Files removes the files of databases no account holds: what a crash between a
// delete's state change and its file removal leaves behind. Caller holds d1Store.mu.
func (s *Server) sweepD1Files() {
	if s.opts.StateDir == "" {
		return
	}
	dir := filepath.Join(s.opts.StateDir, d1Dir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	known := map[string]bool{}
	s.mu.RLock()
	for _, a := range s.st.Accounts {
		for id := range a.D1Databases {
			known[id] = true
		}
	}
	s.mu.RUnlock()
	for _, e := range entries {
		id, _, _ := strings.Cut(e.Name(), ".")
		if d1UUIDPattern.MatchString(id) && !known[id] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(s.opts.Log, "localcf: remove the orphaned D1 file %s: %v\n", e.Name(), err)
			}
		}
	}
}

// d1Drop closes a deleted database and removes its files. A call still running finishes
// first; calls after it find the database gone.
func (s *Server) d1Drop(uuid string) error {
	if !d1UUIDPattern.MatchString(uuid) {
		return fmt.Errorf("invalid D1 id %q", uuid)
	}
	st := &s.d1
	st.mu.Lock()
	h := st.open[uuid]
	delete(st.open, uuid)
	st.mu.Unlock()
	if h != nil {
		h.mu.Lock()
		if h.conn != nil {
			_ = h.conn.close() // the data is being deleted: a failed checkpoint does not matter
			h.conn = nil
		}
		h.mu.Unlock()
	}
	path := s.d1Path(uuid)
	if path == "" {
		return nil
	}
	var errs []error
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := syncDir(filepath.Dir(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove the files of D1 database %s: %w", uuid, err)
	}
	return nil
}

// closeD1 closes every open database (Close): WAL is checkpointed into each file.
func (s *Server) closeD1() error {
	st := &s.d1
	st.mu.Lock()
	defer st.mu.Unlock()
	st.closed = true
	var errs []error
	for id, h := range st.open {
		h.mu.Lock()
		if h.conn != nil {
			if err := h.conn.close(); err != nil {
				errs = append(errs, fmt.Errorf("close D1 database %s: %w", id, err))
			}
			h.conn = nil
		}
		h.mu.Unlock()
	}
	st.open = nil
	return errors.Join(errs...)
}

// d1Stmt is one statement of a call with its decoded parameters.
type d1Stmt struct {
	SQL    string
	Params []any
}

// d1CallResult is one call's statements' results plus the database size after it.
type d1CallResult struct {
	Results   []stmtResult // every SQL statement's, in order
	Counts    []int        // how many of Results each d1Stmt produced
	SizeAfter int64
}

// d1StmtError is a statement's failure; Index says which statement of the call failed.
type d1StmtError struct {
	Index int
	Err   error
}

func (e *d1StmtError) Error() string { return e.Err.Error() }
func (e *d1StmtError) Unwrap() error { return e.Err }

// run executes stmts as one transaction: all of them take effect, or (on the first error)
// none. A statement may hold several SQL statements only when it has no parameters.
func (h *d1Handle) run(stmts []d1Stmt) (d1CallResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.conn
	if c == nil {
		return d1CallResult{}, errD1Gone
	}
	if _, err := c.exec("BEGIN IMMEDIATE", nil); err != nil {
		return d1CallResult{}, fmt.Errorf("begin: %w", err)
	}
	var out d1CallResult
	budget := &resultBudget{left: d1MaxResultBytes}
	for i, st := range stmts {
		res, err := c.execChecked(st.SQL, st.Params, checkD1Statement, budget)
		if err == nil && len(res) == 0 {
			err = &errSQLite{msg: "No SQL statements detected.", code: "SQLITE_ERROR"}
		}
		if err != nil {
			h.rollback()
			return d1CallResult{}, &d1StmtError{Index: i, Err: err}
		}
		out.Results = append(out.Results, res...)
		out.Counts = append(out.Counts, len(res))
	}
	if _, err := c.exec("COMMIT", nil); err != nil {
		h.rollback()
		return d1CallResult{}, fmt.Errorf("commit: %w", err)
	}
	out.SizeAfter = h.sizeLocked()
	return out, nil
}

func (h *d1Handle) rollback() {
	if h.conn.inTransaction() {
		_, _ = h.conn.exec("ROLLBACK", nil) // a failed rollback leaves SQLite to roll back on next open
	}
}

// sizeLocked is the database's size in bytes (pages in use, WAL included); 0 if unknown.
func (h *d1Handle) sizeLocked() int64 {
	pages, err := h.conn.scalarInt("PRAGMA page_count")
	if err != nil {
		return 0
	}
	size, err := h.conn.scalarInt("PRAGMA page_size")
	if err != nil {
		return 0
	}
	return pages * size
}

// stats returns the database's user table count (not sqlite_* nor D1's _cf_* tables) and size.
func (h *d1Handle) stats() (numTables, size int64, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn == nil {
		return 0, 0, errD1Gone
	}
	numTables, err = h.conn.scalarInt(`SELECT count(*) FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT LIKE '\_cf\_%' ESCAPE '\'`)
	if err != nil {
		return 0, 0, err
	}
	return numTables, h.sizeLocked(), nil
}

// d1AllowedPragmas are the PRAGMAs a query may run: those D1 documents, which read the schema
// or change only the current connection's checks. Others (journal_mode, synchronous,
// temp_store_directory, writable_schema, ...) would change durability or reach outside the
// database.
var d1AllowedPragmas = map[string]bool{
	"TABLE_LIST": true, "TABLE_INFO": true, "TABLE_XINFO": true, "INDEX_LIST": true, "INDEX_INFO": true,
	"INDEX_XINFO": true, "FOREIGN_KEY_LIST": true, "FOREIGN_KEY_CHECK": true, "QUICK_CHECK": true,
	"INTEGRITY_CHECK": true, "DEFER_FOREIGN_KEYS": true, "FOREIGN_KEYS": true, "CASE_SENSITIVE_LIKE": true,
	"IGNORE_CHECK_CONSTRAINTS": true, "LEGACY_ALTER_TABLE": true, "RECURSIVE_TRIGGERS": true,
	"REVERSE_UNORDERED_SELECTS": true, "OPTIMIZE": true, "PAGE_COUNT": true, "PAGE_SIZE": true,
	"USER_VERSION": true, "DATA_VERSION": true, "FREELIST_COUNT": true,
}

// checkD1Statement refuses what D1 does not let a query do: its own transaction control
// (each call is one transaction), VACUUM INTO a file, and PRAGMAs outside d1AllowedPragmas.
func checkD1Statement(sql string) error {
	words := firstKeywords(sql, 4)
	if len(words) == 0 {
		return nil
	}
	if words[0] == "EXPLAIN" {
		words = words[1:]
		if len(words) > 1 && words[0] == "QUERY" {
			words = words[2:]
		}
		if len(words) == 0 {
			return nil
		}
	}
	notAuthorized := func(why string) error { return &errSQLite{msg: "not authorized: " + why, code: "SQLITE_AUTH"} }
	switch words[0] {
	case "BEGIN", "COMMIT", "END":
		return notAuthorized("D1 runs each query and each batch() in its own transaction; use batch() instead of BEGIN/COMMIT")
	case "ROLLBACK":
		if !(len(words) > 1 && (words[1] == "TO" || (words[1] == "TRANSACTION" && len(words) > 2 && words[2] == "TO"))) {
			return notAuthorized("D1 runs each query and each batch() in its own transaction; ROLLBACK is not allowed")
		}
	case "VACUUM":
		if strings.Contains(strings.ToUpper(sql), "INTO") {
			return notAuthorized("VACUUM INTO is not allowed")
		}
	case "PRAGMA":
		name := ""
		if len(words) > 1 {
			name = words[1]
		}
		if len(words) > 3 && words[2] == "." { // schema.pragma
			name = words[3]
		}
		if !d1AllowedPragmas[name] {
			return notAuthorized(fmt.Sprintf("PRAGMA %s is not allowed", strings.ToLower(name)))
		}
	}
	return nil
}

// decodeD1Params turns JSON parameters into SQLite values: strings, numbers (integers when
// they are integral and fit in 64 bits), booleans (1/0), null, and arrays of bytes (BLOBs, as
// workerd's D1 binding sends an ArrayBuffer).
func decodeD1Params(raw []json.RawMessage) ([]any, error) {
	out := make([]any, len(raw))
	for i, r := range raw {
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("parameter %d: %w", i+1, err)
		}
		switch x := v.(type) {
		case nil, string, bool:
			out[i] = x
		case json.Number:
			if n, err := x.Int64(); err == nil && !strings.ContainsAny(x.String(), ".eE") {
				out[i] = n
			} else if f, err := x.Float64(); err == nil {
				out[i] = f
			} else {
				return nil, fmt.Errorf("parameter %d: %s is not a number SQLite can store", i+1, x)
			}
		case []any:
			b := make([]byte, len(x))
			for j, e := range x {
				n, ok := e.(json.Number)
				k, err := n.Int64()
				if !ok || err != nil || k < 0 || k > 255 {
					return nil, fmt.Errorf("parameter %d: an array parameter must hold bytes (0-255)", i+1)
				}
				b[j] = byte(k)
			}
			out[i] = b
		default:
			return nil, fmt.Errorf("parameter %d: type %T is not supported", i+1, v)
		}
	}
	return out, nil
}

// jsonValue is a column value as D1 returns it: BLOBs as arrays of byte values.
func jsonValue(v any) any {
	if b, ok := v.([]byte); ok {
		out := make([]int, len(b))
		for i, x := range b {
			out[i] = int(x)
		}
		return out
	}
	return v
}

// d1Meta is the meta object of a statement's result.
type d1Meta struct {
	ServedByPrimary bool      `json:"served_by_primary"`
	Duration        float64   `json:"duration"`
	Changes         int64     `json:"changes"`
	LastRowID       int64     `json:"last_row_id"`
	ChangedDB       bool      `json:"changed_db"`
	SizeAfter       int64     `json:"size_after"`
	RowsRead        int64     `json:"rows_read"`
	RowsWritten     int64     `json:"rows_written"`
	Timings         d1Timings `json:"timings"`
}

type d1Timings struct {
	SQLDurationMS float64 `json:"sql_duration_ms"`
}

func (r stmtResult) meta(sizeAfter int64) d1Meta {
	ms := math.Round(float64(r.Duration.Microseconds())) / 1000
	return d1Meta{ServedByPrimary: true, Duration: ms, Changes: r.Changes, LastRowID: r.LastRowID,
		ChangedDB: r.ChangedDB, SizeAfter: sizeAfter, RowsRead: r.RowsRead, RowsWritten: r.RowsWritten,
		Timings: d1Timings{SQLDurationMS: ms}}
}

// orderedRow renders a row as a JSON object with its columns in query order. A column name
// that repeats (SELECT a.id, b.id) keeps its first position and its last value, as assigning
// to a JavaScript object does.
type orderedRow struct {
	columns []string
	values  []any
}

func (o orderedRow) MarshalJSON() ([]byte, error) {
	index := map[string]int{}
	var keys []string
	var vals []any
	for i, c := range o.columns {
		if j, seen := index[c]; seen {
			vals[j] = o.values[i]
			continue
		}
		index[c] = len(keys)
		keys = append(keys, c)
		vals = append(vals, o.values[i])
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kj, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vj, err := json.Marshal(jsonValue(vals[i]))
		if err != nil {
			return nil, err
		}
		b.Write(kj)
		b.WriteByte(':')
		b.Write(vj)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// objectRows is a statement's rows as objects (the query endpoint, all(), first()).
func (r stmtResult) objectRows() []orderedRow {
	out := make([]orderedRow, len(r.Rows))
	for i, row := range r.Rows {
		out[i] = orderedRow{columns: r.Columns, values: row}
	}
	return out
}

// arrayRows is a statement's rows as arrays (the raw endpoint, raw()).
func (r stmtResult) arrayRows() [][]any {
	out := make([][]any, len(r.Rows))
	for i, row := range r.Rows {
		vals := make([]any, len(row))
		for j, v := range row {
			vals[j] = jsonValue(v)
		}
		out[i] = vals
	}
	return out
}
