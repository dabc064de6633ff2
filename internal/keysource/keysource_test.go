package keysource

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const goodKey = "0123456789abcdef0123456789abcdef" // 32 characters, the shortest allowed

func TestNormalizeAcceptsKeysThatFollowTheRule(t *testing.T) {
	long := strings.Repeat("k", MaxKeyLen)
	punctuation := strings.Repeat("!~", MinKeyLen/2) // every printable ASCII character but space is allowed
	for raw, want := range map[string]string{
		goodKey:          goodKey,
		goodKey + "\n":   goodKey,
		goodKey + "\r\n": goodKey,
		long:             long,
		punctuation:      punctuation,
	} {
		got, err := Normalize(raw)
		if err != nil || got != want {
			t.Errorf("Normalize(%d bytes) = %d bytes, %v; want the key", len(raw), len(got), err)
		}
	}
}

func TestNormalizeRefusesKeysThatBreakTheRule(t *testing.T) {
	for name, raw := range map[string]string{
		"empty":            "",
		"only newline":     "\n",
		"five characters":  "abcde",
		"31 characters":    goodKey[:31],
		"too long":         strings.Repeat("k", MaxKeyLen+1),
		"embedded newline": goodKey[:16] + "\n" + goodKey[16:],
		"two newlines":     goodKey + "\n\n",
		"space":            goodKey[:16] + " " + goodKey[16:],
		"leading space":    " " + goodKey,
		"tab":              goodKey + "\t",
		"NUL":              goodKey + "\x00",
		"DEL":              goodKey + "\x7f",
		"non-ASCII":        goodKey + "é",
		"environ-like":     "PATH=/usr/bin\x00CLOUDFLARE_API_TOKEN=" + goodKey + "\x00",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Normalize(raw)
			var ke *Error
			if !errors.As(err, &ke) {
				t.Fatalf("Normalize accepted it (err %v)", err)
			}
			if !strings.Contains(err.Error(), Rule) || ke.Fix == "" {
				t.Errorf("error %q does not state the rule and a fix", err)
			}
			if len(raw) >= 5 && strings.Contains(err.Error(), strings.TrimSpace(raw)[:5]) {
				t.Errorf("error %q shows part of the key", err)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for src, want := range map[string][2]string{
		"env:MY_KEY":         {KindEnv, "MY_KEY"},
		"file:./k.txt":       {KindFile, "./k.txt"},
		"file:/a:b":          {KindFile, "/a:b"},
		"env:":               {},
		"env:1X":             {},
		"env:A-B":            {},
		"generate":           {},
		"http://example.com": {},
		"file:":              {},
	} {
		kind, ref, err := Parse(src)
		if want[0] == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %q, %q; want an error", src, kind, ref)
			}
			continue
		}
		if err != nil || kind != want[0] || ref != want[1] {
			t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q", src, kind, ref, err, want[0], want[1])
		}
	}
}

func TestResolveEnv(t *testing.T) {
	env := map[string]string{"GOOD": goodKey + "\n", "SHORT": "abcde"}
	key, err := Resolve(KindEnv, "GOOD", func(k string) string { return env[k] })
	if err != nil || key != goodKey {
		t.Fatalf("Resolve(env GOOD) = %q, %v", key, err)
	}
	for _, name := range []string{"SHORT", "UNSET"} {
		if _, err := Resolve(KindEnv, name, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Resolve(env %s): error %v, want one naming the variable", name, err)
		} else if strings.Contains(err.Error(), "abcde") {
			t.Errorf("error %q shows the value", err)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadKeyFile(t *testing.T) {
	path := writeFile(t, "key", goodKey+"\n")
	if key, err := ReadKeyFile(path); err != nil || key != goodKey {
		t.Fatalf("ReadKeyFile = %q, %v", key, err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if key, err := ReadKeyFile(link); err != nil || key != goodKey {
		t.Fatalf("ReadKeyFile(symlink to a regular file) = %q, %v", key, err)
	}
}

func TestReadFileRefusesWhatIsNotASmallRegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	procLink := filepath.Join(dir, "environ")
	if err := os.Symlink("/proc/self/environ", procLink); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ path, want string }{
		"proc environ":       {"/proc/self/environ", "under /proc"},
		"symlink into /proc": {procLink, "under /proc"},
		"dev zero":           {"/dev/zero", "under /dev"},
		"sys":                {"/sys/kernel/mm/transparent_hugepage/enabled", "/sys"},
		"fifo":               {fifo, "named pipe"},
		"directory":          {dir, "directory"},
		"missing":            {filepath.Join(dir, "missing"), "does not exist"},
		"too large":          {writeFile(t, "big", strings.Repeat("k", MaxKeyFileBytes+1)), "larger than"},
		"traversal":          {dir + "/../../../../../../etc/../dev/null", "under /dev"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ReadFile(tc.path, MaxKeyFileBytes)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadFile(%s) error %v, want one saying %q", tc.path, err, tc.want)
			}
		})
	}
}

func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	if err := CheckWritable(filepath.Join(dir, "new")); err != nil {
		t.Errorf("a new path: %v", err)
	}
	if err := CheckWritable(writeFile(t, "old", "x")); err != nil {
		t.Errorf("an existing regular file: %v", err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/dev/zero", "/dev/null", dir, link} {
		if err := CheckWritable(path); err == nil {
			t.Errorf("CheckWritable(%s) = nil, want a refusal", path)
		}
	}
}

func TestRuleNamesTheLimits(t *testing.T) {
	want := fmt.Sprintf("a key is one line of %d to %d printable ASCII characters without spaces", MinKeyLen, MaxKeyLen)
	if Rule != want {
		t.Errorf("Rule = %q, want %q", Rule, want)
	}
}
