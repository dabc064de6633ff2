package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWorkerNameFromDir(t *testing.T) {
	tests := []struct{ dir, want string }{
		{"/tmp/my-images", "my-images"},
		{"/tmp/My Images_2", "my-images-2"},
		{"/tmp/--x--", "x"},
		{"/tmp/ÄÖ", "my-worker"},
		{"/tmp/" + strings.Repeat("a", 70), strings.Repeat("a", 63)},
		{"/tmp/" + strings.Repeat("a", 62) + "_b", strings.Repeat("a", 62)},
	}
	for _, tt := range tests {
		if got := workerNameFromDir(tt.dir); got != tt.want {
			t.Errorf("workerNameFromDir(%q) = %q, want %q", tt.dir, got, tt.want)
		}
	}
}

func TestKeyFileRoundTrip(t *testing.T) {
	one := []generatedKey{{WorkerKey: "images", Key: "k1="}}
	got, err := parseKeyFile(formatKeyFile(one), []string{"images"})
	if err != nil || got["images"] != "k1=" || len(got) != 1 {
		t.Fatalf("one key: got %v, %v", got, err)
	}
	two := []generatedKey{{WorkerKey: "a", Key: "ka"}, {WorkerKey: "b", Key: "kb=="}}
	got, err = parseKeyFile(formatKeyFile(two), []string{"a", "b"})
	if err != nil || got["a"] != "ka" || got["b"] != "kb==" || len(got) != 2 {
		t.Fatalf("two keys: got %v, %v", got, err)
	}
}

func TestParseKeyFileErrorsNeverEchoKeys(t *testing.T) {
	for name, content := range map[string]string{
		"empty":           "\n\n",
		"two bare lines":  "secret-one\nsecret-two\n",
		"unknown workers": "x=secret-one\ny=secret-two\n",
	} {
		_, err := parseKeyFile(content, []string{"a"})
		if err == nil {
			t.Errorf("%s: want an error", name)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error echoes the file content: %v", name, err)
		}
	}
}

func TestKeyOutRefusesToReplaceAKeyUnlessForced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := prepareKeyOut(path, false, []string{"w"}, []string{"w"}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("want a refusal naming --force, got %v", err)
	}
	k, err := prepareKeyOut(path, true, []string{"w"}, []string{"w"})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Commit([]generatedKey{{WorkerKey: "w", Key: "new-key"}}); err != nil {
		t.Fatal(err)
	}
	assertKeyFile(t, path, "new-key\n")
	assertOnlyFiles(t, dir, "key")
}

// --key-out merges: other workers' keys already in the file stay, also with --force.
func TestKeyOutMergesOtherWorkersKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys")
	if err := os.WriteFile(path, []byte("a=key-a\nb=key-b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k, err := prepareKeyOut(path, true, []string{"c"}, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Commit([]generatedKey{{WorkerKey: "c", Key: "key-c"}}); err != nil {
		t.Fatal(err)
	}
	assertKeyFile(t, path, "a=key-a\nb=key-b\nc=key-c\n")

	// A bare single key belongs to the spec's only keyed worker; a key for another worker is
	// added beside it, named, instead of replacing it.
	if err := os.WriteFile(path, []byte("key-a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err = prepareKeyOut(path, true, []string{"b"}, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if err := k.Commit([]generatedKey{{WorkerKey: "b", Key: "key-b"}}); err != nil {
		t.Fatal(err)
	}
	assertKeyFile(t, path, "a=key-a\nb=key-b\n")

	// A bare key whose worker cannot be told is never dropped, not even with --force.
	if err := os.WriteFile(path, []byte("key-x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := prepareKeyOut(path, true, []string{"b"}, []string{"a", "b"}); err == nil || strings.Contains(err.Error(), "key-x") {
		t.Fatalf("bare key of an unknown worker: want a refusal that does not echo it, got %v", err)
	}
}

func TestKeyOutRefusesNonRegularFiles(t *testing.T) {
	if _, err := prepareKeyOut("/dev/null", true, []string{"w"}, []string{"w"}); err == nil {
		t.Fatal("want a refusal for a device as --key-out")
	}
}

func TestKeyOutUnwritableDirFailsEarly(t *testing.T) {
	if _, err := prepareKeyOut(filepath.Join(t.TempDir(), "missing", "key"), false, []string{"w"}, []string{"w"}); err == nil {
		t.Fatal("want an error for a key file in a missing directory")
	}
}

func assertKeyFile(t *testing.T, path, want string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, perm)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s holds %q, want %q", path, got, want)
	}
}

func assertOnlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s holds %v, want %v", dir, got, want)
	}
}

func TestConfirm(t *testing.T) {
	tests := []struct {
		name    string
		tty     bool
		input   string
		wantErr string
	}{
		{"yes on a terminal", true, "yes\n", ""},
		{"yes with spaces", true, "  yes  \n", ""},
		{"no", true, "no\n", "cancelled"},
		{"Yes is not yes", true, "Yes\n", "cancelled"},
		{"EOF", true, "", "cancelled"},
		{"not a terminal", false, "yes\n", "--auto-approve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, stdout, _ := TestIOStreams(tt.input)
			ios.StdinTTY = tt.tty
			err := confirm(t.Context(), &rootOptions{IO: ios}, "Do you want to perform these actions?", "apply")
			if tt.wantErr == "" && err != nil {
				t.Fatalf("want approval, got %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("want an error containing %q, got %v", tt.wantErr, err)
			}
			if tt.tty && !strings.Contains(stdout.String(), "Only 'yes' will be accepted") {
				t.Errorf("prompt missing from stdout: %q", stdout.String())
			}
		})
	}
}

// Ctrl-C at the prompt ends it at once, although nobody types anything.
func TestConfirmReturnsOnInterrupt(t *testing.T) {
	r, w := io.Pipe() // a read that blocks until the test ends
	defer w.Close()
	ios, _, _ := TestIOStreams("")
	ios.In, ios.StdinTTY = r, true
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := confirm(ctx, &rootOptions{IO: ios}, "Do you want to perform these actions?", "apply")
	if !errors.Is(err, errInterruptedAtPrompt) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("want the interrupted-at-prompt error, got %v", err)
	}
	if code := reportError(io.Discard, err, true); code != exitInterrupted {
		t.Errorf("exit %d, want %d", code, exitInterrupted)
	}
}

func TestReportErrorExitCodes(t *testing.T) {
	var buf strings.Builder
	if code := reportError(&buf, nil, false); code != exitOK {
		t.Errorf("nil error: exit %d", code)
	}
	if code := reportError(&buf, &exitStatus{Code: exitChanges}, false); code != exitChanges || buf.Len() != 0 {
		t.Errorf("exitStatus: exit %d, printed %q", code, buf.String())
	}
	if code := reportError(&buf, errors.New("boom"), false); code != exitError || !strings.Contains(buf.String(), "Error: boom") {
		t.Errorf("plain error: exit %d, printed %q", code, buf.String())
	}
}
