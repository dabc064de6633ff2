package main

import (
	"strings"
	"testing"
)

func TestFaultsFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	rules, seed, err := faultsFromEnv(env(nil))
	if err != nil || len(rules) != 0 || seed != 1 {
		t.Fatalf("unset: rules=%v seed=%d err=%v; want none, 1, nil", rules, seed, err)
	}
	rules, seed, err = faultsFromEnv(env(map[string]string{
		envLocalFaults:    "429@*/workers/scripts/*:retry_after=2;latency@*:ms=50",
		envLocalFaultSeed: "7",
	}))
	if err != nil || seed != 7 || len(rules) != 2 || rules[0].Kind != "429" || rules[0].RetryAfter != 2 || rules[1].LatencyMS != 50 {
		t.Fatalf("set: rules=%+v seed=%d err=%v", rules, seed, err)
	}
	if _, _, err := faultsFromEnv(env(map[string]string{envLocalFaults: "teapot@*"})); err == nil || !strings.Contains(err.Error(), envLocalFaults) {
		t.Fatalf("bad rules: err=%v, want one naming %s", err, envLocalFaults)
	}
	if _, _, err := faultsFromEnv(env(map[string]string{envLocalFaultSeed: "seven"})); err == nil || !strings.Contains(err.Error(), envLocalFaultSeed) {
		t.Fatalf("bad seed: err=%v, want one naming %s", err, envLocalFaultSeed)
	}
}

func TestQuirksFromEnv(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == envLocalQuirks {
				return v
			}
			return ""
		}
	}
	q, err := quirksFromEnv(env(""), nil)
	if err != nil || len(q.Names()) != 0 {
		t.Fatalf("unset: %v %v, want all strict", q.Names(), err)
	}
	q, err = quirksFromEnv(env("deployment_id,no_tag_limit"), []string{"script_tags_replace"})
	if err != nil || !q.DeploymentID || !q.NoTagLimit || !q.ScriptTagsReplace || len(q.Names()) != 3 {
		t.Fatalf("env + flag: %v %v", q.Names(), err)
	}
	if _, err := quirksFromEnv(env("nope"), nil); err == nil || !strings.Contains(err.Error(), envLocalQuirks) {
		t.Errorf("bad env: %v, want an error naming %s", err, envLocalQuirks)
	}
	if _, err := quirksFromEnv(env(""), []string{"nope"}); err == nil || !strings.Contains(err.Error(), "--quirk") {
		t.Errorf("bad flag: %v, want an error naming --quirk", err)
	}
}
