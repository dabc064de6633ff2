package localcf

import (
	"errors"
	"fmt"
	"strings"
)

// This file parses RFC 8941 (Structured Field Values) Dictionaries strictly, for the
// Cloudflare-Workers-Version-Overrides header. Cloudflare ignores an override header that is not
// a valid Dictionary (cloudflare-operations.md 1.4), so the parser validates every member, also
// those naming other workers, and refuses the whole field on any error.

// sfKind is the type of a bare item.
type sfKind int

const (
	sfInteger sfKind = iota
	sfDecimal
	sfString
	sfToken
	sfBinary
	sfBoolean
	sfInnerList
)

// sfMember is a Dictionary member's value as the overrides need it: its kind and, for strings
// and tokens, its text. Parameters are validated and dropped.
type sfMember struct {
	kind sfKind
	text string
}

// sfParser walks one field value (RFC 8941 section 4.2).
type sfParser struct {
	s string
	i int
}

// parseSFDictionary parses a Dictionary field value. Duplicate keys keep the last value, as
// the RFC says; an empty value is an empty Dictionary.
func parseSFDictionary(field string) (map[string]sfMember, error) {
	p := &sfParser{s: strings.Trim(field, " ")}
	dict := map[string]sfMember{}
	for !p.eof() {
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		m := sfMember{kind: sfBoolean, text: "?1"}
		if p.peek() == '=' {
			p.i++
			if m, err = p.itemOrInnerList(); err != nil {
				return nil, fmt.Errorf("member %q: %w", key, err)
			}
		} else if err := p.parameters(); err != nil {
			return nil, fmt.Errorf("member %q: %w", key, err)
		}
		dict[key] = m
		if err := p.memberSeparator(); err != nil {
			return nil, err
		}
	}
	return dict, nil
}

// memberSeparator consumes OWS "," OWS between members; at the end of input it consumes nothing.
func (p *sfParser) memberSeparator() error {
	p.skipOWS()
	if p.eof() {
		return nil
	}
	if p.peek() != ',' {
		return fmt.Errorf("expected ',' at offset %d", p.i)
	}
	p.i++
	p.skipOWS()
	if p.eof() {
		return errors.New("trailing ','")
	}
	return nil
}

func (p *sfParser) eof() bool { return p.i >= len(p.s) }

func (p *sfParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.i]
}

func (p *sfParser) skipOWS() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) skipSP() {
	for !p.eof() && p.s[p.i] == ' ' {
		p.i++
	}
}

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool   { return isLCAlpha(c) || (c >= 'A' && c <= 'Z') }

// key: ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ).
func (p *sfParser) key() (string, error) {
	start := p.i
	if c := p.peek(); !isLCAlpha(c) && c != '*' {
		return "", fmt.Errorf("a key must start with a lowercase letter or '*' at offset %d", p.i)
	}
	for !p.eof() {
		c := p.s[p.i]
		if !isLCAlpha(c) && !isDigit(c) && !strings.ContainsRune("_-.*", rune(c)) {
			break
		}
		p.i++
	}
	return p.s[start:p.i], nil
}

func (p *sfParser) itemOrInnerList() (sfMember, error) {
	if p.peek() == '(' {
		return p.innerList()
	}
	return p.item()
}

// innerList: "(" *SP [ sf-item *( 1*SP sf-item ) *SP ] ")" parameters.
func (p *sfParser) innerList() (sfMember, error) {
	p.i++ // "("
	for {
		p.skipSP()
		if p.eof() {
			return sfMember{}, errors.New("unterminated inner list")
		}
		if p.peek() == ')' {
			p.i++
			return sfMember{kind: sfInnerList}, p.parameters()
		}
		if _, err := p.item(); err != nil {
			return sfMember{}, err
		}
		if c := p.peek(); c != ' ' && c != ')' {
			return sfMember{}, fmt.Errorf("expected ' ' or ')' in inner list at offset %d", p.i)
		}
	}
}

func (p *sfParser) item() (sfMember, error) {
	m, err := p.bareItem()
	if err != nil {
		return m, err
	}
	return m, p.parameters()
}

// parameters: *( ";" *SP key [ "=" bare-item ] ).
func (p *sfParser) parameters() error {
	for p.peek() == ';' {
		p.i++
		p.skipSP()
		if _, err := p.key(); err != nil {
			return fmt.Errorf("parameter: %w", err)
		}
		if p.peek() == '=' {
			p.i++
			if _, err := p.bareItem(); err != nil {
				return fmt.Errorf("parameter: %w", err)
			}
		}
	}
	return nil
}

func (p *sfParser) bareItem() (sfMember, error) {
	switch c := p.peek(); {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		return p.str()
	case c == '*' || isAlpha(c):
		return p.token(), nil
	case c == ':':
		return p.binary()
	case c == '?':
		return p.boolean()
	}
	return sfMember{}, fmt.Errorf("no item at offset %d", p.i)
}

// number: integers of at most 15 digits, decimals of at most 12 integer and 1 to 3 fraction
// digits (RFC 8941 section 4.2.4).
func (p *sfParser) number() (sfMember, error) {
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	digits, dot := 0, -1
	for !p.eof() {
		c := p.s[p.i]
		if c == '.' && dot < 0 && digits > 0 {
			dot = digits
		} else if !isDigit(c) {
			break
		} else {
			digits++
		}
		p.i++
	}
	text := p.s[start:p.i]
	switch {
	case digits == 0:
		return sfMember{}, fmt.Errorf("number without digits at offset %d", start)
	case dot < 0 && digits > 15:
		return sfMember{}, fmt.Errorf("integer %s has more than 15 digits", text)
	case dot < 0:
		return sfMember{kind: sfInteger, text: text}, nil
	case dot > 12 || digits-dot < 1 || digits-dot > 3:
		return sfMember{}, fmt.Errorf("decimal %s out of range", text)
	}
	return sfMember{kind: sfDecimal, text: text}, nil
}

// str: DQUOTE *( unescaped / "\" ( DQUOTE / "\" ) ) DQUOTE, printable ASCII only.
func (p *sfParser) str() (sfMember, error) {
	p.i++ // opening quote
	var b strings.Builder
	for !p.eof() {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return sfMember{kind: sfString, text: b.String()}, nil
		case c == '\\':
			if p.eof() || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
				return sfMember{}, errors.New("bad escape in string")
			}
			b.WriteByte(p.s[p.i])
			p.i++
		case c < 0x20 || c > 0x7e:
			return sfMember{}, errors.New("string with a character outside printable ASCII")
		default:
			b.WriteByte(c)
		}
	}
	return sfMember{}, errors.New("unterminated string")
}

// token: ( ALPHA / "*" ) *( tchar / ":" / "/" ).
func (p *sfParser) token() sfMember {
	start := p.i
	p.i++
	for !p.eof() && (isTChar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/') {
		p.i++
	}
	return sfMember{kind: sfToken, text: p.s[start:p.i]}
}

func isTChar(c byte) bool {
	return isAlpha(c) || isDigit(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// binary: ":" *( base64 ) ":".
func (p *sfParser) binary() (sfMember, error) {
	p.i++
	for !p.eof() {
		c := p.s[p.i]
		p.i++
		if c == ':' {
			return sfMember{kind: sfBinary}, nil
		}
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '/' && c != '=' {
			return sfMember{}, errors.New("byte sequence with a character outside base64")
		}
	}
	return sfMember{}, errors.New("unterminated byte sequence")
}

// boolean: "?" ( "0" / "1" ).
func (p *sfParser) boolean() (sfMember, error) {
	p.i++
	if c := p.peek(); c == '0' || c == '1' {
		p.i++
		return sfMember{kind: sfBoolean, text: "?" + string(c)}, nil
	}
	return sfMember{}, errors.New("boolean must be ?0 or ?1")
}
