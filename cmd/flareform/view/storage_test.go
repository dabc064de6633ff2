package view

import (
	"bytes"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision"
)

// A plan that deletes storage with its data (--delete-data) says so in a line of its own, red
// as a whole on a terminal; a plan refusing it says so in a plain note.
func TestPlanShowsDeletedDataInRed(t *testing.T) {
	p := &provision.Plan{Resources: []provision.ResourcePlan{
		{Kind: "r2_bucket", Name: "imgs", Action: provision.ActionDelete, Destructive: true, HoldsData: true, DeleteData: true,
			Changes: []provision.Change{{Path: "r2_bucket", Op: provision.OpRemove, Old: "imgs"}},
			Note:    "holds 2 objects: --delete-data deletes its objects one by one, then the bucket"},
		{Kind: "kv_namespace", Name: "cache", Action: provision.ActionDelete, Destructive: true, HoldsData: true,
			Note: "holds 1 key: apply refuses to delete it; --delete-data deletes it with its data, --keep-data leaves it as it is (no longer managed)"},
	}}
	var plain, colored bytes.Buffer
	Plan(&plain, p, false)
	Plan(&colored, p, true)
	if !strings.Contains(plain.String(), "    ! holds 2 objects: --delete-data deletes") || !strings.Contains(plain.String(), "    # holds 1 key: apply refuses") {
		t.Errorf("plain plan:\n%s", plain.String())
	}
	red := "    " + ansiRed + "! holds 2 objects: --delete-data deletes its objects one by one, then the bucket" + ansiReset + "\n"
	if !strings.Contains(colored.String(), red) {
		t.Errorf("coloured plan lacks the red line %q:\n%q", red, colored.String())
	}
	if strings.Contains(colored.String(), ansiRed+"# holds 1 key") {
		t.Errorf("the refusal note is red:\n%q", colored.String())
	}
}
