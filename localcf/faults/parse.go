package faults

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ParseRules reads rules in the compact syntax used by flags and FLAREFORM_LOCAL_FAULTS:
//
//	rules  = rule { ";" rule }            (newlines also separate rules; blanks are ignored)
//	rule   = kind [ "@" path ] { ":" option }
//	option = "p=" float | "ms=" int | "retry_after=" int | "count=" int | "skip=" int | "method=" name
//
// for example "429@/client/v4/accounts/*/workers/scripts/*:p=0.3:retry_after=2;latency@*:ms=50".
// Every rule is validated; the error names the rule and what is wrong with it.
func ParseRules(s string) ([]Rule, error) {
	var rules []Rule
	var errs []error
	n := 0
	for _, segment := range strings.FieldsFunc(s, func(c rune) bool { return c == ';' || c == '\n' }) {
		segment = strings.TrimSpace(segment)
		if segment == "" {
			continue
		}
		n++
		r, err := parseRule(segment)
		if err != nil {
			errs = append(errs, fmt.Errorf("fault rule %d %q: %w", n, segment, err))
			continue
		}
		rules = append(rules, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rules, nil
}

func parseRule(segment string) (Rule, error) {
	parts := strings.Split(segment, ":")
	var r Rule
	r.Kind, r.Path, _ = strings.Cut(strings.TrimSpace(parts[0]), "@")
	r.Kind = strings.ToLower(strings.TrimSpace(r.Kind))
	r.Path = strings.TrimSpace(r.Path)
	seen := map[string]bool{}
	for _, opt := range parts[1:] {
		key, value, ok := strings.Cut(strings.TrimSpace(opt), "=")
		if !ok {
			return Rule{}, fmt.Errorf("option %q needs the form key=value", opt)
		}
		key = canonicalOption(strings.TrimSpace(key))
		if seen[key] {
			return Rule{}, fmt.Errorf("option %q given twice", key)
		}
		seen[key] = true
		if err := setOption(&r, key, strings.TrimSpace(value)); err != nil {
			return Rule{}, err
		}
	}
	if err := r.Validate(); err != nil {
		return Rule{}, err
	}
	return r, nil
}

// canonicalOption maps the JSON field names onto the short option names, so both spellings work.
func canonicalOption(key string) string {
	switch strings.ToLower(key) {
	case "probability":
		return "p"
	case "latency_ms":
		return "ms"
	default:
		return strings.ToLower(key)
	}
}

func setOption(r *Rule, key, value string) error {
	var err error
	switch key {
	case "p":
		r.Probability, err = strconv.ParseFloat(value, 64)
	case "ms":
		r.LatencyMS, err = strconv.Atoi(value)
	case "retry_after":
		r.RetryAfter, err = strconv.Atoi(value)
	case "count":
		r.Count, err = strconv.Atoi(value)
	case "skip":
		r.Skip, err = strconv.Atoi(value)
	case "method":
		r.Method = value
	default:
		return fmt.Errorf("unknown option %q (want p, ms, retry_after, count, skip or method)", key)
	}
	if err != nil {
		return fmt.Errorf("option %s=%q is not a number", key, value)
	}
	return nil
}

// String writes r in ParseRules syntax; ParseRules(r.String()) gives r back for any valid rule.
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString(r.Kind)
	if r.Path != "" {
		b.WriteString("@" + r.Path)
	}
	opt := func(key, value string) { b.WriteString(":" + key + "=" + value) }
	if r.Method != "" {
		opt("method", r.Method)
	}
	if r.Probability != 0 {
		opt("p", strconv.FormatFloat(r.Probability, 'g', -1, 64))
	}
	if r.LatencyMS != 0 {
		opt("ms", strconv.Itoa(r.LatencyMS))
	}
	if r.RetryAfter != 0 {
		opt("retry_after", strconv.Itoa(r.RetryAfter))
	}
	if r.Count != 0 {
		opt("count", strconv.Itoa(r.Count))
	}
	if r.Skip != 0 {
		opt("skip", strconv.Itoa(r.Skip))
	}
	return b.String()
}

// FormatRules writes rules in ParseRules syntax, separated by ';'.
func FormatRules(rules []Rule) string {
	parts := make([]string, len(rules))
	for n, r := range rules {
		parts[n] = r.String()
	}
	return strings.Join(parts, ";")
}
