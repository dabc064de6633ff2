package jsclients

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A missing client is an error that says how to install it, never a silent skip.
func TestMissingClientsSayHowToInstall(t *testing.T) {
	root := t.TempDir()
	if _, err := FindWrangler(context.Background(), root, Node22); err == nil || !strings.Contains(err.Error(), InstallHint) {
		t.Errorf("FindWrangler without clients: %v, want an error with %q", err, InstallHint)
	}
	if _, err := FindNode(context.Background(), root, ">=999"); err == nil || !strings.Contains(err.Error(), InstallHint) {
		t.Errorf("FindNode for an impossible version without clients: %v, want an error with %q", err, InstallHint)
	}
}

func TestFindPackageReadsVersionAndEngines(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(SetDir(root, Node20), "node_modules", "wrangler")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pj := `{"name":"wrangler","version":"4.86.0","engines":{"node":">=20.0.0"}}`
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(pj), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := FindPackage(root, Node20, "wrangler")
	if err != nil || p.Version != "4.86.0" || p.EnginesNode != ">=20.0.0" || p.Dir != dir {
		t.Fatalf("FindPackage = %+v, %v", p, err)
	}
}
