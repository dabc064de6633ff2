package localcf

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flareform/flareform/internal/lazyre"
)

// The Analytics Engine SQL API's dialect (reference 3.4) is ClickHouse's. localcf answers the
// subset flareform's `usage` command sends (docs/consumers.md) and refuses everything else with
// an error naming the part it does not support, so a query never gets a wrong answer:
//
//	SELECT item [AS alias], ...      item: a column, COUNT(), SUM(_sample_interval),
//	                                 SUM(_sample_interval * doubleN), SUM(doubleN)
//	FROM dataset
//	[WHERE cond AND ...]             cond: timestamp > NOW() - INTERVAL 'N' DAY|HOUR|MINUTE
//	                                 (or >=), or a string column = 'literal'
//	[GROUP BY column|alias, ...]
//	[ORDER BY column|alias [ASC|DESC], ...]
//	[LIMIT n]
//	[FORMAT JSON|JSONEachRow]

// sqlTokenKind is what a token is.
type sqlTokenKind int

const (
	sqlIdent  sqlTokenKind = iota // a name or keyword ("quoted" and `quoted` names too)
	sqlNumber                     // 24, 1.5
	sqlString                     // 'text'
	sqlSymbol                     // ( ) , * - = > >= ; and other operators
	sqlEOF
)

type sqlToken struct {
	kind sqlTokenKind
	text string // a string's value without quotes; a name as written
	pos  int    // byte offset, for messages
}

// sqlError is a query localcf refuses: its message names what is unsupported or wrong.
type sqlError struct{ msg string }

func (e *sqlError) Error() string { return e.msg }

func sqlErrorf(format string, args ...any) error { return &sqlError{fmt.Sprintf(format, args...)} }

// tokenizeSQL splits a query into tokens; comments are not part of the subset.
func tokenizeSQL(src string) ([]sqlToken, error) {
	var out []sqlToken
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			out = append(out, sqlToken{sqlIdent, src[i:j], i})
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.') {
				j++
			}
			out = append(out, sqlToken{sqlNumber, src[i:j], i})
			i = j
		case c == '\'' || c == '"' || c == '`':
			text, next, err := scanQuoted(src, i)
			if err != nil {
				return nil, err
			}
			kind := sqlIdent
			if c == '\'' {
				kind = sqlString
			}
			out = append(out, sqlToken{kind, text, i})
			i = next
		default:
			sym, err := scanSymbol(src, i)
			if err != nil {
				return nil, err
			}
			out = append(out, sqlToken{sqlSymbol, sym, i})
			i += len(sym)
		}
	}
	return append(out, sqlToken{sqlEOF, "", len(src)}), nil
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || c >= '0' && c <= '9' }

// scanQuoted reads a quoted string or name starting at src[i]; a doubled quote or a backslash
// escapes the quote character.
func scanQuoted(src string, i int) (string, int, error) {
	quote := src[i]
	var b strings.Builder
	for j := i + 1; j < len(src); j++ {
		switch c := src[j]; {
		case c == '\\' && j+1 < len(src):
			j++
			b.WriteByte(src[j])
		case c == quote && j+1 < len(src) && src[j+1] == quote:
			j++
			b.WriteByte(quote)
		case c == quote:
			return b.String(), j + 1, nil
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, sqlErrorf("unterminated quoted text starting at offset %d", i)
}

// scanSymbol reads an operator; two-character ones first.
func scanSymbol(src string, i int) (string, error) {
	if i+1 < len(src) {
		switch two := src[i : i+2]; two {
		case ">=", "<=", "!=", "<>", "--", "/*":
			if two == "--" || two == "/*" {
				return "", sqlErrorf("comments are not supported (offset %d)", i)
			}
			return two, nil
		}
	}
	if strings.IndexByte("(),*-+=<>;./%", src[i]) >= 0 {
		return src[i : i+1], nil
	}
	return "", sqlErrorf("unexpected character %q at offset %d", src[i], i)
}

// sqlItemKind is what a SELECT item computes.
type sqlItemKind int

const (
	itemColumn      sqlItemKind = iota // a column's value (grouped, or per row)
	itemCount                          // COUNT(): rows
	itemSumSample                      // SUM(_sample_interval): the sampled row count
	itemSumWeighted                    // SUM(_sample_interval * doubleN)
	itemSumColumn                      // SUM(doubleN)
)

type sqlItem struct {
	kind   sqlItemKind
	column string // itemColumn, itemSumWeighted, itemSumColumn
	name   string // output name: the alias, the column, or the canonical expression
}

func (it sqlItem) aggregate() bool { return it.kind != itemColumn }

type sqlEquality struct{ column, value string }

type sqlOrder struct {
	item int // index into items
	desc bool
}

// sqlQuery is a parsed query of the subset.
type sqlQuery struct {
	items   []sqlItem
	table   string
	since   time.Duration // > 0: only points newer than NOW() - since
	sinceEq bool          // >= rather than >
	equals  []sqlEquality
	groupBy []string // columns
	grouped bool     // aggregates or GROUP BY: one row per group
	orderBy []sqlOrder
	limit   int    // < 0: none
	format  string // JSON or JSONEachRow
}

// sqlParser walks the tokens of one query.
type sqlParser struct {
	toks []sqlToken
	i    int
}

func (p *sqlParser) peek() sqlToken { return p.toks[p.i] }

func (p *sqlParser) next() sqlToken {
	t := p.toks[p.i]
	if t.kind != sqlEOF {
		p.i++
	}
	return t
}

// isKeyword reports whether t is the keyword kw (case-insensitive, unquoted).
func isKeyword(t sqlToken, kw string) bool {
	return t.kind == sqlIdent && strings.EqualFold(t.text, kw)
}

func (p *sqlParser) acceptKeyword(kw string) bool {
	if isKeyword(p.peek(), kw) {
		p.i++
		return true
	}
	return false
}

func (p *sqlParser) acceptSymbol(sym string) bool {
	if t := p.peek(); t.kind == sqlSymbol && t.text == sym {
		p.i++
		return true
	}
	return false
}

func (p *sqlParser) expectKeyword(kw string) error {
	if !p.acceptKeyword(kw) {
		return p.unexpected("expected " + kw)
	}
	return nil
}

func (p *sqlParser) expectSymbol(sym string) error {
	if !p.acceptSymbol(sym) {
		return p.unexpected("expected " + sym)
	}
	return nil
}

// unexpected describes the current token for an error.
func (p *sqlParser) unexpected(want string) error {
	t := p.peek()
	if t.kind == sqlEOF {
		return sqlErrorf("%s, found the end of the query", want)
	}
	return sqlErrorf("%s, found %q at offset %d", want, t.text, t.pos)
}

// parseSQL parses one query of the subset.
func parseSQL(src string) (*sqlQuery, error) {
	toks, err := tokenizeSQL(src)
	if err != nil {
		return nil, err
	}
	p := &sqlParser{toks: toks}
	q := &sqlQuery{limit: -1, format: "JSON"}
	if t := p.peek(); !isKeyword(t, "SELECT") {
		return nil, p.unexpected("only SELECT is supported: expected SELECT")
	}
	p.next()
	steps := []func(*sqlQuery) error{p.parseItems, p.parseFrom, p.parseWhere, p.parseGroupBy, p.parseOrderBy, p.parseLimit, p.parseFormat}
	for _, step := range steps {
		if err := step(q); err != nil {
			return nil, err
		}
	}
	p.acceptSymbol(";")
	if p.peek().kind != sqlEOF {
		return nil, p.unexpected(p.clauseHint())
	}
	return q, q.check()
}

// clauseHint names the clauses the subset lacks when one of them follows a query.
func (p *sqlParser) clauseHint() string {
	for _, kw := range []string{"HAVING", "OFFSET", "UNION", "JOIN", "SETTINGS", "WITH", "OR"} {
		if isKeyword(p.peek(), kw) {
			return kw + " is not supported"
		}
	}
	return "expected the end of the query"
}

func (p *sqlParser) parseItems(q *sqlQuery) error {
	for {
		it, err := p.parseItem()
		if err != nil {
			return err
		}
		if p.acceptKeyword("AS") {
			t := p.next()
			if t.kind != sqlIdent {
				return sqlErrorf("expected a name after AS at offset %d", t.pos)
			}
			it.name = t.text
		}
		q.items = append(q.items, it)
		if !p.acceptSymbol(",") {
			return nil
		}
	}
}

// parseItem reads a column or one of the supported aggregates.
func (p *sqlParser) parseItem() (sqlItem, error) {
	t := p.next()
	if t.kind == sqlSymbol && t.text == "*" {
		return sqlItem{}, sqlErrorf("SELECT * is not supported: name the columns")
	}
	if t.kind != sqlIdent {
		return sqlItem{}, sqlErrorf("expected a column or an aggregate, found %q at offset %d", t.text, t.pos)
	}
	if !p.acceptSymbol("(") {
		if !isColumn(t.text) {
			return sqlItem{}, sqlErrorf("unknown column %q at offset %d", t.text, t.pos)
		}
		return sqlItem{kind: itemColumn, column: t.text, name: t.text}, nil
	}
	switch strings.ToLower(t.text) {
	case "count":
		p.acceptSymbol("*")
		if err := p.expectSymbol(")"); err != nil {
			return sqlItem{}, fmt.Errorf("COUNT takes no argument: %w", err)
		}
		return sqlItem{kind: itemCount, name: "count()"}, nil
	case "sum":
		return p.parseSum()
	}
	return sqlItem{}, sqlErrorf("function %s() is not supported (only COUNT() and SUM())", t.text)
}

// parseSum reads the argument of SUM( after the parenthesis: _sample_interval, doubleN, or
// their product in either order.
func (p *sqlParser) parseSum() (sqlItem, error) {
	var factors []string
	for {
		t := p.next()
		if t.kind != sqlIdent || !(t.text == "_sample_interval" || isDoubleColumn(t.text)) {
			return sqlItem{}, sqlErrorf("SUM() takes _sample_interval, a doubleN column or their product; found %q at offset %d", t.text, t.pos)
		}
		factors = append(factors, t.text)
		if !p.acceptSymbol("*") {
			break
		}
	}
	if err := p.expectSymbol(")"); err != nil {
		return sqlItem{}, fmt.Errorf("in SUM(): %w", err)
	}
	switch {
	case len(factors) == 1 && factors[0] == "_sample_interval":
		return sqlItem{kind: itemSumSample, name: "sum(_sample_interval)"}, nil
	case len(factors) == 1:
		return sqlItem{kind: itemSumColumn, column: factors[0], name: "sum(" + factors[0] + ")"}, nil
	case len(factors) == 2 && factors[0] == "_sample_interval" && isDoubleColumn(factors[1]):
		return sqlItem{kind: itemSumWeighted, column: factors[1], name: "sum(_sample_interval * " + factors[1] + ")"}, nil
	case len(factors) == 2 && factors[1] == "_sample_interval" && isDoubleColumn(factors[0]):
		return sqlItem{kind: itemSumWeighted, column: factors[0], name: "sum(" + factors[0] + " * _sample_interval)"}, nil
	}
	return sqlItem{}, sqlErrorf("SUM(%s) is not supported: use SUM(_sample_interval * doubleN)", strings.Join(factors, " * "))
}

func (p *sqlParser) parseFrom(q *sqlQuery) error {
	if err := p.expectKeyword("FROM"); err != nil {
		return err
	}
	t := p.next()
	if t.kind == sqlSymbol && t.text == "(" {
		return sqlErrorf("subqueries are not supported (offset %d)", t.pos)
	}
	if t.kind != sqlIdent {
		return sqlErrorf("expected a dataset name after FROM, found %q at offset %d", t.text, t.pos)
	}
	q.table = t.text
	if p.acceptSymbol(".") {
		return sqlErrorf("database-qualified names are not supported (offset %d)", t.pos)
	}
	return nil
}

func (p *sqlParser) parseWhere(q *sqlQuery) error {
	if !p.acceptKeyword("WHERE") {
		return nil
	}
	for {
		if err := p.parseCondition(q); err != nil {
			return err
		}
		if !p.acceptKeyword("AND") {
			return nil
		}
	}
}

// parseCondition reads one condition of the WHERE clause.
func (p *sqlParser) parseCondition(q *sqlQuery) error {
	t := p.next()
	if t.kind != sqlIdent || !isColumn(t.text) {
		return sqlErrorf("a condition must start with a column, found %q at offset %d", t.text, t.pos)
	}
	if t.text == "timestamp" {
		return p.parseTimeCondition(q)
	}
	if !isStringColumn(t.text) {
		return sqlErrorf("conditions on %s are not supported (only timestamp > NOW() - INTERVAL ..., and string columns = 'text')", t.text)
	}
	if err := p.expectSymbol("="); err != nil {
		return fmt.Errorf("only = is supported on %s: %w", t.text, err)
	}
	v := p.next()
	if v.kind != sqlString {
		return sqlErrorf("%s must be compared with a 'quoted' string, found %q at offset %d", t.text, v.text, v.pos)
	}
	q.equals = append(q.equals, sqlEquality{column: t.text, value: v.text})
	return nil
}

var intervalUnits = map[string]time.Duration{"DAY": 24 * time.Hour, "HOUR": time.Hour, "MINUTE": time.Minute}

// parseTimeCondition reads `> NOW() - INTERVAL 'N' UNIT` (or >=, with N quoted or not).
func (p *sqlParser) parseTimeCondition(q *sqlQuery) error {
	switch {
	case p.acceptSymbol(">"):
	case p.acceptSymbol(">="):
		q.sinceEq = true
	default:
		return p.unexpected("only timestamp > NOW() - INTERVAL 'N' unit (or >=) is supported")
	}
	if q.since > 0 {
		return sqlErrorf("only one condition on timestamp is supported")
	}
	if !p.acceptKeyword("NOW") || !p.acceptSymbol("(") || !p.acceptSymbol(")") || !p.acceptSymbol("-") || !p.acceptKeyword("INTERVAL") {
		return p.unexpected("only timestamp > NOW() - INTERVAL 'N' unit is supported")
	}
	n := p.next()
	count, err := strconv.Atoi(strings.TrimSpace(n.text))
	if (n.kind != sqlString && n.kind != sqlNumber) || err != nil || count <= 0 {
		return sqlErrorf("INTERVAL needs a positive whole number, found %q at offset %d", n.text, n.pos)
	}
	u := p.next()
	unit, ok := intervalUnits[strings.ToUpper(u.text)]
	if u.kind != sqlIdent || !ok {
		return sqlErrorf("INTERVAL unit %q is not supported (DAY, HOUR or MINUTE)", u.text)
	}
	q.since = time.Duration(count) * unit
	return nil
}

func (p *sqlParser) parseGroupBy(q *sqlQuery) error {
	if !p.acceptKeyword("GROUP") {
		return nil
	}
	if err := p.expectKeyword("BY"); err != nil {
		return err
	}
	for {
		t := p.next()
		col, err := q.groupColumn(t)
		if err != nil {
			return err
		}
		q.groupBy = append(q.groupBy, col)
		if !p.acceptSymbol(",") {
			return nil
		}
	}
}

// groupColumn resolves a GROUP BY name: an alias of a column item, or a column.
func (q *sqlQuery) groupColumn(t sqlToken) (string, error) {
	if t.kind != sqlIdent {
		return "", sqlErrorf("GROUP BY takes column names or aliases, found %q at offset %d", t.text, t.pos)
	}
	for _, it := range q.items {
		if it.name == t.text {
			if it.aggregate() {
				return "", sqlErrorf("cannot GROUP BY the aggregate %q", t.text)
			}
			return it.column, nil
		}
	}
	if !isColumn(t.text) {
		return "", sqlErrorf("GROUP BY %q: no such column or alias", t.text)
	}
	return t.text, nil
}

func (p *sqlParser) parseOrderBy(q *sqlQuery) error {
	if !p.acceptKeyword("ORDER") {
		return nil
	}
	if err := p.expectKeyword("BY"); err != nil {
		return err
	}
	for {
		t := p.next()
		idx := q.itemNamed(t.text)
		if t.kind != sqlIdent || idx < 0 {
			return sqlErrorf("ORDER BY takes the name or alias of a selected column, found %q at offset %d", t.text, t.pos)
		}
		o := sqlOrder{item: idx}
		if p.acceptKeyword("DESC") {
			o.desc = true
		} else {
			p.acceptKeyword("ASC")
		}
		q.orderBy = append(q.orderBy, o)
		if !p.acceptSymbol(",") {
			return nil
		}
	}
}

func (q *sqlQuery) itemNamed(name string) int {
	for i, it := range q.items {
		if it.name == name {
			return i
		}
	}
	return -1
}

func (p *sqlParser) parseLimit(q *sqlQuery) error {
	if !p.acceptKeyword("LIMIT") {
		return nil
	}
	t := p.next()
	n, err := strconv.Atoi(t.text)
	if t.kind != sqlNumber || err != nil || n < 0 {
		return sqlErrorf("LIMIT needs a whole number, found %q at offset %d", t.text, t.pos)
	}
	if p.peek().kind == sqlSymbol && p.peek().text == "," {
		return sqlErrorf("LIMIT offset, count is not supported")
	}
	q.limit = n
	return nil
}

func (p *sqlParser) parseFormat(q *sqlQuery) error {
	if !p.acceptKeyword("FORMAT") {
		return nil
	}
	t := p.next()
	switch {
	case isKeyword(t, "JSON"):
		q.format = "JSON"
	case isKeyword(t, "JSONEachRow"):
		q.format = "JSONEachRow"
	default:
		return sqlErrorf("FORMAT %s is not supported (JSON or JSONEachRow)", t.text)
	}
	return nil
}

// check applies the rules of grouping: with an aggregate or GROUP BY, every selected column
// must be grouped; output names must be unique.
func (q *sqlQuery) check() error {
	seen := map[string]bool{}
	for _, it := range q.items {
		if seen[it.name] {
			return sqlErrorf("the output name %q appears twice: give one of them another alias", it.name)
		}
		seen[it.name] = true
		q.grouped = q.grouped || it.aggregate()
	}
	q.grouped = q.grouped || len(q.groupBy) > 0
	if !q.grouped {
		return nil
	}
	for _, it := range q.items {
		if !it.aggregate() && !slices.Contains(q.groupBy, it.column) {
			return sqlErrorf("column %s is selected but neither aggregated nor in GROUP BY", it.column)
		}
	}
	return nil
}

var (
	blobColumn   = lazyre.Regexp{Expr: `^blob([1-9]|1[0-9]|20)$`}
	doubleColumn = lazyre.Regexp{Expr: `^double([1-9]|1[0-9]|20)$`}
)

func isDoubleColumn(name string) bool { return doubleColumn.MatchString(name) }

func isStringColumn(name string) bool {
	return name == "dataset" || name == "index1" || blobColumn.MatchString(name)
}

func isColumn(name string) bool {
	return isStringColumn(name) || isDoubleColumn(name) || name == "timestamp" || name == "_sample_interval"
}
