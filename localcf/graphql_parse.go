package localcf

import (
	"fmt"
	"strconv"
	"strings"
)

// A small GraphQL reader for the GraphQL Analytics API (graphql.go): one query operation with
// variables, fields with aliases and arguments, and literal values. Fragments, directives and
// other operations are refused by name.

type gqlToken struct {
	kind byte // 'n' name, 's' string, '1' number, 'p' punctuator, 0 end
	text string
	pos  int
}

// gqlField is one selected field.
type gqlField struct {
	alias, name string
	args        map[string]any // values with variables already substituted
	sel         []gqlField
}

// key is the field's name in the answer.
func (f gqlField) key() string {
	if f.alias != "" {
		return f.alias
	}
	return f.name
}

func gqlErrorf(format string, args ...any) error {
	return fmt.Errorf("syntax error: "+format, args...)
}

// tokenizeGraphQL splits a document; commas and comments are insignificant in GraphQL.
func tokenizeGraphQL(src string) ([]gqlToken, error) {
	var out []gqlToken
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			out = append(out, gqlToken{'n', src[i:j], i})
			i = j
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(src) && strings.IndexByte("0123456789.eE+-", src[j]) >= 0 {
				j++
			}
			out = append(out, gqlToken{'1', src[i:j], i})
			i = j
		case c == '"':
			text, next, err := scanGraphQLString(src, i)
			if err != nil {
				return nil, err
			}
			out = append(out, gqlToken{'s', text, i})
			i = next
		case strings.HasPrefix(src[i:], "..."):
			return nil, gqlErrorf("fragments are not supported (offset %d)", i)
		case strings.IndexByte("!$():=@[]{}|", c) >= 0:
			out = append(out, gqlToken{'p', src[i : i+1], i})
			i++
		default:
			return nil, gqlErrorf("unexpected character %q at offset %d", c, i)
		}
	}
	return append(out, gqlToken{0, "", len(src)}), nil
}

// scanGraphQLString reads a "string" with JSON-style escapes; block strings are not supported.
func scanGraphQLString(src string, i int) (string, int, error) {
	if strings.HasPrefix(src[i:], `"""`) {
		return "", 0, gqlErrorf("block strings are not supported (offset %d)", i)
	}
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case '\n':
			return "", 0, gqlErrorf("unterminated string at offset %d", i)
		case '"':
			s, err := strconv.Unquote(src[i : j+1])
			if err != nil {
				return "", 0, gqlErrorf("bad string at offset %d: %v", i, err)
			}
			return s, j + 1, nil
		}
	}
	return "", 0, gqlErrorf("unterminated string at offset %d", i)
}

type gqlParser struct {
	toks []gqlToken
	i    int
	vars map[string]any
}

func (p *gqlParser) peek() gqlToken { return p.toks[p.i] }

func (p *gqlParser) next() gqlToken {
	t := p.toks[p.i]
	if t.kind != 0 {
		p.i++
	}
	return t
}

func (p *gqlParser) accept(kind byte, text string) bool {
	if t := p.peek(); t.kind == kind && t.text == text {
		p.i++
		return true
	}
	return false
}

func (p *gqlParser) expect(text string) error {
	if !p.accept('p', text) {
		t := p.peek()
		return gqlErrorf("expected %q, found %q at offset %d", text, t.text, t.pos)
	}
	return nil
}

func (p *gqlParser) name() (string, error) {
	t := p.next()
	if t.kind != 'n' {
		return "", gqlErrorf("expected a name, found %q at offset %d", t.text, t.pos)
	}
	return t.text, nil
}

// parseGraphQL reads a document of one query operation and returns its selection set.
func parseGraphQL(src string, vars map[string]any) ([]gqlField, error) {
	toks, err := tokenizeGraphQL(src)
	if err != nil {
		return nil, err
	}
	p := &gqlParser{toks: toks, vars: vars}
	if t := p.peek(); t.kind == 'n' {
		if t.text != "query" {
			return nil, gqlErrorf("only query operations are supported, not %q", t.text)
		}
		p.next()
		if p.peek().kind == 'n' {
			p.next() // the operation's name
		}
		if err := p.skipVariableDefinitions(); err != nil {
			return nil, err
		}
	}
	sel, err := p.selectionSet()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != 0 {
		return nil, gqlErrorf("only one operation is supported; found %q at offset %d", t.text, t.pos)
	}
	return sel, nil
}

// skipVariableDefinitions reads ($a: String!, $d: Date = "...") and applies defaults to
// variables the request did not set.
func (p *gqlParser) skipVariableDefinitions() error {
	if !p.accept('p', "(") {
		return nil
	}
	for !p.accept('p', ")") {
		if err := p.expect("$"); err != nil {
			return err
		}
		name, err := p.name()
		if err != nil {
			return err
		}
		if err := p.expect(":"); err != nil {
			return err
		}
		if err := p.skipType(); err != nil {
			return err
		}
		if p.accept('p', "=") {
			def, err := p.value()
			if err != nil {
				return err
			}
			if _, set := p.vars[name]; !set {
				p.vars[name] = def
			}
		}
	}
	return nil
}

func (p *gqlParser) skipType() error {
	if p.accept('p', "[") {
		if err := p.skipType(); err != nil {
			return err
		}
		if err := p.expect("]"); err != nil {
			return err
		}
	} else if _, err := p.name(); err != nil {
		return err
	}
	p.accept('p', "!")
	return nil
}

func (p *gqlParser) selectionSet() ([]gqlField, error) {
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	var fields []gqlField
	for !p.accept('p', "}") {
		f, err := p.field()
		if err != nil {
			return nil, err
		}
		fields = append(fields, f)
	}
	if len(fields) == 0 {
		return nil, gqlErrorf("empty selection set")
	}
	return fields, nil
}

func (p *gqlParser) field() (gqlField, error) {
	var f gqlField
	name, err := p.name()
	if err != nil {
		return f, err
	}
	f.name = name
	if p.accept('p', ":") {
		if f.name, err = p.name(); err != nil {
			return f, err
		}
		f.alias = name
	}
	if f.args, err = p.arguments(); err != nil {
		return f, err
	}
	if t := p.peek(); t.kind == 'p' && t.text == "@" {
		return f, gqlErrorf("directives are not supported (offset %d)", t.pos)
	}
	if t := p.peek(); t.kind == 'p' && t.text == "{" {
		f.sel, err = p.selectionSet()
	}
	return f, err
}

func (p *gqlParser) arguments() (map[string]any, error) {
	args := map[string]any{}
	if !p.accept('p', "(") {
		return args, nil
	}
	for !p.accept('p', ")") {
		name, err := p.name()
		if err != nil {
			return nil, err
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		if args[name], err = p.value(); err != nil {
			return nil, err
		}
	}
	return args, nil
}

// value reads a literal, a list, an object or a variable (substituted; unset is null).
func (p *gqlParser) value() (any, error) {
	t := p.next()
	switch {
	case t.kind == 'p' && t.text == "$":
		name, err := p.name()
		return p.vars[name], err
	case t.kind == 's':
		return t.text, nil
	case t.kind == '1':
		n, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, gqlErrorf("bad number %q at offset %d", t.text, t.pos)
		}
		return n, nil
	case t.kind == 'n':
		return namedValue(t.text), nil
	case t.kind == 'p' && t.text == "[":
		return p.listValue()
	case t.kind == 'p' && t.text == "{":
		return p.objectValue()
	}
	return nil, gqlErrorf("expected a value, found %q at offset %d", t.text, t.pos)
}

// gqlEnum is an enum literal (orderBy: [sum_totalNeurons_DESC]); it is not a string, so a
// filter that wants one refuses it.
type gqlEnum string

func namedValue(name string) any {
	switch name {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	return gqlEnum(name)
}

// gqlName is an enum's name, or a string given where an enum is expected (as variables are).
func gqlName(v any) string {
	switch x := v.(type) {
	case gqlEnum:
		return string(x)
	case string:
		return x
	}
	return ""
}

func (p *gqlParser) listValue() (any, error) {
	list := []any{}
	for !p.accept('p', "]") {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	return list, nil
}

func (p *gqlParser) objectValue() (any, error) {
	obj := map[string]any{}
	for !p.accept('p', "}") {
		name, err := p.name()
		if err != nil {
			return nil, err
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		if obj[name], err = p.value(); err != nil {
			return nil, err
		}
	}
	return obj, nil
}
