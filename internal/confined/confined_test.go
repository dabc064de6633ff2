package confined

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var small = Kind{Name: "test file", Limit: 64, Fix: "use a small file"}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReadFileReadsASmallRegularFile(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.txt"), "hello")
	if err := os.Symlink("a.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	tree := &Tree{Root: realDir(t, dir)}
	for _, p := range []string{"a.txt", "link"} {
		got, err := ReadFile(filepath.Join(dir, p), small, tree)
		if err != nil || string(got) != "hello" {
			t.Errorf("ReadFile(%s) = %q, %v", p, got, err)
		}
	}
}

func realDir(t *testing.T, dir string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Each case is a hostile path; ReadFile must refuse it quickly with a *Error naming the rule
// and never echoing content.
func TestReadFileRefusesHostilePaths(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	write(t, filepath.Join(outside, "secret.txt"), "TOPSECRET-outside")
	write(t, filepath.Join(dir, "big.txt"), strings.Repeat("x", 65))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	sparse, err := os.Create(filepath.Join(dir, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sparse.Truncate(5 << 30); err != nil { // 5 GB, no blocks
		t.Fatal(err)
	}
	sparse.Close()
	links := map[string]string{
		"environ":  "/proc/self/environ",
		"zero":     "/dev/zero",
		"escape":   filepath.Join(outside, "secret.txt"),
		"fifolink": "fifo",
		"loop1":    "loop2",
		"loop2":    "loop1",
		"dirlink":  outside,
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	tree := &Tree{Root: realDir(t, dir)}
	cases := []struct {
		path string
		kind Kind
		want string
	}{
		{"/proc/self/environ", small, "under /proc"},
		{"/proc/self/status", small, "under /proc"},
		{"/sys/kernel/mm/transparent_hugepage/enabled", small, "under /sys"},
		{"/dev/zero", small, "under /dev"},
		{"/dev/stdin", small, "under /"},
		{filepath.Join(dir, "environ"), small, "under /proc"},
		{filepath.Join(dir, "zero"), small, "under /dev"},
		{filepath.Join(dir, "fifo"), small, "named pipe"},
		{filepath.Join(dir, "fifolink"), small, "named pipe"},
		{filepath.Join(dir, "big.txt"), small, "larger than 64 bytes"},
		{filepath.Join(dir, "sparse"), small, "larger than 64 bytes"},
		{filepath.Join(dir, "sparse"), Module, "larger than 10485760 bytes"},
		{filepath.Join(dir, "escape"), small, "outside the project"},
		{filepath.Join(dir, "..", filepath.Base(outside), "secret.txt"), small, "outside the project"},
		{filepath.Join(dir, "loop1"), small, "loop"},
		{filepath.Join(dir, "sub"), small, "a directory"},
		{filepath.Join(dir, "dirlink"), small, "outside the project"},
		{filepath.Join(dir, "missing"), small, "does not exist"},
		{"", small, "no test file"},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			start := time.Now()
			data, err := ReadFile(c.path, c.kind, tree)
			if time.Since(start) > 2*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ReadFile = %d bytes, %v; want a refusal", len(data), err)
			}
			if !strings.Contains(err.Error(), c.want) || e.Fix == "" {
				t.Errorf("error %q lacks %q or a fix", err, c.want)
			}
			for _, leak := range []string{"TOPSECRET", "PATH=", "xxxx", "%!"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q holds %q", err, leak)
				}
			}
		})
	}
}

// A file that grows past its cap while it is read is cut off at the cap, not read to the end.
func TestReadFileEnforcesTheCapWhileReading(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "grows")
	write(t, path, "small")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	write(t, path, strings.Repeat("y", 200)) // grew after the size check
	_, err = readWithin(f, path, small, 5, time.Second)
	if err == nil || !strings.Contains(err.Error(), "larger than 64") {
		t.Fatalf("readWithin = %v, want the cap", err)
	}
}

// Without a tree, a file outside any project (a key file in ~/.secrets) is read.
func TestReadFileWithoutTreeReadsAnywhere(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	write(t, path, "key")
	if got, err := ReadFile(path, small, nil); err != nil || string(got) != "key" {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}
}

func TestProjectTreeIsTheNearestGitFolder(t *testing.T) {
	repo := realDir(t, t.TempDir())
	if err := os.Mkdir(filepath.Join(repo, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(repo, "apps", "api", "flareform.yaml")
	write(t, spec, "x")
	tree, err := ProjectTree(spec)
	if err != nil || tree.Root != repo {
		t.Fatalf("ProjectTree = %+v, %v; want %s", tree, err, repo)
	}
	write(t, filepath.Join(repo, "packages", "lib", "x.js"), "export {}")
	if _, err := ReadFile(filepath.Join(repo, "apps", "api", "..", "..", "packages", "lib", "x.js"), small, tree); err != nil {
		t.Errorf("a monorepo sibling is refused: %v", err)
	}

	plain := realDir(t, t.TempDir())
	spec = filepath.Join(plain, "flareform.yaml")
	write(t, spec, "x")
	if tree, err := ProjectTree(spec); err != nil || tree.Root != plain {
		t.Fatalf("ProjectTree without .git = %+v, %v; want %s", tree, err, plain)
	}
}

func TestTreeContainsNoSiblingWithTheSamePrefix(t *testing.T) {
	tree := &Tree{Root: "/a/project"}
	for path, want := range map[string]bool{"/a/project": true, "/a/project/x": true, "/a/project-evil/x": false, "/a": false} {
		if got := tree.Contains(path); got != want {
			t.Errorf("Contains(%s) = %v", path, got)
		}
	}
}

func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "f"), "x")
	if err := os.Symlink("f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	if err := CheckWritable(filepath.Join(dir, "f")); err != nil {
		t.Errorf("regular file refused: %v", err)
	}
	if err := CheckWritable(filepath.Join(dir, "new")); err != nil {
		t.Errorf("new file refused: %v", err)
	}
	for _, p := range []string{filepath.Join(dir, "l"), "/dev/null", dir} {
		if err := CheckWritable(p); err == nil {
			t.Errorf("CheckWritable(%s) accepted it", p)
		}
	}
}
