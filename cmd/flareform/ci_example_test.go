package main

// TestCIExampleDeploysFromAFreshRunner runs what examples/ci/github-actions.yml runs on a push
// to main: its apply job's step uses flareform's action (action.yml), whose bash steps (check
// the inputs, plan once, show, apply the saved plan, store the new keys as secrets) run here
// for real, with `flareform` on PATH (this test binary), a fake `gh` that records the secrets
// it is asked to store, and the local Cloudflare as the account. Only the install steps (cache,
// setup-go, go install) are left out: the binary under test stands in for them.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// ghStep is a step of a workflow job or of a composite action.
type ghStep struct {
	ID               string            `yaml:"id"`
	Name             string            `yaml:"name"`
	If               string            `yaml:"if"`
	Uses             string            `yaml:"uses"`
	Run              string            `yaml:"run"`
	Shell            string            `yaml:"shell"`
	WorkingDirectory string            `yaml:"working-directory"`
	Env              map[string]string `yaml:"env"`
	With             map[string]string `yaml:"with"`
}

type ghAction struct {
	Inputs map[string]struct {
		Default  string `yaml:"default"`
		Required bool   `yaml:"required"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string   `yaml:"using"`
		Steps []ghStep `yaml:"steps"`
	} `yaml:"runs"`
}

type ghWorkflow struct {
	Env  map[string]string `yaml:"env"`
	Jobs map[string]struct {
		If    string            `yaml:"if"`
		Env   map[string]string `yaml:"env"`
		Steps []ghStep          `yaml:"steps"`
	} `yaml:"jobs"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// ghExpr is a ${{ ... }} expression. The runner below knows the few forms the example and the
// action use in env, with and working-directory, and fails the test on any other.
var ghExpr = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

// ghRunner plays GitHub's runner for the example's apply step, on a fresh runner.
type ghRunner struct {
	t         *testing.T
	workspace string // the checkout: the project
	temp      string // RUNNER_TEMP
	summary   string // GITHUB_STEP_SUMMARY
	baseEnv   map[string]string
	secrets   map[string]string
	github    map[string]string
	stepOut   map[string]map[string]string // steps.<id>.outputs
	log       strings.Builder              // everything the steps printed
}

func (r *ghRunner) eval(s string, inputs map[string]string, env map[string]string) string {
	return ghExpr.ReplaceAllStringFunc(s, func(m string) string {
		e := ghExpr.FindStringSubmatch(m)[1]
		head, rest, _ := strings.Cut(e, ".")
		lookup := func(vars map[string]string, name string) string {
			v, ok := vars[name]
			if !ok && head != "secrets" && head != "env" {
				r.t.Fatalf("the runner does not know ${{ %s }}", e)
			}
			return v // a secret or variable nobody set is "", as on GitHub
		}
		switch head {
		case "inputs":
			return lookup(inputs, rest)
		case "secrets":
			return lookup(r.secrets, rest)
		case "env":
			return lookup(env, rest)
		case "github":
			return lookup(r.github, rest)
		case "runner":
			return lookup(map[string]string{"temp": r.temp, "os": "Linux", "arch": "X64"}, rest)
		case "steps":
			id, output, ok := strings.Cut(rest, ".outputs.")
			if !ok {
				r.t.Fatalf("the runner does not know ${{ %s }}", e)
			}
			return r.stepOut[id][output]
		}
		r.t.Fatalf("the runner does not know ${{ %s }}", e)
		return ""
	})
}

// runAction runs the action's steps with the given ids, in the action's order, as `uses:` step
// st of the workflow (its with: and env:) does, and returns the action's outputs and whether
// every step succeeded. A step that fails ends the run, except for steps that run always().
func (r *ghRunner) runAction(act ghAction, wf ghWorkflow, st ghStep, ids ...string) (outputs map[string]string, ok bool) {
	t := r.t
	wfEnv := map[string]string{}
	for k, v := range wf.Env {
		wfEnv[k] = r.eval(v, nil, wfEnv)
	}
	inputs := map[string]string{}
	for name, in := range act.Inputs {
		v, given := st.With[name]
		switch {
		case given:
			inputs[name] = r.eval(v, nil, wfEnv)
		case in.Required:
			t.Fatalf("the example's step does not give the action's required input %q", name)
		default:
			inputs[name] = r.eval(in.Default, nil, wfEnv)
		}
	}
	for name := range st.With {
		if _, known := act.Inputs[name]; !known {
			t.Fatalf("the example gives the action an input it does not have: %q", name)
		}
	}
	stepEnv := map[string]string{}
	for k, v := range st.Env {
		stepEnv[k] = r.eval(v, inputs, wfEnv)
	}
	ok = true
	ran := 0
	for _, s := range act.Runs.Steps {
		if !slices.Contains(ids, s.ID) {
			continue
		}
		ran++
		if !ok && !strings.Contains(s.If, "always()") {
			continue
		}
		env := map[string]string{}
		for _, vars := range []map[string]string{r.baseEnv, wfEnv, stepEnv} {
			for k, v := range vars {
				env[k] = v
			}
		}
		for k, v := range s.Env {
			env[k] = r.eval(v, inputs, wfEnv)
		}
		dir := filepath.Join(r.workspace, r.eval(s.WorkingDirectory, inputs, wfEnv))
		if !r.runStep(s, dir, env) {
			ok = false
		}
	}
	if ran != len(ids) {
		t.Fatalf("action.yml lacks some of the steps %q", ids)
	}
	outputs = map[string]string{}
	for name, o := range act.Outputs {
		outputs[name] = r.eval(o.Value, inputs, wfEnv)
	}
	return outputs, ok
}

// runStep runs one bash step as GitHub does (bash --noprofile --norc -eo pipefail) and records
// its outputs.
func (r *ghRunner) runStep(s ghStep, dir string, env map[string]string) bool {
	t := r.t
	if s.Shell != "bash" || s.Run == "" {
		t.Fatalf("step %q is not a bash step", s.ID)
	}
	if strings.Contains(s.Run, "${{") {
		t.Fatalf("step %q pastes an expression into its script; inputs go through env", s.ID)
	}
	script := filepath.Join(t.TempDir(), s.ID+".sh")
	outFile := filepath.Join(t.TempDir(), "output")
	for _, f := range []string{script, outFile} {
		content := ""
		if f == script {
			content = s.Run
		}
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), "bash", "--noprofile", "--norc", "-eo", "pipefail", script)
	cmd.Dir = dir
	env["GITHUB_OUTPUT"] = outFile
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	fmt.Fprintf(&r.log, "== step %s (%s)\n%s", s.ID, s.Name, out)
	r.stepOut[s.ID] = parseGitHubOutput(t, outFile)
	if err != nil {
		t.Logf("step %s failed: %v\n%s", s.ID, err, out)
		return false
	}
	return true
}

// parseGitHubOutput reads a GITHUB_OUTPUT file: name=value lines and name<<DELIMITER blocks.
func parseGitHubOutput(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var value []string
			for sc.Scan() && sc.Text() != delim {
				value = append(value, sc.Text())
			}
			out[name] = strings.Join(value, "\n")
			continue
		}
		if name, value, ok := strings.Cut(line, "="); ok {
			out[name] = value
		}
	}
	return out
}

func TestCIExampleDeploysFromAFreshRunner(t *testing.T) {
	t.Parallel()
	srv, cfEnv := startStandalone(t)
	var act ghAction
	var wf ghWorkflow
	readYAML(t, "../../action.yml", &act)
	readYAML(t, "../../examples/ci/github-actions.yml", &wf)

	// The example's apply job: a push to main, one step using the action with command: apply.
	job, ok := wf.Jobs["apply"]
	if !ok || !strings.Contains(job.If, "github.event_name == 'push'") {
		t.Fatalf("the example has no apply job that runs on push")
	}
	var step ghStep
	for _, s := range job.Steps {
		if strings.HasPrefix(s.Uses, "flareform/flareform@") && s.With["command"] == "apply" {
			step = s
		}
	}
	if step.Uses == "" {
		t.Fatal("the example's apply job has no step that uses flareform/flareform with command: apply")
	}
	// Pinned: a version, the same for the action and the binary, never latest.
	version := wf.Env["FLAREFORM_VERSION"]
	if version == "" || version == "latest" || step.With["version"] != "${{ env.FLAREFORM_VERSION }}" ||
		strings.TrimPrefix(step.Uses, "flareform/flareform@") != version {
		t.Errorf("the example does not pin one version: FLAREFORM_VERSION %q, uses %q, version %q", version, step.Uses, step.With["version"])
	}
	// Every key variable the step sets is the secret of the same name: the one the action stores.
	for name, value := range step.Env {
		if strings.HasPrefix(name, "FLAREFORM_API_KEY_") && value != "${{ secrets."+name+" }}" {
			t.Errorf("the apply step sets %s to %s, not to the secret the action stores under that name", name, value)
		}
	}

	// The runner's tools: flareform (this binary), a fake gh, node and the system's.
	tools := t.TempDir()
	self, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	secretsFile, commentFile := filepath.Join(t.TempDir(), "secrets"), filepath.Join(t.TempDir(), "comment")
	for name, content := range map[string]string{
		"flareform": fmt.Sprintf("#!/bin/sh\n%s=1 exec '%s' \"$@\"\n", runAsCLI, self),
		"gh": `#!/bin/sh
# gh secret set NAME: stores stdin (a repository secret) where the test reads it.
if [ "$1" = secret ] && [ "$2" = set ] && [ -n "$3" ] && [ -n "$GH_TOKEN" ] && [ -n "$GH_REPO" ]; then
  printf '%s\t%s\n' "$3" "$(cat)" >> "$FAKE_GH_SECRETS"
  exit 0
fi
# gh api: the pull request's comments (none yet), and a new comment, whose body it keeps.
if [ "$1" = api ] && [ -n "$GH_TOKEN" ]; then
  case " $* " in
  *" -X POST "*)
    for a in "$@"; do case "$a" in body=@*) cat "${a#body=@}" > "$FAKE_GH_COMMENT" ;; esac; done
    echo '{}'
    ;;
  esac
  exit 0
fi
echo "fake gh: unexpected call: $*" >&2
exit 1
`,
	} {
		if err := os.WriteFile(filepath.Join(tools, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("the action needs node (GitHub's runners have it; so does make test): ", err)
	}

	secrets := map[string]string{
		"CLOUDFLARE_API_TOKEN":    cfEnv[envAPIToken],
		"CLOUDFLARE_ACCOUNT_ID":   cfEnv[envAccountID],
		"FLAREFORM_SECRETS_TOKEN": "token-that-may-write-secrets",
	}
	newRunner := func(workspace string) *ghRunner {
		temp := t.TempDir()
		return &ghRunner{t: t, workspace: workspace, temp: temp, summary: filepath.Join(temp, "summary.md"),
			secrets: secrets, stepOut: map[string]map[string]string{},
			github: map[string]string{"event_name": "push", "ref": "refs/heads/main", "repository": "example/deploys",
				"token": "github-token", "event.pull_request.head.repo.full_name": "", "event.pull_request.number": ""},
			baseEnv: map[string]string{
				"PATH": tools + string(os.PathListSeparator) + filepath.Dir(node) + string(os.PathListSeparator) + os.Getenv("PATH"),
				"HOME": t.TempDir(), "XDG_CACHE_HOME": t.TempDir(), "TMPDIR": os.TempDir(),
				"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": workspace,
				"RUNNER_TEMP": temp, "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64", "RUNNER_TOOL_CACHE": filepath.Join(temp, "tools"),
				"GITHUB_STEP_SUMMARY": filepath.Join(temp, "summary.md"),
				"FAKE_GH_SECRETS":     secretsFile,
				"FAKE_GH_COMMENT":     commentFile,
				// The one thing GitHub's runner does not have: the account is the local Cloudflare.
				envAPIBaseURL: cfEnv[envAPIBaseURL],
			}}
	}
	apply := func(r *ghRunner, extraEnv map[string]string) (map[string]string, bool) {
		st := step
		st.Env = map[string]string{}
		for k, v := range step.Env {
			st.Env[k] = v
		}
		for k, v := range extraEnv {
			st.Env[k] = v
		}
		start := time.Now()
		outputs, ok := r.runAction(act, wf, st, "check", "run", "keys")
		t.Logf("the apply step took %s", time.Since(start).Round(time.Millisecond))
		return outputs, ok
	}

	// First deploy: a fresh checkout of a two-worker project; apply generates both keys and the
	// action stores them as the secrets FLAREFORM_API_KEY_<WORKER>.
	first := newRunner(filepath.Join(t.TempDir(), "checkout"))
	writeTwoWorkerProject(t, first.workspace, "1000")
	outputs, ok := apply(first, nil)
	if !ok || outputs["exit-code"] != "0" || outputs["changed"] != "true" {
		t.Fatalf("first deploy: ok %v, outputs %v\n%s", ok, outputs, first.log.String())
	}
	var urls []string
	if err := json.Unmarshal([]byte(outputs["urls"]), &urls); err != nil || len(urls) != 2 ||
		!strings.Contains(urls[0], "image-api.") || !strings.Contains(urls[1], "image-api-hd.") {
		t.Errorf("urls output %q, want the two workers' URLs as a JSON array", outputs["urls"])
	}
	assertJSONShape(t, jsonSchemas(t), "plan", result{stdout: outputs["plan-json"]}, "the plan-json output")
	stored := readFakeSecrets(t, secretsFile)
	if len(stored) != 2 || stored["FLAREFORM_API_KEY_IMAGE_API"] == "" || stored["FLAREFORM_API_KEY_IMAGE_API_HD"] == "" {
		t.Fatalf("the action stored the secrets %q, want FLAREFORM_API_KEY_IMAGE_API and FLAREFORM_API_KEY_IMAGE_API_HD", slices.Sorted(maps.Keys(stored)))
	}
	for name, key := range stored {
		secrets[name] = key
		worker := map[string]string{"FLAREFORM_API_KEY_IMAGE_API": "image-api", "FLAREFORM_API_KEY_IMAGE_API_HD": "image-api-hd"}[name]
		if got := postWith(t, srv, worker, key); got != http.StatusOK {
			t.Errorf("the key stored as %s gets %d from %s, want 200", name, got, worker)
		}
	}
	// A worker the example's step does not list yet: the action says which line to add.
	var missing []string
	for name := range stored {
		if _, listed := step.Env[name]; !listed {
			missing = append(missing, name)
			if line := name + ": ${{ secrets." + name + " }}"; !strings.Contains(first.log.String(), line) {
				t.Errorf("the action does not tell to pass %s back with %q:\n%s", name, line, first.log.String())
			}
		}
	}
	if len(missing) == len(stored) {
		t.Errorf("the example's apply step passes none of the stored keys back (env: %v)", step.Env)
	}
	addLines := map[string]string{}
	for _, name := range missing {
		addLines[name] = "${{ secrets." + name + " }}"
	}

	// Second deploy, of a change, from another fresh checkout: no key store, the keys only in
	// the secrets the step passes as FLAREFORM_API_KEY_<WORKER>.
	second := newRunner(filepath.Join(t.TempDir(), "checkout"))
	writeTwoWorkerProject(t, second.workspace, "800")
	if _, err := os.Stat(filepath.Join(second.workspace, ".flareform")); !os.IsNotExist(err) {
		t.Fatalf("the second checkout has a .flareform directory: %v", err)
	}
	outputs, ok = apply(second, addLines)
	log := second.log.String()
	if !ok || outputs["exit-code"] != "0" || outputs["changed"] != "true" {
		t.Fatalf("second deploy: ok %v, outputs %v\n%s", ok, outputs, log)
	}
	for _, name := range []string{"image-api", "image-api-hd"} {
		if !strings.Contains(log, "smoke "+name+": passed") {
			t.Errorf("the second deploy did not smoke-test %s:\n%s", name, log)
		}
	}
	if strings.Count(log, "authorized") < 2 || strings.Contains(log, "skipped") || !strings.Contains(log, "Apply complete!") {
		t.Errorf("the second deploy's smoke tests did not all run with the keys:\n%s", log)
	}
	if !strings.Contains(log, "No new keys.") || len(readFakeSecrets(t, secretsFile)) != 2 {
		t.Errorf("the second deploy made or stored new keys:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(first.temp, "flareform", "new.keys")); !os.IsNotExist(err) {
		t.Errorf("the keys file is left in the runner's temp directory: %v", err)
	}

	// A pull request of this repository: the plan job's step plans, shows the plan in the job
	// summary and comments it on the pull request; nothing is applied.
	var planStep ghStep
	for _, s := range wf.Jobs["plan"].Steps {
		if strings.HasPrefix(s.Uses, "flareform/flareform@") && s.With["command"] == "plan" {
			planStep = s
		}
	}
	if planStep.Uses == "" || !strings.Contains(wf.Jobs["plan"].If, "pull_request") {
		t.Fatal("the example has no plan job for pull requests with a step that uses flareform/flareform with command: plan")
	}
	pr := newRunner(filepath.Join(t.TempDir(), "checkout"))
	pr.github["event_name"], pr.github["event.pull_request.number"] = "pull_request", "7"
	pr.github["event.pull_request.head.repo.full_name"] = pr.github["repository"]
	writeTwoWorkerProject(t, pr.workspace, "600")
	before := len(srv.Requests())
	outputs, ok = pr.runAction(act, wf, planStep, "check", "run", "keys", "comment")
	if !ok || outputs["exit-code"] != "2" || outputs["changed"] != "true" || outputs["skipped"] != "false" {
		t.Errorf("plan on a pull request: ok %v, outputs %v\n%s", ok, outputs, pr.log.String())
	}
	if n := countWrites(srv.Requests()[before:]); n != 0 {
		t.Errorf("the plan job made %d writes", n)
	}
	comment, _ := os.ReadFile(commentFile)
	if lacks(string(comment), "<!-- flareform-plan ", "<pre>", `~ worker "image-api" (update)`, `"800" -&gt; "600"`, "Plan: 0 to create, 2 to update") != "" {
		t.Errorf("the pull request comment lacks the plan:\n%s", comment)
	}

	// A pull request from a fork: no secrets; the action says why it does nothing, and every
	// step after the check depends on it.
	fork := newRunner(filepath.Join(t.TempDir(), "checkout"))
	fork.secrets = map[string]string{}
	fork.github["event_name"], fork.github["event.pull_request.number"] = "pull_request", "8"
	fork.github["event.pull_request.head.repo.full_name"] = "someone/deploys"
	writeTwoWorkerProject(t, fork.workspace, "500")
	outputs, ok = fork.runAction(act, wf, planStep, "check")
	if !ok || outputs["skipped"] != "true" || !strings.Contains(fork.log.String(), "::notice title=flareform skipped::") {
		t.Errorf("a fork's pull request: ok %v, outputs %v\n%s", ok, outputs, fork.log.String())
	}
	for _, s := range act.Runs.Steps[1:] {
		if !strings.Contains(s.If, "steps.check.outputs.skip != 'true'") {
			t.Errorf("action step %q runs on a fork's pull request too (if: %q)", s.Name, s.If)
		}
	}

	// No key in the log (the runner swallows its ::add-mask:: commands), the summary or the
	// outputs.
	for _, r := range []*ghRunner{first, second, pr} {
		summary, _ := os.ReadFile(r.summary)
		if !strings.Contains(string(summary), "flareform plan") {
			t.Errorf("the job summary lacks the plan:\n%s", summary)
		}
		outs, _ := json.Marshal(r.stepOut)
		var shown []string
		for _, line := range strings.Split(r.log.String(), "\n") {
			if !strings.HasPrefix(line, "::add-mask::") {
				shown = append(shown, line)
			}
		}
		for name, key := range stored {
			for what, text := range map[string]string{"log": strings.Join(shown, "\n"), "job summary": string(summary), "outputs": string(outs)} {
				if strings.Contains(text, key) {
					t.Errorf("the key of secret %s appears in the %s", name, what)
				}
			}
		}
	}
}

func readFakeSecrets(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[string]string{}
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if name, value, ok := strings.Cut(line, "\t"); ok {
			out[name] = value
		}
	}
	return out
}
