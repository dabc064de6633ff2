package localcf

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// d1Worker runs one D1 operation per path and answers its result (or the thrown error) as
// JSON.
const d1Worker = `export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    try {
      switch (path) {
        case "/setup":
          return Response.json(await env.DB.exec(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE, at DATETIME, data BLOB);\n" +
            "CREATE TABLE tags (note INTEGER REFERENCES notes(id), tag TEXT)"));
        case "/insert": {
          const r = await env.DB.prepare("INSERT INTO notes (body, at, data) VALUES (?1, ?2, ?3)")
            .bind("hello", "2026-01-02T03:04:05.000Z", new Uint8Array([1, 2, 255])).run();
          const r2 = await env.DB.prepare("INSERT INTO notes (body) VALUES (?)").bind("world").run();
          return Response.json({ first: r.meta, second: r2.meta, success: r.success });
        }
        case "/first": {
          const row = await env.DB.prepare("SELECT id, body, at, data FROM notes WHERE body = ?").bind("hello").first();
          return Response.json({
            row, keys: Object.keys(row),
            body: await env.DB.prepare("SELECT body FROM notes ORDER BY id DESC").first("body"),
            none: await env.DB.prepare("SELECT * FROM notes WHERE id = ?").bind(999).first(),
          });
        }
        case "/all":
          return Response.json(await env.DB.prepare("SELECT id, body FROM notes ORDER BY id").all());
        case "/raw":
          return Response.json({
            plain: await env.DB.prepare("SELECT id, body FROM notes ORDER BY id").raw(),
            named: await env.DB.prepare("SELECT id, body FROM notes ORDER BY id").raw({ columnNames: true }),
          });
        case "/batch-ok": {
          const res = await env.DB.batch([
            env.DB.prepare("INSERT INTO notes (body) VALUES (?)").bind("batched"),
            env.DB.prepare("SELECT count(*) AS n FROM notes"),
          ]);
          return Response.json({ batch: res });
        }
        case "/batch-fail":
          await env.DB.batch([
            env.DB.prepare("INSERT INTO notes (body) VALUES (?)").bind("never"),
            env.DB.prepare("INSERT INTO notes (body) VALUES (?)").bind("hello"),
          ]);
          return Response.json({ error: null });
        case "/count":
          return Response.json({ n: await env.DB.prepare("SELECT count(*) AS n FROM notes").first("n"),
            never: await env.DB.prepare("SELECT count(*) AS n FROM notes WHERE body = 'never'").first("n") });
        case "/bad-sql":
          await env.DB.prepare("SELEC nothing").all();
          return Response.json({ error: null });
        case "/bad-bind":
          env.DB.prepare("SELECT ?").bind(undefined);
          return Response.json({ error: null });
        case "/bad-column":
          await env.DB.prepare("SELECT 1 AS one").first("two");
          return Response.json({ error: null });
      }
      return new Response("no route", { status: 404 });
    } catch (err) {
      return Response.json({ error: err.message, cause: err.cause ? err.cause.message : null });
    }
  }
};`

// TestD1BindingInWorkerd runs env.DB from a worker in workerd: exec, insert with bind (text,
// a BLOB), first/all/raw, a batch, and a batch that fails and leaves nothing behind.
func TestD1BindingInWorkerd(t *testing.T) {
	srv := startTestServer(t, Options{StateDir: t.TempDir()})
	c := newClient(t, srv)
	db := createD1DB(t, c, "worker-db")
	deployWorker(c, "notes", d1Worker, map[string]any{"type": "d1", "name": "DB", "id": db.UUID})

	call := func(path string) map[string]any {
		t.Helper()
		status, out := devCall(t, srv, "notes", http.MethodGet, path, nil)
		if status != http.StatusOK {
			t.Fatalf("%s: HTTP %d %v", path, status, out)
		}
		return out
	}
	asJSON := func(v any) string {
		data, _ := json.Marshal(v)
		return string(data)
	}
	if out := call("/setup"); out["count"] != float64(2) {
		t.Fatalf("exec = %v, want count 2", out)
	}
	out := call("/insert")
	first, _ := out["first"].(map[string]any)
	second, _ := out["second"].(map[string]any)
	if out["success"] != true || first["changes"] != float64(1) || first["last_row_id"] != float64(1) || second["last_row_id"] != float64(2) {
		t.Fatalf("insert = %v", out)
	}
	out = call("/first")
	// The worker sees the row's columns in query order (the JSON here sorts them).
	if got := asJSON(out["row"]); got != `{"at":"2026-01-02T03:04:05.000Z","body":"hello","data":[1,2,255],"id":1}` || asJSON(out["keys"]) != `["id","body","at","data"]` {
		t.Fatalf("first() = %s, keys %v", got, out["keys"])
	}
	if out["body"] != "world" || out["none"] != nil {
		t.Fatalf("first(col) = %v, first() of no row = %v", out["body"], out["none"])
	}
	out = call("/all")
	if got := asJSON(out["results"]); got != `[{"body":"hello","id":1},{"body":"world","id":2}]` || out["success"] != true {
		t.Fatalf("all() = %v", out)
	}
	if meta, _ := out["meta"].(map[string]any); meta["rows_read"] != float64(2) || meta["size_after"].(float64) <= 0 {
		t.Fatalf("all().meta = %v", out["meta"])
	}
	out = call("/raw")
	if got := asJSON(out); got != `{"named":[["id","body"],[1,"hello"],[2,"world"]],"plain":[[1,"hello"],[2,"world"]]}` {
		t.Fatalf("raw() = %s", got)
	}
	batch, _ := call("/batch-ok")["batch"].([]any)
	if len(batch) != 2 || asJSON(batch[1].(map[string]any)["results"]) != `[{"n":3}]` {
		t.Fatalf("batch = %v", batch)
	}

	out = call("/batch-fail")
	if msg, _ := out["error"].(string); !strings.HasPrefix(msg, "D1_ERROR: ") || !strings.Contains(msg, "UNIQUE constraint failed") || !strings.Contains(msg, "SQLITE_CONSTRAINT") {
		t.Fatalf("failing batch threw %v, want D1_ERROR with the UNIQUE constraint", out)
	}
	if out := call("/count"); out["n"] != float64(3) || out["never"] != float64(0) {
		t.Fatalf("after the failed batch: %v; its first insert must be rolled back", out)
	}
	if out := call("/bad-sql"); !strings.HasPrefix(out["error"].(string), "D1_ERROR: ") || !strings.Contains(out["error"].(string), "syntax error") {
		t.Fatalf("bad SQL threw %v", out)
	}
	if out := call("/bad-bind"); !strings.HasPrefix(out["error"].(string), "D1_TYPE_ERROR") {
		t.Fatalf("bind(undefined) threw %v", out)
	}
	if out := call("/bad-column"); out["error"] != "D1_COLUMN_NOTFOUND" {
		t.Fatalf("first(missing column) threw %v", out)
	}

	// What the worker wrote is what the API reads.
	res := d1Query(t, c, db.UUID, "SELECT body FROM notes ORDER BY id")
	if got := asJSON(res[0].Results); got != `[{"body":"hello"},{"body":"world"},{"body":"batched"}]` {
		t.Fatalf("API reads %s", got)
	}

	// A deleted database: the bound worker's calls fail, nothing is re-created.
	expect(t, c.do(http.MethodDelete, "/d1/database/"+db.UUID, "", nil), http.StatusOK, 0)
	if out := call("/all"); !strings.Contains(out["error"].(string), "does not exist") {
		t.Fatalf("after delete: %v", out)
	}
}

// TestD1BindingNeedsDatabase: an upload or settings PATCH binding an unknown database id is
// refused (10021) and names the id; a malformed binding too.
func TestD1BindingNeedsDatabase(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	missing := "00000000-0000-4000-8000-000000000000"
	r := c.upload("app", defaultMeta(map[string]any{"type": "d1", "name": "DB", "id": missing}), testWorker("v1"))
	expect(t, r, http.StatusBadRequest, codeValidation)
	if !strings.Contains(r.Env.Errors[0].Message, missing) {
		t.Fatalf("error %q does not name the database", r.Env.Errors[0].Message)
	}
	for _, bad := range []map[string]any{{"type": "d1", "name": "DB"}, {"type": "d1", "name": "DB", "id": ""}, {"type": "d1", "name": "DB", "id": 5}} {
		expect(t, c.upload("app", defaultMeta(bad), testWorker("v1")), http.StatusBadRequest, codeValidation)
	}
	c.mustUpload("app", defaultMeta(), testWorker("v1"))
	expect(t, c.patchSettings("app", map[string]any{"bindings": []any{map[string]any{"type": "d1", "name": "DB", "id": missing}}}), http.StatusBadRequest, codeValidation)

	db := createD1DB(t, c, "app-db")
	c.mustUpload("app", defaultMeta(map[string]any{"type": "d1", "name": "DB", "id": db.UUID}), testWorker("v2"))
	r = c.do(http.MethodGet, "/workers/scripts/app/settings", "", nil)
	if !strings.Contains(string(r.Env.Result), `"id":"`+db.UUID+`"`) {
		t.Fatalf("settings do not show the d1 binding: %s", r.Env.Result)
	}
}
