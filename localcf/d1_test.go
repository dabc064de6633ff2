package localcf

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

type d1Info struct {
	UUID      string  `json:"uuid"`
	Name      string  `json:"name"`
	Version   string  `json:"version"`
	CreatedAt string  `json:"created_at"`
	NumTables *int    `json:"num_tables"`
	FileSize  *int64  `json:"file_size"`
	Juris     *string `json:"jurisdiction"`
}

type d1QueryEntry struct {
	Results []map[string]any `json:"results"`
	Success bool             `json:"success"`
	Meta    struct {
		Changes     int64 `json:"changes"`
		LastRowID   int64 `json:"last_row_id"`
		RowsRead    int64 `json:"rows_read"`
		RowsWritten int64 `json:"rows_written"`
		SizeAfter   int64 `json:"size_after"`
		ChangedDB   bool  `json:"changed_db"`
	} `json:"meta"`
}

func createD1DB(t *testing.T, c *client, name string) d1Info {
	t.Helper()
	resp := c.json(http.MethodPost, "/d1/database", map[string]any{"name": name})
	expect(t, resp, http.StatusOK, 0)
	var d d1Info
	resp.result(t, &d)
	return d
}

func d1Query(t *testing.T, c *client, uuid, sql string, params ...any) []d1QueryEntry {
	t.Helper()
	body := map[string]any{"sql": sql}
	if params != nil {
		body["params"] = params
	}
	resp := c.json(http.MethodPost, "/d1/database/"+uuid+"/query", body)
	expect(t, resp, http.StatusOK, 0)
	var out []d1QueryEntry
	resp.result(t, &out)
	return out
}

// TestD1DatabaseCRUD creates, lists (paged, filtered by name), reads and deletes D1
// databases over the API, with the errors for a bad name, a duplicate and a missing id.
func TestD1DatabaseCRUD(t *testing.T) {
	dir := t.TempDir()
	srv := startTestServer(t, Options{StateDir: dir})
	c := newClient(t, srv)

	for _, bad := range []any{"", "Has-Upper", "dot.name", "with space", "a/../b", strings.Repeat("a", 65), 7} {
		if r := c.json(http.MethodPost, "/d1/database", map[string]any{"name": bad}); r.Status != http.StatusBadRequest || r.Env.Success {
			t.Fatalf("name %v: HTTP %d %s, want 400", bad, r.Status, r.Body)
		}
	}
	expect(t, c.json(http.MethodPost, "/d1/database", map[string]any{"name": "x", "jurisdiction": "mars"}), http.StatusBadRequest, codeD1Invalid)
	expect(t, c.json(http.MethodPost, "/d1/database", map[string]any{"name": "x", "primary_location_hint": "moon"}), http.StatusBadRequest, codeD1Invalid)

	db := createD1DB(t, c, "my-api-db")
	if !d1UUIDPattern.MatchString(db.UUID) || db.Name != "my-api-db" || db.Version != "production" || db.CreatedAt == "" ||
		db.NumTables == nil || *db.NumTables != 0 || db.FileSize == nil {
		t.Fatalf("created = %+v", db)
	}
	expect(t, c.json(http.MethodPost, "/d1/database", map[string]any{"name": "my-api-db"}), http.StatusBadRequest, codeD1NameTaken)
	eu := c.json(http.MethodPost, "/d1/database", map[string]any{"name": "other_db", "jurisdiction": "eu", "primary_location_hint": "weur"})
	expect(t, eu, http.StatusOK, 0)
	var other d1Info
	eu.result(t, &other)
	if other.Juris == nil || *other.Juris != "eu" {
		t.Fatalf("jurisdiction = %v, want eu", other.Juris)
	}
	createD1DB(t, c, "third")

	var list []d1Info
	listed := c.do(http.MethodGet, "/d1/database", "", nil)
	expect(t, listed, http.StatusOK, 0)
	listed.result(t, &list)
	if len(list) != 3 || list[0].Name != "my-api-db" || list[1].Name != "other_db" || list[2].Name != "third" {
		t.Fatalf("list = %+v", list)
	}
	if listed.Env.ResultInfo["total_count"] != float64(3) {
		t.Fatalf("result_info = %v", listed.Env.ResultInfo)
	}
	paged := c.do(http.MethodGet, "/d1/database?page=2&per_page=2", "", nil)
	expect(t, paged, http.StatusOK, 0)
	paged.result(t, &list)
	if len(list) != 1 || list[0].Name != "third" || paged.Env.ResultInfo["total_pages"] != float64(2) {
		t.Fatalf("page 2 of 2 = %+v %v", list, paged.Env.ResultInfo)
	}
	named := c.do(http.MethodGet, "/d1/database?name=my-api-db", "", nil)
	expect(t, named, http.StatusOK, 0)
	named.result(t, &list)
	if len(list) != 1 || list[0].UUID != db.UUID {
		t.Fatalf("name=my-api-db lists %+v", list)
	}

	got := c.do(http.MethodGet, "/d1/database/"+db.UUID, "", nil)
	expect(t, got, http.StatusOK, 0)
	var d d1Info
	got.result(t, &d)
	if d.UUID != db.UUID || d.Name != "my-api-db" {
		t.Fatalf("get = %+v", d)
	}
	expect(t, c.do(http.MethodGet, "/d1/database/00000000-0000-4000-8000-000000000000", "", nil), http.StatusNotFound, codeD1NotFound)
	expect(t, c.do(http.MethodGet, "/d1/database/..%2F..%2Fstate.json", "", nil), http.StatusNotFound, codeD1NotFound)

	// The query endpoint: a table, rows with params, then num_tables and file_size.
	res := d1Query(t, c, db.UUID, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, at DATETIME)")
	if len(res) != 1 || !res[0].Success || !res[0].Meta.ChangedDB {
		t.Fatalf("create table = %+v", res)
	}
	res = d1Query(t, c, db.UUID, "INSERT INTO notes (body, at) VALUES (?, ?)", "hello", "2026-01-02T03:04:05.000Z")
	if res[0].Meta.Changes != 1 || res[0].Meta.LastRowID != 1 || res[0].Meta.SizeAfter <= 0 {
		t.Fatalf("insert meta = %+v", res[0].Meta)
	}
	res = d1Query(t, c, db.UUID, "SELECT id, body, at FROM notes; SELECT count(*) AS n FROM notes")
	if len(res) != 2 || len(res[0].Results) != 1 || res[0].Results[0]["body"] != "hello" ||
		res[0].Results[0]["at"] != "2026-01-02T03:04:05.000Z" || res[1].Results[0]["n"] != float64(1) {
		t.Fatalf("select = %+v", res)
	}
	// Errors: SQLite's message with its code; a failed call leaves nothing behind.
	bad := c.json(http.MethodPost, "/d1/database/"+db.UUID+"/query", map[string]any{"sql": "INSERT INTO notes (body) VALUES ('x'); SELEC 1"})
	expect(t, bad, http.StatusBadRequest, codeD1Query)
	if !strings.Contains(string(bad.Body), "SQLITE_ERROR") {
		t.Fatalf("error body = %s", bad.Body)
	}
	if n := d1Query(t, c, db.UUID, "SELECT count(*) AS n FROM notes")[0].Results[0]["n"]; n != float64(1) {
		t.Fatalf("after a failed multi-statement query there are %v notes, want 1", n)
	}
	for _, sql := range []string{"BEGIN", "PRAGMA journal_mode = DELETE", "ATTACH DATABASE '/tmp/x.db' AS x", "VACUUM INTO '/tmp/x.db'"} {
		expect(t, c.json(http.MethodPost, "/d1/database/"+db.UUID+"/query", map[string]any{"sql": sql}), http.StatusBadRequest, codeD1Query)
	}
	expect(t, c.json(http.MethodPost, "/d1/database/"+db.UUID+"/query", map[string]any{"sql": "SELECT ?", "params": []any{1, 2}}), http.StatusBadRequest, codeD1Query)
	raw := c.json(http.MethodPost, "/d1/database/"+db.UUID+"/raw", map[string]any{"sql": "SELECT id, body FROM notes"})
	expect(t, raw, http.StatusOK, 0)
	var rawOut []struct {
		Results struct {
			Columns []string `json:"columns"`
			Rows    [][]any  `json:"rows"`
		} `json:"results"`
	}
	raw.result(t, &rawOut)
	if len(rawOut) != 1 || strings.Join(rawOut[0].Results.Columns, ",") != "id,body" || len(rawOut[0].Results.Rows) != 1 {
		t.Fatalf("raw = %s", raw.Env.Result)
	}

	got = c.do(http.MethodGet, "/d1/database/"+db.UUID, "", nil)
	got.result(t, &d)
	if d.NumTables == nil || *d.NumTables != 1 || d.FileSize == nil || *d.FileSize <= 0 {
		t.Fatalf("after CREATE TABLE: %+v, want num_tables 1 and file_size > 0", d)
	}

	// Delete removes the record and the files.
	expect(t, c.do(http.MethodDelete, "/d1/database/"+other.UUID, "", nil), http.StatusOK, 0)
	expect(t, c.do(http.MethodDelete, "/d1/database/"+other.UUID, "", nil), http.StatusNotFound, codeD1NotFound)
	expect(t, c.do(http.MethodGet, "/d1/database/"+other.UUID, "", nil), http.StatusNotFound, codeD1NotFound)
	if matches, _ := filepath.Glob(filepath.Join(dir, d1Dir, other.UUID+"*")); len(matches) != 0 {
		t.Fatalf("files left after delete: %v", matches)
	}
	if _, err := os.Stat(filepath.Join(dir, d1Dir, db.UUID+".sqlite3")); err != nil {
		t.Fatalf("the kept database's file: %v", err)
	}
}

// TestD1Durability: committed rows survive a restart on the same state dir, and a deleted
// database's name can be used again.
func TestD1Durability(t *testing.T) {
	dir := t.TempDir()
	srv := startTestServer(t, Options{StateDir: dir})
	c := newClient(t, srv)
	db := createD1DB(t, c, "durable")
	d1Query(t, c, db.UUID, "CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB)")
	c.json(http.MethodPost, "/d1/database/"+db.UUID+"/query", map[string]any{"batch": []any{
		map[string]any{"sql": "INSERT INTO kv VALUES (?, ?)", "params": []any{"a", []int{1, 2, 255}}},
		map[string]any{"sql": "INSERT INTO kv VALUES (?, ?)", "params": []any{"b", nil}},
	}})
	if err := srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	srv = startTestServer(t, Options{StateDir: dir})
	c = newClient(t, srv)
	res := d1Query(t, c, db.UUID, "SELECT k, v FROM kv ORDER BY k")
	rows, _ := json.Marshal(res[0].Results)
	if string(rows) != `[{"k":"a","v":[1,2,255]},{"k":"b","v":null}]` {
		t.Fatalf("after restart: %s", rows)
	}
	expect(t, c.do(http.MethodDelete, "/d1/database/"+db.UUID, "", nil), http.StatusOK, 0)
	again := createD1DB(t, c, "durable")
	if again.UUID == db.UUID || *again.NumTables != 0 {
		t.Fatalf("re-created = %+v", again)
	}
}

// TestD1Overlap: concurrent queries on one database are serialised (none lost), and a
// delete while queries run leaves each of them either done or "not found", never a crash
// nor a re-created file.
func TestD1Overlap(t *testing.T) {
	dir := t.TempDir()
	srv := startTestServer(t, Options{StateDir: dir})
	c := newClient(t, srv)
	db := createD1DB(t, c, "busy")
	d1Query(t, c, db.UUID, "CREATE TABLE hits (id INTEGER PRIMARY KEY AUTOINCREMENT, worker INTEGER)")
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan string, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r := c.json(http.MethodPost, "/d1/database/"+db.UUID+"/query", map[string]any{"batch": []any{
					map[string]any{"sql": "INSERT INTO hits (worker) VALUES (?)", "params": []any{w}},
					map[string]any{"sql": "SELECT count(*) AS n FROM hits"},
				}})
				if r.Status != http.StatusOK {
					errs <- string(r.Body)
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("a concurrent query failed: %s", e)
	}
	if n := d1Query(t, c, db.UUID, "SELECT count(*) AS n FROM hits")[0].Results[0]["n"]; n != float64(workers*each) {
		t.Fatalf("%v rows after %d concurrent inserts", n, workers*each)
	}

	// Delete while queries run.
	var running sync.WaitGroup
	for w := 0; w < 4; w++ {
		running.Add(1)
		go func() {
			defer running.Done()
			for i := 0; i < 20; i++ {
				r := c.json(http.MethodPost, "/d1/database/"+db.UUID+"/query", map[string]any{"sql": "INSERT INTO hits (worker) VALUES (1)"})
				if r.Status != http.StatusOK && r.code() != codeD1NotFound {
					errs2 := string(r.Body)
					t.Errorf("query during delete: %s", errs2)
					return
				}
			}
		}()
	}
	expect(t, c.do(http.MethodDelete, "/d1/database/"+db.UUID, "", nil), http.StatusOK, 0)
	running.Wait()
	if matches, _ := filepath.Glob(filepath.Join(dir, d1Dir, db.UUID+"*")); len(matches) != 0 {
		t.Fatalf("files after delete under load: %v", matches)
	}
}

// TestD1Statements runs the engine on an in-memory database: statement splitting (a trigger
// body holds semicolons; trailing comments), savepoints, allowed and refused PRAGMAs and
// transaction control, parameter count and types, and all-or-nothing calls.
func TestD1Statements(t *testing.T) {
	conn, err := openSQLite("")
	if err != nil {
		t.Fatal(err)
	}
	h := &d1Handle{conn: conn}
	defer conn.close()
	run := func(stmts ...d1Stmt) (d1CallResult, error) { return h.run(stmts) }
	sql := func(s string, params ...any) d1Stmt { return d1Stmt{SQL: s, Params: params} }

	res, err := run(sql(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
		CREATE TABLE log (msg TEXT);
		CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN INSERT INTO log VALUES ('a'); INSERT INTO log VALUES ('b'); END;
		-- a trailing comment`))
	if err != nil || len(res.Results) != 3 {
		t.Fatalf("schema: %d results, %v", len(res.Results), err)
	}
	if _, err := run(sql("INSERT INTO t (v) VALUES (?)", "x"), sql("SAVEPOINT s1"), sql("INSERT INTO t (v) VALUES ('y')"),
		sql("ROLLBACK TO s1"), sql("RELEASE s1")); err != nil {
		t.Fatalf("savepoints: %v", err)
	}
	res, err = run(sql("SELECT count(*) FROM t"), sql("SELECT count(*) FROM log"), sql("PRAGMA table_info(t)"), sql("EXPLAIN QUERY PLAN SELECT * FROM t"))
	if err != nil || res.Results[0].Rows[0][0] != int64(1) || res.Results[1].Rows[0][0] != int64(2) || len(res.Results[2].Rows) != 2 {
		t.Fatalf("counts: %+v %v", res.Results, err)
	}
	refused := []string{"BEGIN TRANSACTION", "COMMIT", "END", "ROLLBACK", "PRAGMA main.journal_mode = OFF", "PRAGMA synchronous = OFF",
		"PRAGMA temp_store_directory = '/tmp'", "/* x */ pragma writable_schema = 1", "VACUUM INTO '/tmp/copy.db'", "ATTACH ':memory:' AS other"}
	for _, q := range refused {
		if _, err := run(sql(q)); err == nil {
			t.Errorf("%q was not refused", q)
		}
	}
	for _, tc := range []struct {
		stmt d1Stmt
		want string
	}{
		{sql("SELECT ?, ?", int64(1)), "Wrong number of parameter bindings"},
		{sql("SELECT ?; SELECT ?", int64(1)), "single statement"},
		{sql("   "), "No SQL statements"},
		{sql("INSERT INTO t (id, v) VALUES (1, 'dup')"), "UNIQUE constraint failed: t.id: SQLITE_CONSTRAINT"},
	} {
		if _, err := run(tc.stmt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.stmt.SQL, err, tc.want)
		}
	}
	// A failing call undoes its earlier statements, the trigger's rows included.
	if _, err := run(sql("INSERT INTO t (v) VALUES ('z')"), sql("INSERT INTO nope VALUES (1)")); err == nil {
		t.Fatal("insert into a missing table succeeded")
	}
	res, _ = run(sql("SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM log)"))
	if res.Results[0].Rows[0][0] != int64(1) || res.Results[0].Rows[0][1] != int64(2) {
		t.Fatalf("after a failed call: %v", res.Results[0].Rows)
	}
	params, err := decodeD1Params([]json.RawMessage{json.RawMessage(`1`), json.RawMessage(`1.5`), json.RawMessage(`"s"`), json.RawMessage(`true`),
		json.RawMessage(`null`), json.RawMessage(`[0,255]`), json.RawMessage(`1e3`)})
	if err != nil {
		t.Fatal(err)
	}
	res, err = run(d1Stmt{SQL: "SELECT typeof(?1), typeof(?2), typeof(?3), ?4, typeof(?5), hex(?6), typeof(?7)", Params: params})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(res.Results[0].arrayRows())
	if string(got) != `[["integer","real","text",1,"null","00FF","real"]]` {
		t.Fatalf("parameter types: %s", got)
	}
	for _, bad := range []string{`{"a":1}`, `[256]`, `["x"]`} {
		if _, err := decodeD1Params([]json.RawMessage{json.RawMessage(bad)}); err == nil {
			t.Errorf("param %s accepted", bad)
		}
	}
}

// TestD1SweepsOrphanFiles: files of a database no account holds (a crash between a delete's
// state change and its file removal) are removed on the next D1 use; others are kept.
func TestD1SweepsOrphanFiles(t *testing.T) {
	dir := t.TempDir()
	srv := startTestServer(t, Options{StateDir: dir})
	c := newClient(t, srv)
	db := createD1DB(t, c, "kept")
	srv.Close()
	orphan := filepath.Join(dir, d1Dir, newUUID()+".sqlite3")
	other := filepath.Join(dir, d1Dir, "notes.txt")
	for _, f := range []string{orphan, orphan + "-wal", other} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv = startTestServer(t, Options{StateDir: dir})
	c = newClient(t, srv)
	expect(t, c.do(http.MethodGet, "/d1/database/"+db.UUID, "", nil), http.StatusOK, 0)
	for _, f := range []string{orphan, orphan + "-wal"} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("orphan %s still there (%v)", filepath.Base(f), err)
		}
	}
	for _, f := range []string{other, filepath.Join(dir, d1Dir, db.UUID+".sqlite3")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}
