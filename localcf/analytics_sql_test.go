package localcf

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// usageQuery is the query `flareform usage` sends (docs/consumers.md).
const usageQuery = `SELECT blob1 AS worker, blob2 AS consumer, blob4 AS status_class,
       SUM(_sample_interval * double1) AS requests, SUM(_sample_interval * double2) AS ai_calls,
       SUM(_sample_interval * double3) AS tokens
FROM flareform_usage
WHERE timestamp > NOW() - INTERVAL '24' HOUR
GROUP BY worker, consumer, status_class
FORMAT JSON`

func TestParseSQLAcceptsTheSubset(t *testing.T) {
	q, err := parseSQL(usageQuery)
	if err != nil {
		t.Fatal(err)
	}
	if q.table != "flareform_usage" || q.since != 24*time.Hour || q.sinceEq || q.format != "JSON" || !q.grouped {
		t.Fatalf("parsed %+v", q)
	}
	if got := strings.Join(q.groupBy, ","); got != "blob1,blob2,blob4" {
		t.Fatalf("GROUP BY resolved to %s, want the aliased columns blob1,blob2,blob4", got)
	}
	if q.items[3].kind != itemSumWeighted || q.items[3].column != "double1" || q.items[3].name != "requests" {
		t.Fatalf("item 4 = %+v", q.items[3])
	}
	accepted := []string{
		"select count() from ds",
		"SELECT COUNT(*) AS n, SUM(_sample_interval) AS s, SUM(double2) AS d FROM ds FORMAT JSONEachRow;",
		"SELECT index1, SUM(double1 * _sample_interval) AS x FROM `ds` WHERE timestamp >= NOW() - INTERVAL 7 DAY AND index1 = 'it''s' GROUP BY index1 ORDER BY x DESC, index1 LIMIT 5",
		"SELECT blob1, timestamp, double20, _sample_interval, dataset FROM ds WHERE blob1 = 'a' AND blob20 = 'b' LIMIT 0",
	}
	for _, src := range accepted {
		if _, err := parseSQL(src); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

func TestParseSQLRefusesOutsideTheSubset(t *testing.T) {
	cases := []struct{ sql, want string }{
		{"DELETE FROM ds", "only SELECT"},
		{"SHOW TABLES", "only SELECT"},
		{"SELECT * FROM ds", "SELECT *"},
		{"SELECT AVG(double1) FROM ds", "AVG() is not supported"},
		{"SELECT quantileWeighted(0.5)(double1, _sample_interval) FROM ds", "not supported"},
		{"SELECT SUM(double1 * double2) FROM ds", "SUM(double1 * double2) is not supported"},
		{"SELECT SUM(blob1) FROM ds", "SUM() takes"},
		{"SELECT blob99 FROM ds", `unknown column "blob99"`},
		{"SELECT blob1, COUNT() FROM ds", "neither aggregated nor in GROUP BY"},
		{"SELECT blob1 AS a, blob2 AS a FROM ds", `"a" appears twice`},
		{"SELECT blob1 FROM (SELECT blob1 FROM ds)", "subqueries"},
		{"SELECT blob1 FROM ds WHERE blob1 = 'a' OR blob2 = 'b'", "OR is not supported"},
		{"SELECT blob1 FROM ds WHERE double1 = 'a'", "conditions on double1"},
		{"SELECT blob1 FROM ds WHERE blob1 != 'a'", "only = is supported"},
		{"SELECT blob1 FROM ds WHERE blob1 = 3", "'quoted' string"},
		{"SELECT blob1 FROM ds WHERE timestamp < NOW()", "only timestamp > NOW()"},
		{"SELECT blob1 FROM ds WHERE timestamp > NOW() - INTERVAL '1' WEEK", `unit "WEEK"`},
		{"SELECT blob1 FROM ds WHERE timestamp > NOW() - INTERVAL 'x' DAY", "positive whole number"},
		{"SELECT blob1 FROM ds WHERE timestamp > toDateTime('2026-01-01')", "only timestamp > NOW()"},
		{"SELECT COUNT() AS n FROM ds GROUP BY n", "cannot GROUP BY the aggregate"},
		{"SELECT blob1 FROM ds GROUP BY blob1 HAVING blob1 = 'a'", "HAVING is not supported"},
		{"SELECT blob1 FROM ds ORDER BY blob2", "ORDER BY takes the name or alias of a selected column"},
		{"SELECT blob1 FROM ds LIMIT 5 OFFSET 2", "OFFSET is not supported"},
		{"SELECT blob1 FROM ds LIMIT 2, 5", "LIMIT offset, count"},
		{"SELECT blob1 FROM ds FORMAT TabSeparated", "FORMAT TabSeparated is not supported"},
		{"SELECT blob1 FROM ds -- comment", "comments"},
		{"SELECT blob1 FROM ds WHERE blob1 = 'open", "unterminated"},
		{"SELECT blob1 FROM db.ds", "database-qualified"},
		{"SELECT blob1 FROM ds UNION SELECT blob2 FROM ds", "UNION is not supported"},
		{"SELECT blob1", "expected FROM, found the end"},
	}
	for _, tc := range cases {
		_, err := parseSQL(tc.sql)
		var se *sqlError
		if err == nil || !errorsAs(err, &se) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want a refusal containing %q", tc.sql, err, tc.want)
		}
	}
}

// sqlFixture is a memory-only log with points of two datasets and two accounts.
func sqlFixture(t *testing.T, now time.Time) *appendLog[dataPoint] {
	t.Helper()
	log, err := openAppendLog[dataPoint]("")
	if err != nil {
		t.Fatal(err)
	}
	add := func(account, dataset string, age time.Duration, blobs []string, doubles ...float64) {
		p := dataPoint{Account: account, Dataset: dataset, Timestamp: now.Add(-age), SampleInterval: 1, Index1: blobs[1], Blobs: blobs, Doubles: doubles}
		if err := log.add(p); err != nil {
			t.Fatal(err)
		}
	}
	add("acct", "flareform_usage", time.Minute, []string{"api", "mobile", "m", "2xx"}, 1, 1, 30)
	add("acct", "flareform_usage", time.Hour, []string{"api", "mobile", "m", "2xx"}, 1, 1, 12)
	add("acct", "flareform_usage", 2*time.Hour, []string{"api", "web", "m", "429"}, 1, 0, 0)
	add("acct", "flareform_usage", 30*time.Hour, []string{"api", "web", "m", "2xx"}, 1, 1, 99) // outside 24 h
	add("acct", "other", time.Minute, []string{"api", "web", "m", "2xx"}, 1, 1, 5)
	add("acct2", "flareform_usage", time.Minute, []string{"api", "web", "m", "2xx"}, 1, 1, 7)
	return log
}

// runSQLText runs src for account "acct" and returns the answer as sent and decoded.
func runSQLText(t *testing.T, log *appendLog[dataPoint], now time.Time, src string) (string, map[string]any) {
	t.Helper()
	q, err := parseSQL(src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	raw := q.encode(q.run(log, "acct", now))
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return string(raw), out
}

func TestSQLRunGroupsAndSums(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	log := sqlFixture(t, now)
	got, _ := runSQLText(t, log, now, usageQuery)
	want := `{"meta":[{"name":"worker","type":"String"},{"name":"consumer","type":"String"},{"name":"status_class","type":"String"},` +
		`{"name":"requests","type":"Float64"},{"name":"ai_calls","type":"Float64"},{"name":"tokens","type":"Float64"}],` +
		`"data":[{"worker":"api","consumer":"mobile","status_class":"2xx","requests":2,"ai_calls":2,"tokens":42},` +
		`{"worker":"api","consumer":"web","status_class":"429","requests":1,"ai_calls":0,"tokens":0}],"rows":2}` + "\n"
	if got != want {
		t.Fatalf("usage query answered\n%s\nwant\n%s", got, want)
	}
	_, out := runSQLText(t, log, now, "SELECT index1 AS c, COUNT() AS n, SUM(_sample_interval) AS s FROM flareform_usage WHERE blob4 = '2xx' GROUP BY c ORDER BY c DESC LIMIT 1")
	if got, _ := json.Marshal(out["data"]); string(got) != `[{"c":"web","n":"1","s":"1"}]` {
		t.Fatalf("filtered count: %s (UInt64 values are quoted, as ClickHouse writes them)", got)
	}
	_, out = runSQLText(t, log, now, "SELECT COUNT() AS n FROM no_such_dataset")
	if got, _ := json.Marshal(out["data"]); string(got) != `[{"n":"0"}]` {
		t.Fatalf("COUNT() of an unknown dataset: %s, want one row of 0", got)
	}
	_, out = runSQLText(t, log, now, "SELECT blob1 FROM no_such_dataset")
	if out["rows"] != 0.0 || len(out["meta"].([]any)) != 1 {
		t.Fatalf("rows of an unknown dataset: %v, want none with meta", out)
	}
}

func TestSQLJSONEachRow(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	q, err := parseSQL("SELECT blob2, double3, timestamp FROM flareform_usage WHERE timestamp > NOW() - INTERVAL '90' MINUTE ORDER BY double3 FORMAT JSONEachRow")
	if err != nil {
		t.Fatal(err)
	}
	got := string(q.encode(q.run(sqlFixture(t, now), "acct", now)))
	want := `{"blob2":"mobile","double3":12,"timestamp":"2026-03-01 11:00:00"}` + "\n" +
		`{"blob2":"mobile","double3":30,"timestamp":"2026-03-01 11:59:00"}` + "\n"
	if got != want {
		t.Fatalf("JSONEachRow:\n%s\nwant\n%s", got, want)
	}
}

func errorsAs(err error, target **sqlError) bool { return errors.As(err, target) }
