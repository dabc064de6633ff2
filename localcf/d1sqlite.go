package localcf

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// The D1 engine talks to SQLite through modernc.org/sqlite's C API (pure Go, so the
// CGO_ENABLED=0 build stays) rather than through database/sql: database/sql drivers cannot
// split a multi-statement query into its statements, do not report a statement's parameter
// count, and modernc's driver turns TEXT in DATE/DATETIME/TIMESTAMP columns into time.Time,
// which would change what D1 returns ("2026-01-02T03:04:05.000Z" must come back as written).

// D1's documented limits (developers.cloudflare.com/d1/platform/limits), applied to every
// connection so local SQL fails where D1's would.
const (
	d1MaxValueBytes   = 2_000_000 // a string, BLOB or row
	d1MaxSQLBytes     = 100_000   // one SQL statement
	d1MaxColumns      = 100       // columns per table
	d1MaxBoundParams  = 100       // parameters per query
	d1QueryTimeout    = 30 * time.Second
	d1MaxResultBytes  = 32 << 20 // all rows of one call, as JSON (local bound)
	d1MaxStatements   = 1000     // statements in one call (local bound)
	d1ResultRowFactor = 16       // JSON overhead counted per value when bounding results
)

// errSQLite is a failure SQLite reported, with its message and primary result code name.
type errSQLite struct {
	msg  string
	code string // e.g. SQLITE_ERROR, SQLITE_CONSTRAINT
}

func (e *errSQLite) Error() string { return e.msg + ": " + e.code }

// sqliteCodeNames names the primary result codes D1 puts in its messages.
var sqliteCodeNames = map[int32]string{
	1: "SQLITE_ERROR", 2: "SQLITE_INTERNAL", 3: "SQLITE_PERM", 4: "SQLITE_ABORT", 5: "SQLITE_BUSY",
	6: "SQLITE_LOCKED", 7: "SQLITE_NOMEM", 8: "SQLITE_READONLY", 9: "SQLITE_INTERRUPT", 10: "SQLITE_IOERR",
	11: "SQLITE_CORRUPT", 13: "SQLITE_FULL", 14: "SQLITE_CANTOPEN", 18: "SQLITE_TOOBIG",
	19: "SQLITE_CONSTRAINT", 20: "SQLITE_MISMATCH", 21: "SQLITE_MISUSE", 23: "SQLITE_AUTH", 25: "SQLITE_RANGE",
}

// sqliteConn is one open SQLite database. It is not safe for concurrent use: d1Handle
// serialises every call; only interrupt may run beside another call.
type sqliteConn struct {
	tls *libc.TLS
	db  uintptr

	// running guards interrupt: sqlite3_interrupt must never reach a closed connection.
	runMu   sync.Mutex
	running bool
}

// openSQLite opens (creating) the database at path, or a private in-memory one for "".
// File databases use WAL with synchronous=FULL: a committed transaction is on disk, and a
// crash at any point leaves the last committed state.
func openSQLite(path string) (*sqliteConn, error) {
	name := path
	if name == "" {
		name = ":memory:"
	}
	c := &sqliteConn{tls: libc.NewTLS()}
	cname, err := libc.CString(name)
	if err != nil {
		c.tls.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	defer libc.Xfree(c.tls, cname)
	pdb := libc.Xmalloc(c.tls, 8)
	if pdb == 0 {
		c.tls.Close()
		return nil, fmt.Errorf("open %s: out of memory", name)
	}
	defer libc.Xfree(c.tls, pdb)
	rc := sqlite3.Xsqlite3_open_v2(c.tls, cname, pdb, sqlite3.SQLITE_OPEN_READWRITE|sqlite3.SQLITE_OPEN_CREATE|sqlite3.SQLITE_OPEN_FULLMUTEX, 0)
	c.db = libc.AtomicLoadPUintptr(pdb)
	if rc != sqlite3.SQLITE_OK {
		err := c.errorFor(rc)
		c.close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	limits := map[int32]int32{
		sqlite3.SQLITE_LIMIT_LENGTH: d1MaxValueBytes, sqlite3.SQLITE_LIMIT_SQL_LENGTH: d1MaxSQLBytes,
		sqlite3.SQLITE_LIMIT_COLUMN: d1MaxColumns, sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: d1MaxBoundParams,
		// No ATTACH: a query must never reach a file other than its own database.
		sqlite3.SQLITE_LIMIT_ATTACHED: 0,
	}
	for id, v := range limits {
		sqlite3.Xsqlite3_limit(c.tls, c.db, id, v)
	}
	pragmas := []string{"PRAGMA foreign_keys = ON"} // D1 enforces foreign keys
	if path != "" {
		pragmas = append(pragmas, "PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL")
	}
	for _, p := range pragmas {
		if _, err := c.exec(p, nil); err != nil {
			c.close()
			return nil, fmt.Errorf("open %s: %s: %w", name, p, err)
		}
	}
	return c, nil
}

// close closes the connection; in WAL mode the last close checkpoints and removes the WAL.
func (c *sqliteConn) close() error {
	var err error
	if c.db != 0 {
		if rc := sqlite3.Xsqlite3_close_v2(c.tls, c.db); rc != sqlite3.SQLITE_OK {
			err = c.errorFor(rc)
		}
		c.db = 0
	}
	if c.tls != nil {
		c.tls.Close()
		c.tls = nil
	}
	return err
}

func (c *sqliteConn) errorFor(rc int32) error {
	msg := ""
	if c.db != 0 {
		msg = libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db))
	}
	if msg == "" {
		msg = libc.GoString(sqlite3.Xsqlite3_errstr(c.tls, rc))
	}
	code := sqliteCodeNames[rc&0xff]
	if code == "" {
		code = fmt.Sprintf("SQLITE_%d", rc)
	}
	return &errSQLite{msg: msg, code: code}
}

// interrupt stops the statement running now, if any (the query timeout).
func (c *sqliteConn) interrupt() {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	if c.running && c.db != 0 {
		t := libc.NewTLS()
		sqlite3.Xsqlite3_interrupt(t, c.db)
		t.Close()
	}
}

func (c *sqliteConn) setRunning(on bool) {
	c.runMu.Lock()
	c.running = on
	c.runMu.Unlock()
}

// stmtResult is what one statement produced.
type stmtResult struct {
	Columns     []string
	Rows        [][]any // int64, float64, string, []byte or nil per column
	Changes     int64
	LastRowID   int64
	RowsRead    int64
	RowsWritten int64
	ChangedDB   bool
	Duration    time.Duration
}

// resultBudget bounds the bytes of rows one call may return.
type resultBudget struct{ left int }

// errResultTooLarge is returned when a call's rows exceed d1MaxResultBytes.
var errResultTooLarge = errors.New("the result is larger than the local limit")

// exec runs every statement of text (params bind to the only statement; more than one
// statement with params is refused) and returns one result per statement.
func (c *sqliteConn) exec(text string, params []any) ([]stmtResult, error) {
	return c.execChecked(text, params, nil, &resultBudget{left: d1MaxResultBytes})
}

// execChecked is exec with check, which vets each prepared statement's SQL before it runs,
// and a budget shared by the statements of one call.
func (c *sqliteConn) execChecked(text string, params []any, check func(sql string) error, budget *resultBudget) ([]stmtResult, error) {
	if c.db == 0 {
		return nil, errors.New("the database is closed")
	}
	csql, err := libc.CString(text)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, csql)
	pp := libc.Xmalloc(c.tls, 16) // sqlite3_stmt** then const char** tail
	if pp == 0 {
		return nil, errors.New("out of memory")
	}
	defer libc.Xfree(c.tls, pp)
	pStmt, pTail := pp, pp+8
	var out []stmtResult
	cur := csql
	end := csql + uintptr(len(text))
	for cur < end {
		rc := sqlite3.Xsqlite3_prepare_v2(c.tls, c.db, cur, int32(end-cur), pStmt, pTail)
		if rc != sqlite3.SQLITE_OK {
			return out, c.errorFor(rc)
		}
		stmt := libc.AtomicLoadPUintptr(pStmt)
		cur = libc.AtomicLoadPUintptr(pTail)
		if stmt == 0 { // whitespace or a comment
			continue
		}
		if len(out) > 0 && len(params) > 0 {
			sqlite3.Xsqlite3_finalize(c.tls, stmt)
			return out, &errSQLite{msg: "parameters can only be bound to a single statement, and this query has several", code: "SQLITE_ERROR"}
		}
		if len(out) >= d1MaxStatements {
			sqlite3.Xsqlite3_finalize(c.tls, stmt)
			return out, &errSQLite{msg: fmt.Sprintf("too many statements in one query (local limit %d)", d1MaxStatements), code: "SQLITE_TOOBIG"}
		}
		res, err := c.runStmt(stmt, params, check, budget)
		sqlite3.Xsqlite3_finalize(c.tls, stmt)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

// runStmt binds params, steps stmt to its end and collects its rows and counters.
func (c *sqliteConn) runStmt(stmt uintptr, params []any, check func(string) error, budget *resultBudget) (stmtResult, error) {
	start := time.Now()
	var res stmtResult
	if check != nil {
		if err := check(libc.GoString(sqlite3.Xsqlite3_sql(c.tls, stmt))); err != nil {
			return res, err
		}
	}
	if n := int(sqlite3.Xsqlite3_bind_parameter_count(c.tls, stmt)); n != len(params) {
		return res, &errSQLite{msg: fmt.Sprintf("Wrong number of parameter bindings for SQL query (the query has %d, %d given)", n, len(params)), code: "SQLITE_RANGE"}
	}
	for i, p := range params {
		if err := c.bind(stmt, int32(i+1), p); err != nil {
			return res, err
		}
	}
	ncol := int(sqlite3.Xsqlite3_column_count(c.tls, stmt))
	res.Columns = make([]string, ncol)
	for i := range res.Columns {
		res.Columns[i] = libc.GoString(sqlite3.Xsqlite3_column_name(c.tls, stmt, int32(i)))
	}
	readOnly := sqlite3.Xsqlite3_stmt_readonly(c.tls, stmt) != 0
	res.Rows = [][]any{}
	c.setRunning(true)
	timer := time.AfterFunc(d1QueryTimeout, c.interrupt)
	defer func() {
		timer.Stop()
		c.setRunning(false)
	}()
	for {
		rc := sqlite3.Xsqlite3_step(c.tls, stmt)
		if rc == sqlite3.SQLITE_DONE {
			break
		}
		if rc != sqlite3.SQLITE_ROW {
			err := c.errorFor(rc)
			if rc&0xff == sqlite3.SQLITE_INTERRUPT {
				err = &errSQLite{msg: fmt.Sprintf("the query ran longer than %s and was stopped", d1QueryTimeout), code: "SQLITE_INTERRUPT"}
			}
			return res, err
		}
		row := make([]any, ncol)
		for i := range row {
			row[i] = c.column(stmt, int32(i))
			budget.left -= d1ResultRowFactor + valueSize(row[i])
		}
		if budget.left < 0 {
			return res, errResultTooLarge
		}
		res.Rows = append(res.Rows, row)
	}
	res.RowsRead = int64(len(res.Rows))
	if !readOnly {
		res.Changes = int64(sqlite3.Xsqlite3_changes64(c.tls, c.db))
		res.RowsWritten = res.Changes
		res.ChangedDB = true
	}
	res.LastRowID = int64(sqlite3.Xsqlite3_last_insert_rowid(c.tls, c.db))
	res.Duration = time.Since(start)
	return res, nil
}

// bind sets parameter i (1-based) to v: nil, bool (1/0, as D1), int64, float64, string or
// []byte.
func (c *sqliteConn) bind(stmt uintptr, i int32, v any) error {
	var rc int32
	switch x := v.(type) {
	case nil:
		rc = sqlite3.Xsqlite3_bind_null(c.tls, stmt, i)
	case bool:
		n := int64(0)
		if x {
			n = 1
		}
		rc = sqlite3.Xsqlite3_bind_int64(c.tls, stmt, i, n)
	case int64:
		rc = sqlite3.Xsqlite3_bind_int64(c.tls, stmt, i, x)
	case float64:
		rc = sqlite3.Xsqlite3_bind_double(c.tls, stmt, i, x)
	case string, []byte:
		var data string
		if s, ok := x.(string); ok {
			data = s
		} else {
			data = string(x.([]byte))
		}
		p, err := libc.CString(data)
		if err != nil {
			return err
		}
		defer libc.Xfree(c.tls, p)
		if _, isText := x.(string); isText {
			rc = sqlite3.Xsqlite3_bind_text(c.tls, stmt, i, p, int32(len(data)), sqlite3.SQLITE_TRANSIENT)
		} else {
			rc = sqlite3.Xsqlite3_bind_blob(c.tls, stmt, i, p, int32(len(data)), sqlite3.SQLITE_TRANSIENT)
		}
	default:
		return &errSQLite{msg: fmt.Sprintf("parameter %d has an unsupported type %T", i, v), code: "SQLITE_MISMATCH"}
	}
	if rc != sqlite3.SQLITE_OK {
		return c.errorFor(rc)
	}
	return nil
}

// column reads column i of the current row as SQLite stored it. Floats JSON cannot carry
// (infinities) become nil.
func (c *sqliteConn) column(stmt uintptr, i int32) any {
	switch sqlite3.Xsqlite3_column_type(c.tls, stmt, i) {
	case sqlite3.SQLITE_INTEGER:
		return int64(sqlite3.Xsqlite3_column_int64(c.tls, stmt, i))
	case sqlite3.SQLITE_FLOAT:
		f := sqlite3.Xsqlite3_column_double(c.tls, stmt, i)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil
		}
		return f
	case sqlite3.SQLITE_TEXT:
		p := sqlite3.Xsqlite3_column_text(c.tls, stmt, i)
		n := int(sqlite3.Xsqlite3_column_bytes(c.tls, stmt, i))
		if p == 0 || n == 0 {
			return ""
		}
		return string(libc.GoBytes(p, n)) // string() copies out of SQLite's buffer
	case sqlite3.SQLITE_BLOB:
		p := sqlite3.Xsqlite3_column_blob(c.tls, stmt, i)
		n := int(sqlite3.Xsqlite3_column_bytes(c.tls, stmt, i))
		if p == 0 || n == 0 {
			return []byte{}
		}
		return bytes.Clone(libc.GoBytes(p, n))
	}
	return nil
}

func valueSize(v any) int {
	switch x := v.(type) {
	case string:
		return len(x)
	case []byte:
		return 4 * len(x) // as a JSON array of numbers
	}
	return 8
}

// scalarInt runs a one-value query (PRAGMA page_count and the like).
func (c *sqliteConn) scalarInt(query string) (int64, error) {
	res, err := c.exec(query, nil)
	if err != nil {
		return 0, err
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 1 {
		return 0, fmt.Errorf("%s: no single value", query)
	}
	n, ok := res[0].Rows[0][0].(int64)
	if !ok {
		return 0, fmt.Errorf("%s: not an integer", query)
	}
	return n, nil
}

// inTransaction reports whether a transaction is open on the connection.
func (c *sqliteConn) inTransaction() bool {
	return sqlite3.Xsqlite3_get_autocommit(c.tls, c.db) == 0
}

// firstKeywords returns the first n SQL keywords of a statement, upper-cased, skipping
// whitespace and comments; enough to recognise transaction control and PRAGMA names.
func firstKeywords(sql string, n int) []string {
	var words []string
	i := 0
	for i < len(sql) && len(words) < n {
		switch ch := sql[i]; {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f':
			i++
		case strings.HasPrefix(sql[i:], "--"):
			if j := strings.IndexByte(sql[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(sql)
			}
		case strings.HasPrefix(sql[i:], "/*"):
			if j := strings.Index(sql[i+2:], "*/"); j >= 0 {
				i += j + 4
			} else {
				i = len(sql)
			}
		case isWordByte(ch):
			j := i
			for j < len(sql) && isWordByte(sql[j]) {
				j++
			}
			words = append(words, strings.ToUpper(sql[i:j]))
			i = j
		default:
			words = append(words, string(ch))
			i++
		}
	}
	return words
}

func isWordByte(ch byte) bool {
	return ch == '_' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9'
}
