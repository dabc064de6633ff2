package fidelity

import (
	"context"
	"testing"
	"time"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/d1"

	"github.com/flareform/flareform/localcf/localcftest"
)

// TestCloudflareGoD1: cloudflare-go v6's d1 package creates, lists (by name), reads, queries
// (rows as objects), reads raw rows from and deletes a D1 database, decoding every answer.
func TestCloudflareGoD1(t *testing.T) {
	srv := localcftest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := sdkClient(srv, srv.Token())
	acct := cloudflare.F(srv.AccountID())

	db, err := c.D1.Database.New(ctx, d1.DatabaseNewParams{AccountID: acct, Name: cloudflare.F("sdk-db"),
		PrimaryLocationHint: cloudflare.F(d1.DatabaseNewParamsPrimaryLocationHintWeur)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if db.Name != "sdk-db" || len(db.UUID) != 36 || db.Version != "production" || db.CreatedAt.IsZero() || db.NumTables != 0 {
		t.Fatalf("New = %+v", db)
	}
	page, err := c.D1.Database.List(ctx, d1.DatabaseListParams{AccountID: acct, Name: cloudflare.F("sdk-db")})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(page.Result) != 1 || page.Result[0].UUID != db.UUID || page.Result[0].CreatedAt.IsZero() {
		t.Fatalf("List = %+v", page.Result)
	}

	q, err := c.D1.Database.Query(ctx, db.UUID, d1.DatabaseQueryParams{AccountID: acct, Body: d1.DatabaseQueryParamsBodyD1SingleQuery{
		Sql: cloudflare.F("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b'); SELECT id, v FROM t ORDER BY id")}})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if len(q.Result) != 3 || !q.Result[2].Success || len(q.Result[2].Results) != 2 || q.Result[1].Meta.Changes != 2 || q.Result[1].Meta.SizeAfter <= 0 {
		t.Fatalf("Query = %+v", q.Result)
	}
	if row, ok := q.Result[2].Results[1].(map[string]any); !ok || row["v"] != "b" || row["id"] != float64(2) {
		t.Fatalf("second row = %#v", q.Result[2].Results[1])
	}
	raw, err := c.D1.Database.Raw(ctx, db.UUID, d1.DatabaseRawParams{AccountID: acct, Body: d1.DatabaseRawParamsBodyD1SingleQuery{
		Sql: cloudflare.F("SELECT v FROM t WHERE id = ?"), Params: cloudflare.F([]string{"1"})}})
	if err != nil {
		t.Fatalf("Raw: %v", err)
	}
	if len(raw.Result) != 1 || len(raw.Result[0].Results.Columns) != 1 || raw.Result[0].Results.Rows[0][0] != "a" {
		t.Fatalf("Raw = %+v", raw.Result)
	}
	got, err := c.D1.Database.Get(ctx, db.UUID, d1.DatabaseGetParams{AccountID: acct})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.NumTables != 1 || got.FileSize <= 0 || got.ReadReplication.Mode != d1.D1ReadReplicationModeDisabled {
		t.Fatalf("Get = %+v", got)
	}
	if _, err := c.D1.Database.Delete(ctx, db.UUID, d1.DatabaseDeleteParams{AccountID: acct}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := c.D1.Database.Get(ctx, db.UUID, d1.DatabaseGetParams{AccountID: acct}); err == nil {
		t.Fatal("Get after Delete succeeded")
	}
}
