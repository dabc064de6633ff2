package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/internal/aimodels"
	"github.com/flareform/flareform/localcf"
)

// catalogProxy stands in front of srv's API and gives the models in dates the
// planned_deprecation_date dates[name] in every ai/models/search answer that lists them, whatever
// the local catalog says today. It returns the environment that points flareform at it.
func catalogProxy(t *testing.T, srv *localcf.Server, dates map[string]string) map[string]string {
	t.Helper()
	target, err := url.Parse(srv.APIBaseURL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	proxy.ModifyResponse = func(res *http.Response) error {
		if !strings.HasSuffix(res.Request.URL.Path, "/ai/models/search") || res.StatusCode != http.StatusOK {
			return nil
		}
		data, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		var env map[string]json.RawMessage
		var items []map[string]any
		if err := json.Unmarshal(data, &env); err != nil {
			return err
		}
		if err := json.Unmarshal(env["result"], &items); err != nil {
			return err
		}
		for _, item := range items {
			date, ok := dates[fmt.Sprint(item["name"])]
			if !ok {
				continue
			}
			props := []any{map[string]any{"property_id": "planned_deprecation_date", "value": date}}
			list, _ := item["properties"].([]any)
			for _, p := range list {
				if m, ok := p.(map[string]any); !ok || m["property_id"] != "planned_deprecation_date" {
					props = append(props, p)
				}
			}
			item["properties"] = props
		}
		if env["result"], err = json.Marshal(items); err != nil {
			return err
		}
		if data, err = json.Marshal(env); err != nil {
			return err
		}
		res.Body = io.NopCloser(bytes.NewReader(data))
		res.ContentLength = int64(len(data))
		res.Header.Set("Content-Length", strconv.Itoa(len(data)))
		return nil
	}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	return map[string]string{
		envAPIBaseURL:                front.URL + target.Path,
		envAPIToken:                  srv.Token(),
		envAccountID:                 srv.AccountID(),
		"FLAREFORM_WORKERS_DEV_ADDR": srv.WorkersDevAddr(),
	}
}

const (
	sdxlModel     = "@cf/stabilityai/stable-diffusion-xl-base-1.0"
	retiredLlama  = "@cf/meta/llama-3.1-8b-instruct"
	llamaFastName = "@cf/meta/llama-3.1-8b-instruct-fast"
)

// A model the catalog retired is refused by plan and apply at the spec's model line, with the
// date and the replacement, before anything is written; --json carries the position.
func TestRetiredModelRefusedByPlanAndApply(t *testing.T) {
	srv, _ := startStandalone(t)
	c := newCLI(t, catalogProxy(t, srv, map[string]string{retiredLlama: "2026-05-30"}))
	specPath := initProject(t, c, "images")
	editFile(t, specPath, `model: "`+sdxlModel+`"`, `model: "`+retiredLlama+`"`)
	line := lineOf(t, specPath, retiredLlama)
	want := fmt.Sprintf(":%d:14: workers.images: %s was retired on 2026-05-30; use %s (same inputs and outputs)", line, retiredLlama, llamaFastName)

	srv.ResetRequests()
	for _, cmd := range [][]string{{"plan"}, {"apply", "--auto-approve"}} {
		r := c.mustRun(exitError, append([]string{"-f", specPath}, cmd...)...)
		if !strings.Contains(r.stderr, want) {
			t.Errorf("%s: stderr lacks %q:\n%s", cmd[0], want, r.stderr)
		}
	}
	r := c.mustRun(exitError, "--json", "-f", specPath, "apply", "--auto-approve")
	var doc struct {
		Error struct {
			Message, Fix string
			Line, Col    int
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Error.Line != line || doc.Error.Col != 14 ||
		!strings.Contains(doc.Error.Message, "retired on 2026-05-30") || !strings.Contains(doc.Error.Fix, llamaFastName) {
		t.Errorf("apply --json: %s (%v)", r.stdout, err)
	}
	if n := countWrites(srv.Requests()); n != 0 {
		t.Errorf("plan and apply of a retired model made %d writes", n)
	}
}

// A date still ahead is a warning in the plan's text and in its JSON (valid against
// plan.schema.json); the plan does not fail.
func TestModelRetiringLaterWarnsInPlan(t *testing.T) {
	srv, _ := startStandalone(t)
	date := time.Now().UTC().AddDate(0, 3, 0).Format(time.DateOnly)
	c := newCLI(t, catalogProxy(t, srv, map[string]string{sdxlModel: date}))
	specPath := initProject(t, c, "images")
	line := lineOf(t, specPath, sdxlModel)

	r := c.mustRun(exitChanges, "-f", specPath, "plan", "--detailed-exitcode")
	want := fmt.Sprintf("Warning: %s:%d:14: workers.images: %s will be retired on %s", specPath, line, sdxlModel, date)
	if !strings.Contains(r.stdout, want) {
		t.Errorf("plan text lacks %q:\n%s", want, r.stdout)
	}
	r = c.mustRun(exitOK, "--json", "-f", specPath, "plan")
	doc := assertJSONShape(t, jsonSchemas(t), "plan", r, "plan --json with a warning")
	warnings, _ := doc["warnings"].([]any)
	if len(warnings) != 1 {
		t.Fatalf("plan --json warnings: %v", doc["warnings"])
	}
	w, _ := warnings[0].(map[string]any)
	if w["model"] != sdxlModel || w["date"] != date || w["line"] != float64(line) || w["worker"] != "images" {
		t.Errorf("warning %v", w)
	}
}

// Offline, validate refuses a model flareform's snapshot lists as retired, saying it is a
// snapshot, with the date and the replacement; a model the snapshot does not know passes (only
// plan can ask the catalog).
func TestValidateRefusesRetiredModelFromTheSnapshot(t *testing.T) {
	c := newCLI(t, map[string]string{})
	specPath := initProject(t, c, "images")
	editFile(t, specPath, `model: "`+sdxlModel+`"`, `model: "`+retiredLlama+`"`)
	r := c.mustRun(exitError, "-f", specPath, "validate")
	line := lineOf(t, specPath, retiredLlama)
	for _, want := range []string{fmt.Sprintf(":%d:14: workers.images: %s was retired on 2026-05-30", line, retiredLlama),
		"snapshot", aimodels.SnapshotDate, "use " + llamaFastName + " (same inputs and outputs)"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("validate stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	editFile(t, specPath, retiredLlama, "@cf/nobody/no-such-model")
	c.mustRun(exitOK, "-f", specPath, "validate")
}
