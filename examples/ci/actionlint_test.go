// Package ci holds the CI examples; its test lints them with actionlint.
package ci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// repoRoot is where action.yml lives.
const repoRoot = "../.."

func lint(t *testing.T, files ...string) {
	t.Helper()
	proj, err := actionlint.NewProject(repoRoot)
	if err != nil {
		t.Fatalf("actionlint project: %v", err)
	}
	var out strings.Builder
	l, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{Oneline: true})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.LintFiles(files, proj)
	if err != nil {
		t.Fatalf("actionlint: %v", err)
	}
	if len(errs) > 0 {
		t.Errorf("actionlint found %d problem(s):\n%s", len(errs), out.String())
	}
}

func TestExampleWorkflowPassesActionlint(t *testing.T) {
	lint(t, "github-actions.yml")
}

// TestCompositeActionPassesActionlint lints a workflow that uses the repository's action.yml
// as a local action, the way actionlint checks an action's metadata (inputs, outputs, runs),
// and then reads that metadata directly.
func TestCompositeActionPassesActionlint(t *testing.T) {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	workflow := filepath.Join(t.TempDir(), "uses-action.yml")
	content := `name: uses the flareform action
on: push
jobs:
  plan:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: plan
        uses: ./
        with:
          command: plan
          version: v0.1.0
          args: --env production
      - run: echo "plan exited ${{ steps.plan.outputs.exit-code }}, changed ${{ steps.plan.outputs.changed }}"
      - run: echo '${{ steps.plan.outputs.plan-json }}' > plan.json && echo "${{ steps.plan.outputs.urls }} ${{ steps.plan.outputs.skipped }}"
      - uses: ./
        with:
          command: apply
          version: v0.1.0
          no-such-input: x
`
	if err := os.WriteFile(workflow, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	proj, err := actionlint.NewProject(root)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	l, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{Oneline: true, WorkingDir: root})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.LintFile(workflow, proj)
	if err != nil {
		t.Fatalf("actionlint: %v", err)
	}
	// The one expected problem proves actionlint read action.yml's inputs.
	if len(errs) != 1 || !strings.Contains(errs[0].Message, "no-such-input") {
		t.Errorf("want exactly the unknown input reported, got %d problem(s):\n%s", len(errs), out.String())
	}
	meta, _, err := actionlint.NewLocalActionsCache(proj, nil).FindMetadata("./")
	if err != nil || meta == nil {
		t.Fatalf("action.yml metadata: %v", err)
	}
	if meta.Runs.Using != "composite" {
		t.Errorf("action.yml runs.using = %q, want composite", meta.Runs.Using)
	}
	for _, name := range []string{"exit-code", "changed", "plan-json", "urls"} {
		if meta.Outputs[name] == nil {
			t.Errorf("action.yml has no output %q", name)
		}
	}
}
