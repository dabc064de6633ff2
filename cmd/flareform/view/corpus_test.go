package view

import (
	"time"

	"github.com/flareform/flareform/provision"
)

// The inputs of the golden tests (golden_test.go): plans, results and reports built from
// provision's exported types, covering every branch of the renderers.

func corpusPlans() []namedPlan {
	full := &provision.Plan{
		AccountID:         "acc",
		RegisterSubdomain: "my-team",
		Warnings: []provision.Warning{
			{Worker: "chat", Model: "@cf/x", Date: "2027-03-01", Message: "workers.chat: @cf/x will be retired on 2027-03-01", Fix: "use @cf/y", File: "flareform.yaml", Line: 7, Col: 14},
			{Message: "a warning without a position"},
		},
		Resources: []provision.ResourcePlan{
			{Kind: "ai_gateway", Name: "gw", Action: provision.ActionCreate, Changes: []provision.Change{{Path: "cache_ttl", Op: provision.OpAdd, New: "60"}}},
			{Kind: "vectorize_index", Name: "docs", Action: provision.ActionReplace, Destructive: true,
				Changes: []provision.Change{{Path: "dimensions", Op: provision.OpChange, Old: "768", New: "384"}},
				Note:    "dimensions and metric cannot change in place: the index is deleted and created again, and its vectors are lost"},
			{Kind: "ai_gateway", Name: "shared-gw", Action: provision.ActionNoOp, Note: "exists and was not created by flareform: used as it is, never changed or deleted"},
			{Kind: "vectorize_index", Name: "old-docs", Action: provision.ActionDelete, Destructive: true,
				Changes: []provision.Change{{Path: "dimensions", Op: provision.OpRemove, Old: "768"}}},
			{Kind: "ai_gateway", Name: "gw2", Action: provision.ActionUpdate, Changes: []provision.Change{{Path: "collect_logs", Op: provision.OpChange, Old: "false", New: "true"}}},
		},
		Workers: []provision.WorkerPlan{
			{Key: "img", Name: "image-api", Action: provision.ActionCreate, URL: "https://image-api.acme.workers.dev", Changes: []provision.Change{
				{Path: "main", Op: provision.OpAdd, New: "src/index.ts"},
				{Path: "secrets.API_KEY", Op: provision.OpAdd, New: "(sensitive, new, generated on apply)"},
				{Path: "rate_limit", Op: provision.OpAdd, New: "3 per 60s (namespace 1234)"},
			}},
			{Key: "txt", Name: "txt", Action: provision.ActionUpdate, URL: "https://txt.acme.workers.dev", Changes: []provision.Change{
				{Path: "vars.MAX_PROMPT_CHARS", Op: provision.OpChange, Old: "50", New: "1000"},
				{Path: "vars.QUOTED", Op: provision.OpChange, Old: `say "hi"`, New: "line\nbreak\tand ü"},
				{Path: "vars.GONE", Op: provision.OpRemove, Old: "1"},
				{Path: "secrets.API_KEY", Op: provision.OpChange, Old: "(sensitive)", New: "(sensitive, changed; rotating: the old key keeps working for 24h after apply)"},
				{Path: "vars.EMPTY", Op: provision.OpChange, Old: "", New: "x"},
			}},
			{Key: "same", Name: "same", Action: provision.ActionNoOp, URL: "https://same.acme.workers.dev"},
			{Key: "old", Name: "old", Action: provision.ActionDelete},
		},
		Skipped: []string{"chat", "embed"},
	}
	noChanges := &provision.Plan{
		Workers:   []provision.WorkerPlan{{Key: "a", Name: "a", Action: provision.ActionNoOp, URL: "https://a.acme.workers.dev"}},
		Resources: []provision.ResourcePlan{{Kind: "ai_gateway", Name: "shared-gw", Action: provision.ActionNoOp, Note: "exists and was not created by flareform: used as it is, never changed or deleted"}},
		Skipped:   []string{"b"},
		Warnings:  []provision.Warning{{Message: "m", Fix: "f", File: "flareform.yaml", Line: 3, Col: 1}},
	}
	destroy := &provision.Plan{
		Destroy: true,
		Workers: []provision.WorkerPlan{{Key: "a", Name: "a", Action: provision.ActionDelete}, {Key: "b", Name: "b-script", Action: provision.ActionDelete}},
		Resources: []provision.ResourcePlan{
			{Kind: "ai_gateway", Name: "gw", Action: provision.ActionDelete},
			{Kind: "vectorize_index", Name: "docs", Action: provision.ActionDelete, Destructive: true, Note: "its vectors are lost"},
		},
	}
	subdomainOnly := &provision.Plan{RegisterSubdomain: "team", Workers: []provision.WorkerPlan{{Key: "a", Name: "a", Action: provision.ActionNoOp}}}
	return []namedPlan{
		{"plan_full", full},
		{"plan_no_changes", noChanges},
		{"plan_empty", &provision.Plan{}},
		{"plan_destroy", destroy},
		{"plan_subdomain_only", subdomainOnly},
		{"plan_create_only", &provision.Plan{Workers: []provision.WorkerPlan{{Key: "a", Name: "a", Action: provision.ActionCreate}}}},
	}
}

type namedPlan struct {
	name string
	plan *provision.Plan
}

func corpusSmoke() []provision.SmokeReport {
	return []provision.SmokeReport{
		{Key: "img", Name: "image-api", URL: "https://image-api.acme.workers.dev", Passed: true, OutputPath: "out/image-api.png", Checks: []provision.SmokeCheck{
			{Name: "authorized", Passed: true, Status: 200, ContentType: "image/png", Detail: "1234 bytes"},
			{Name: "unauthorized", Passed: true, Status: 401},
			{Name: "method", Skipped: "no key"},
		}},
		{Key: "txt", Name: "txt", Passed: false, Error: "authorized: status 500", Checks: []provision.SmokeCheck{
			{Name: "authorized", Passed: false, Status: 500, Detail: "boom"},
			{Name: "x"},
		}},
	}
}

func corpusResults() []namedResult {
	smoke := corpusSmoke()
	interrupted := provision.ErrInterrupted.Error()
	ok := &provision.Result{
		Resources: []provision.ResourceResult{{Kind: "ai_gateway", Name: "gw", Action: provision.ActionCreate}, {Kind: "vectorize_index", Name: "docs", Action: provision.ActionReplace}},
		Workers: []provision.WorkerResult{
			{Key: "img", Name: "image-api", Action: provision.ActionCreate, URL: "https://image-api.acme.workers.dev", VersionID: "v1", KeyFingerprint: "fp1", GeneratedKey: "secret-key-1", Smoke: &smoke[0]},
			{Key: "txt", Name: "txt", Action: provision.ActionUpdate, VersionID: "v2"},
			{Key: "old", Name: "old", Action: provision.ActionDelete},
			{Key: "same", Name: "same", Action: provision.ActionNoOp, URL: "https://same.acme.workers.dev"},
		},
	}
	failed := &provision.Result{
		Workers: []provision.WorkerResult{
			{Key: "img", Name: "image-api", Action: provision.ActionUpdate, URL: "https://image-api.acme.workers.dev", VersionID: "v3", Smoke: &smoke[1], RolledBack: true, Error: "smoke test failed"},
			{Key: "txt", Name: "txt", Action: provision.ActionCreate, KeyFingerprint: "fp2", GeneratedKey: "secret-key-2"},
		},
	}
	stopped := &provision.Result{
		Resources: []provision.ResourceResult{{Kind: "ai_gateway", Name: "gw", Action: provision.ActionCreate, Error: interrupted}},
		Workers: []provision.WorkerResult{
			{Key: "a", Name: "a", Action: provision.ActionCreate, Error: "not started: ai_gateway gw was not set up"},
			{Key: "b", Name: "b", Action: provision.ActionUpdate, Error: interrupted},
			{Key: "c", Name: "c", Action: provision.ActionUpdate, Error: "upload: 500"},
			{Key: "d", Name: "d", Action: provision.ActionDelete},
		},
	}
	return []namedResult{{"ok", ok}, {"failed", failed}, {"stopped", stopped}, {"empty", &provision.Result{}}}
}

type namedResult struct {
	name string
	res  *provision.Result
}

func corpusRotations() []namedRotation {
	return []namedRotation{
		{"rotating", &provision.RotateResult{Name: "image-api", Mode: provision.RotateStart, Action: "rotated", Phase: provision.PhaseRotating,
			KeyFingerprint: "fpnew", PreviousFingerprint: "fpold", PreviousExpires: "2999-01-02T03:04:05Z", Checks: []provision.KeyCheck{
				{Name: "new key accepted", Passed: true, Status: 200}, {Name: "old key accepted", Passed: true}, {Name: "x", Skipped: "why"}, {Name: "y", Detail: "bad"}}}},
		{"rotating_expired_noaction", &provision.RotateResult{Name: "image-api", Mode: provision.RotateFinish, Phase: provision.PhaseRotating, PreviousExpires: "2000-01-02T03:04:05Z"}},
		{"finished_dropped", &provision.RotateResult{Name: "txt", Mode: provision.RotateStart, Action: "revoked", Phase: provision.PhaseStable,
			KeyFingerprint: "fpk", DroppedPrevious: "fpd", DroppedPreviousExpires: "2999-01-01T00:00:00Z"}},
	}
}

type namedRotation struct {
	name string
	res  *provision.RotateResult
}

func corpusEstimates() []provision.ApplyEstimate {
	return []provision.ApplyEstimate{
		{Calls: 10, Limit: 1200, Window: 5 * time.Minute, Available: 1200},
		{Calls: 3000, Limit: 1200, Window: 5 * time.Minute, Available: 100, Wait: 7*time.Minute + 10*time.Second},
		{Calls: 1300, Limit: 1200, Window: time.Minute, Available: 1, Wait: 42400 * time.Millisecond},
		{Calls: 1300, Limit: 60, Window: time.Second, Available: 0, Wait: time.Second},
		{Calls: 1300, Limit: 60, Window: 90 * time.Second, Available: 0, Wait: time.Minute},
	}
}

func corpusOutputs() []provision.Output {
	return []provision.Output{
		{Key: "img", Name: "image-api", URL: "https://image-api.acme.workers.dev", VersionID: "v1", Exists: true, WorkersDev: true},
		{Key: "t", Name: "t", Exists: false},
	}
}
