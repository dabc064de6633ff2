package localcf

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// maxSQLBytes bounds the SQL API's body (the query text).
const maxSQLBytes = 1 << 20

// analyticsSQL is POST /accounts/{id}/analytics_engine/sql: the body is the SQL text, the
// answer the query's rows in its FORMAT (analytics_sql.go has the subset).
func (s *Server) analyticsSQL(c *call) *apiError {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxSQLBytes+1))
	if err != nil {
		return newAPIError(http.StatusBadRequest, codeParseBody, "Could not read the query: %v", err)
	}
	if len(body) > maxSQLBytes {
		return errValidation("The query is longer than %d bytes.", maxSQLBytes)
	}
	q, err := parseSQL(string(body))
	if err != nil {
		var se *sqlError
		if errors.As(err, &se) {
			return errValidation("Unsupported query: %s. localcf answers the subset in docs/local-cloudflare.md (Analytics Engine and neurons).", err)
		}
		return errInternal(err)
	}
	points, _, err := s.usageLogs()
	if err != nil {
		return errInternal(err)
	}
	rows := q.run(points, c.accountID, s.opts.now().UTC())
	c.w.Header().Set("Content-Type", q.contentType())
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(q.encode(rows))
	return nil
}

// sqlRow holds one output row, a value per item: string, float64, uint64 (UInt64), uint32
// (UInt32) or time.Time.
type sqlRow []any

// run evaluates q over the account's points at now.
func (q *sqlQuery) run(points *appendLog[dataPoint], accountID string, now time.Time) []sqlRow {
	var matched []dataPoint
	points.each(func(p *dataPoint) {
		if p.Account == accountID && q.matches(p, now) {
			matched = append(matched, *p)
		}
	})
	var rows []sqlRow
	if q.grouped {
		rows = q.aggregate(matched)
	} else {
		for i := range matched {
			rows = append(rows, q.plainRow(&matched[i]))
		}
	}
	q.sort(rows)
	if q.limit >= 0 && len(rows) > q.limit {
		rows = rows[:q.limit]
	}
	return rows
}

// matches applies FROM, WHERE and the retention period.
func (q *sqlQuery) matches(p *dataPoint, now time.Time) bool {
	if p.Dataset != q.table || p.Timestamp.Before(now.Add(-aeRetention)) {
		return false
	}
	if q.since > 0 {
		from := now.Add(-q.since)
		if p.Timestamp.Before(from) || (!q.sinceEq && p.Timestamp.Equal(from)) {
			return false
		}
	}
	for _, eq := range q.equals {
		if p.column(eq.column) != eq.value {
			return false
		}
	}
	return true
}

// column is the value of a column of p; past the written blobs and doubles, "" and 0.
func (p *dataPoint) column(name string) any {
	switch {
	case name == "dataset":
		return p.Dataset
	case name == "index1":
		return p.Index1
	case name == "timestamp":
		return p.Timestamp
	case name == "_sample_interval":
		return uint32(p.SampleInterval)
	case isDoubleColumn(name):
		n, _ := strconv.Atoi(name[len("double"):])
		if n <= len(p.Doubles) {
			return p.Doubles[n-1]
		}
		return 0.0
	}
	n, _ := strconv.Atoi(name[len("blob"):])
	if n <= len(p.Blobs) {
		return p.Blobs[n-1]
	}
	return ""
}

func (q *sqlQuery) plainRow(p *dataPoint) sqlRow {
	row := make(sqlRow, len(q.items))
	for i, it := range q.items {
		row[i] = p.column(it.column)
	}
	return row
}

// aggregate groups points by the GROUP BY columns, in order of first appearance. Without
// GROUP BY the whole table is one group, which has a row even when empty (as in ClickHouse:
// SELECT COUNT() of no rows is 0).
func (q *sqlQuery) aggregate(points []dataPoint) []sqlRow {
	var keys []string
	groups := map[string]sqlRow{}
	if len(q.groupBy) == 0 {
		keys, groups[""] = []string{""}, q.emptyGroup(nil)
	}
	for i := range points {
		p := &points[i]
		key := q.groupKey(p)
		row, ok := groups[key]
		if !ok {
			row = q.emptyGroup(p)
			groups[key] = row
			keys = append(keys, key)
		}
		q.accumulate(row, p)
	}
	rows := make([]sqlRow, len(keys))
	for i, k := range keys {
		rows[i] = groups[k]
	}
	return rows
}

// groupKey names p's group: its GROUP BY values as JSON; "" without GROUP BY.
func (q *sqlQuery) groupKey(p *dataPoint) string {
	if len(q.groupBy) == 0 {
		return ""
	}
	vals := make([]any, len(q.groupBy))
	for i, col := range q.groupBy {
		vals[i] = p.column(col)
	}
	key, _ := json.Marshal(vals) // strings, numbers and times: cannot fail
	return string(key)
}

// emptyGroup starts a group's row: grouped columns from its first point, zero aggregates.
func (q *sqlQuery) emptyGroup(first *dataPoint) sqlRow {
	row := make(sqlRow, len(q.items))
	for i, it := range q.items {
		switch it.kind {
		case itemColumn:
			row[i] = first.column(it.column)
		case itemCount, itemSumSample:
			row[i] = uint64(0)
		default:
			row[i] = 0.0
		}
	}
	return row
}

func (q *sqlQuery) accumulate(row sqlRow, p *dataPoint) {
	for i, it := range q.items {
		switch it.kind {
		case itemCount:
			row[i] = row[i].(uint64) + 1
		case itemSumSample:
			row[i] = row[i].(uint64) + uint64(p.SampleInterval)
		case itemSumWeighted:
			row[i] = row[i].(float64) + float64(p.SampleInterval)*p.column(it.column).(float64)
		case itemSumColumn:
			row[i] = row[i].(float64) + p.column(it.column).(float64)
		}
	}
}

// sort applies ORDER BY; rows it does not order keep their order.
func (q *sqlQuery) sort(rows []sqlRow) {
	if len(q.orderBy) == 0 {
		return
	}
	slices.SortStableFunc(rows, func(a, b sqlRow) int {
		for _, o := range q.orderBy {
			c := compareValues(a[o.item], b[o.item])
			if o.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
}

func compareValues(a, b any) int {
	switch av := a.(type) {
	case string:
		return cmp.Compare(av, b.(string))
	case float64:
		return cmp.Compare(av, b.(float64))
	case uint64:
		return cmp.Compare(av, b.(uint64))
	case uint32:
		return cmp.Compare(av, b.(uint32))
	case time.Time:
		return av.Compare(b.(time.Time))
	}
	return 0
}

// sqlType is the ClickHouse type of an item, as the answer's meta names it.
func (it sqlItem) sqlType() string {
	switch {
	case it.kind == itemCount || it.kind == itemSumSample:
		return "UInt64"
	case it.kind != itemColumn || isDoubleColumn(it.column):
		return "Float64"
	case it.column == "timestamp":
		return "DateTime"
	case it.column == "_sample_interval":
		return "UInt32"
	}
	return "String"
}

func (q *sqlQuery) contentType() string {
	if q.format == "JSONEachRow" {
		return "application/x-ndjson; charset=UTF-8"
	}
	return "application/json; charset=UTF-8"
}

// encode renders rows in q's format. Objects keep the SELECT order, as ClickHouse writes them.
func (q *sqlQuery) encode(rows []sqlRow) []byte {
	var b bytes.Buffer
	if q.format == "JSONEachRow" {
		for _, row := range rows {
			q.writeObject(&b, row)
			b.WriteByte('\n')
		}
		return b.Bytes()
	}
	b.WriteString(`{"meta":[`)
	for i, it := range q.items {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONValue(&b, map[string]string{"name": it.name, "type": it.sqlType()})
	}
	b.WriteString(`],"data":[`)
	for i, row := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		q.writeObject(&b, row)
	}
	b.WriteString(`],"rows":`)
	b.WriteString(strconv.Itoa(len(rows)))
	b.WriteString("}\n")
	return b.Bytes()
}

func (q *sqlQuery) writeObject(b *bytes.Buffer, row sqlRow) {
	b.WriteByte('{')
	for i, it := range q.items {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONValue(b, it.name)
		b.WriteByte(':')
		writeJSONValue(b, jsonCell(row[i]))
	}
	b.WriteByte('}')
}

// jsonCell is a value as ClickHouse's JSON formats write it: 64-bit integers quoted (its
// output_format_json_quote_64bit_integers default), DateTime as "YYYY-MM-DD hh:mm:ss" UTC.
func jsonCell(v any) any {
	switch x := v.(type) {
	case uint64:
		return strconv.FormatUint(x, 10)
	case time.Time:
		return x.UTC().Format(time.DateTime)
	}
	return v
}

func writeJSONValue(b *bytes.Buffer, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		data = []byte("null") // unreachable: strings, numbers and string maps only
	}
	b.Write(data)
}
