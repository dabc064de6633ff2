package jsclients

import (
	"fmt"
	"strconv"
	"strings"
)

// semver is a release version; prerelease and build suffixes are ignored, because the only
// versions checked are Node releases ("v22.23.3").
type semver [3]int

func (v semver) compare(w semver) int {
	for i := range v {
		if v[i] != w[i] {
			if v[i] < w[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func (v semver) String() string { return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]) }

// parseVersion reads "v22.23.3" or "22.23.3".
func parseVersion(s string) (semver, error) {
	p, err := parsePartial(s)
	if err != nil {
		return semver{}, err
	}
	if p.parts < 3 {
		return semver{}, fmt.Errorf("version %q: want MAJOR.MINOR.PATCH", s)
	}
	return p.v, nil
}

// partial is a version that may leave out trailing parts ("22", "22.12", "22.x", "*").
type partial struct {
	v     semver
	parts int // how many leading parts were given (0 for "*")
}

func parsePartial(s string) (partial, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "="), "v")
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	var p partial
	if s == "" || s == "*" || s == "x" || s == "X" {
		return p, nil
	}
	fields := strings.Split(s, ".")
	if len(fields) > 3 {
		return p, fmt.Errorf("version %q has more than three parts", s)
	}
	for i, f := range fields {
		if f == "*" || f == "x" || f == "X" {
			break
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return p, fmt.Errorf("version %q: part %q is not a number", s, f)
		}
		p.v[i] = n
		p.parts = i + 1
	}
	return p, nil
}

// next is the first version after every version that p matches ("22.12" -> 22.13.0).
func (p partial) next() semver {
	n := p.v
	n[p.parts-1]++
	for i := p.parts; i < 3; i++ {
		n[i] = 0
	}
	return n
}

// bound is one comparison against a version; lower bounds are inclusive, upper exclusive
// unless inclusive is set.
type bound struct {
	op string // ">=", ">", "<", "<="
	v  semver
}

func (b bound) allows(v semver) bool {
	c := v.compare(b.v)
	switch b.op {
	case ">=":
		return c >= 0
	case ">":
		return c > 0
	case "<":
		return c < 0
	default: // "<="
		return c <= 0
	}
}

// Satisfies reports whether version meets a package.json engines range such as ">=22.12.0",
// "^20.19.0 || >=22.12.0", "18 - 20" or "~22.1". It covers the npm range grammar used in
// engines fields: ||, hyphen ranges, comparators, caret, tilde and x-ranges.
func Satisfies(version, rng string) (bool, error) {
	v, err := parseVersion(version)
	if err != nil {
		return false, err
	}
	for _, alt := range strings.Split(rng, "||") {
		bounds, err := parseComparatorSet(alt)
		if err != nil {
			return false, fmt.Errorf("range %q: %w", rng, err)
		}
		if allAllow(bounds, v) {
			return true, nil
		}
	}
	return false, nil
}

func allAllow(bounds []bound, v semver) bool {
	for _, b := range bounds {
		if !b.allows(v) {
			return false
		}
	}
	return true
}

// parseComparatorSet turns one ||-alternative into bounds that must all hold.
func parseComparatorSet(set string) ([]bound, error) {
	fields := strings.Fields(set)
	if len(fields) == 3 && fields[1] == "-" {
		return hyphenRange(fields[0], fields[2])
	}
	var bounds []bound
	for i := 0; i < len(fields); i++ {
		tok := fields[i]
		// npm allows a space between an operator and its version (">= 22").
		if isOperator(tok) && i+1 < len(fields) {
			i++
			tok += fields[i]
		}
		b, err := comparator(tok)
		if err != nil {
			return nil, err
		}
		bounds = append(bounds, b...)
	}
	return bounds, nil
}

func isOperator(s string) bool {
	switch s {
	case ">=", "<=", ">", "<", "=", "^", "~":
		return true
	}
	return false
}

func hyphenRange(lo, hi string) ([]bound, error) {
	from, err := parsePartial(lo)
	if err != nil {
		return nil, err
	}
	to, err := parsePartial(hi)
	if err != nil {
		return nil, err
	}
	bounds := []bound{{">=", from.v}}
	switch {
	case to.parts == 0:
	case to.parts < 3:
		bounds = append(bounds, bound{"<", to.next()})
	default:
		bounds = append(bounds, bound{"<=", to.v})
	}
	return bounds, nil
}

// comparator desugars one token ("^22.1", ">=22.12.0", "22.x") into bounds.
func comparator(tok string) ([]bound, error) {
	op := ""
	for _, candidate := range []string{">=", "<=", ">", "<", "^", "~", "="} {
		if strings.HasPrefix(tok, candidate) {
			op = candidate
			break
		}
	}
	p, err := parsePartial(strings.TrimPrefix(tok, op))
	if err != nil {
		return nil, err
	}
	if p.parts == 0 { // "*", ">=*": anything
		return nil, nil
	}
	switch op {
	case ">=":
		return []bound{{">=", p.v}}, nil
	case ">":
		if p.parts < 3 {
			return []bound{{">=", p.next()}}, nil
		}
		return []bound{{">", p.v}}, nil
	case "<":
		return []bound{{"<", p.v}}, nil
	case "<=":
		if p.parts < 3 {
			return []bound{{"<", p.next()}}, nil
		}
		return []bound{{"<=", p.v}}, nil
	case "^":
		return []bound{{">=", p.v}, {"<", caretCeiling(p)}}, nil
	case "~":
		ceiling := partial{v: p.v, parts: min(p.parts, 2)}
		return []bound{{">=", p.v}, {"<", ceiling.next()}}, nil
	default: // bare or "=": an exact version, or every version a partial one names
		if p.parts == 3 {
			return []bound{{">=", p.v}, {"<=", p.v}}, nil
		}
		return []bound{{">=", p.v}, {"<", p.next()}}, nil
	}
}

// caretCeiling is the first version a caret range excludes: the next change of the leftmost
// non-zero part that was given.
func caretCeiling(p partial) semver {
	for i := 0; i < p.parts; i++ {
		if p.v[i] != 0 || i == p.parts-1 {
			return partial{v: p.v, parts: i + 1}.next()
		}
	}
	return partial{v: p.v, parts: 1}.next()
}
