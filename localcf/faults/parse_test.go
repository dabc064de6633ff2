package faults

import (
	"slices"
	"strings"
	"testing"
)

func TestParseRulesReadsTheDocumentedExample(t *testing.T) {
	got, err := ParseRules("429@/client/v4/accounts/*/workers/scripts/*:p=0.3:retry_after=2;latency@*:ms=50;drop@*/secrets:count=1")
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{
		{Kind: "429", Path: "/client/v4/accounts/*/workers/scripts/*", Probability: 0.3, RetryAfter: 2},
		{Kind: "latency", Path: "*", LatencyMS: 50},
		{Kind: "drop", Path: "*/secrets", Count: 1},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ParseRules =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseRulesAcceptsLongNamesNewlinesAndBlanks(t *testing.T) {
	got, err := ParseRules("\n 500 : method=PUT : skip=1 ;; \n latency@/x:latency_ms=5:probability=0.5\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{
		{Kind: "500", Method: "PUT", Skip: 1},
		{Kind: "latency", Path: "/x", LatencyMS: 5, Probability: 0.5},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ParseRules =\n%+v\nwant\n%+v", got, want)
	}
	if empty, err := ParseRules("  ; \n"); err != nil || len(empty) != 0 {
		t.Fatalf("blank input gave %v, %v; want no rules and no error", empty, err)
	}
}

func TestFormatRulesRoundTrips(t *testing.T) {
	rules := []Rule{
		{Kind: "429", Path: "/client/v4/accounts/*/workers/scripts/*", Probability: 0.3, RetryAfter: 2, Count: 4, Skip: 1},
		{Kind: "latency", LatencyMS: 250, Method: "get"},
		{Kind: "latency", Path: "*", LatencyMS: 1, Probability: 1},
		{Kind: "500", Path: "*/deployments", Method: "POST", Probability: 0.123456789},
		{Kind: "502"},
		{Kind: "503", Skip: 3},
		{Kind: "drop", Path: "*/secrets", Count: 1},
	}
	text := FormatRules(rules)
	got, err := ParseRules(text)
	if err != nil {
		t.Fatalf("ParseRules(%q): %v", text, err)
	}
	if !slices.Equal(got, rules) {
		t.Fatalf("round trip through %q changed the rules:\n got %+v\nwant %+v", text, got, rules)
	}
}

func TestParseRulesRejectsBadInputClearly(t *testing.T) {
	cases := []struct{ input, wantInError string }{
		{"418@/x", `unknown kind "418"`},
		{"latency@/x", "latency_ms > 0"},
		{"500:ms=5", "latency_ms only applies to kind latency"},
		{"500:retry_after=3", "retry_after only applies to kind 429"},
		{"429:p=1.5", "between 0 and 1"},
		{"429:p=-0.1", "between 0 and 1"},
		{"429:p=NaN", "between 0 and 1"},
		{"429:p=abc", `p="abc" is not a number`},
		{"429:count=-1", "count -1 must not be negative"},
		{"429:skip=x", `skip="x" is not a number`},
		{"429:colour=red", `unknown option "colour"`},
		{"429:count", "key=value"},
		{"429:count=1:count=2", `"count" given twice`},
		{"429@client/v4", "must start with '/' or '*'"},
		{"500:method=GET POST", "not an HTTP method"},
		{"500;drop;bogus", `fault rule 3 "bogus"`},
	}
	for _, c := range cases {
		rules, err := ParseRules(c.input)
		if err == nil {
			t.Errorf("ParseRules(%q) = %+v; want an error", c.input, rules)
			continue
		}
		if !strings.Contains(err.Error(), c.wantInError) {
			t.Errorf("ParseRules(%q) error %q; want it to mention %q", c.input, err, c.wantInError)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := Rule{Kind: "latency", Count: -1, Skip: -2}.Validate()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"latency_ms > 0", "count -1", "skip -2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := ValidateRules([]Rule{{Kind: "500"}, {Kind: "nope"}}); err == nil || !strings.Contains(err.Error(), "rule 2") {
		t.Errorf("ValidateRules error = %v; want it to name rule 2", err)
	}
	if err := ValidateRules([]Rule{{Kind: "500"}, {Kind: "drop", Path: "*/x"}}); err != nil {
		t.Errorf("ValidateRules of valid rules: %v", err)
	}
}
