package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/internal/confined"
)

// hostileToken stands in for the Cloudflare API token in use; no message may show it.
const hostileToken = "Hx7_kQ2-canaryTOKEN-9f8e7d6c5b4a3921aBcD"

// loadWithin loads path and fails the test when Load takes longer than two seconds.
func loadWithin(t *testing.T, path string, getenv func(string) string) (*Spec, error) {
	t.Helper()
	type result struct {
		s   *Spec
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := Load(path, "", getenv)
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-time.After(2 * time.Second):
		t.Fatal("Load did not finish within 2s")
		return nil, nil
	}
}

// lineCol is "flareform.yaml:LINE:COL:" of the first occurrence of text in the spec at path,
// COL being where the value after "text" starts.
func lineCol(t *testing.T, path, text string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		if col := strings.Index(line, text); col >= 0 {
			return fmt.Sprintf("%s:%d:%d:", filepath.Base(path), i+1, col+len(text)+1)
		}
	}
	t.Fatalf("%s does not hold %q", path, text)
	return ""
}

// assertRefused checks that err is a spec error list holding every want and none of secrets.
func assertRefused(t *testing.T, err error, wants, secrets []string) {
	t.Helper()
	if err == nil {
		t.Fatal("Load accepted the spec")
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("err is %T, not an ErrorList: %v", err, err)
	}
	msg := err.Error()
	for _, want := range wants {
		if !strings.Contains(msg, want) {
			t.Errorf("errors lack %q:\n%s", want, msg)
		}
	}
	for _, secret := range secrets {
		if strings.Contains(msg, secret) || strings.Contains(msg, strings.ToLower(secret)) {
			t.Errorf("errors show a secret %q:\n%s", secret, msg)
		}
	}
}

// TestLoadRefusesMainOutsideTheProject: the bundler reads main whole and uploads it, so a main
// outside the project's tree (through .. or a symlink), a huge (sparse) file, or a link into
// /proc is refused at the main: line before anything reads it.
func TestLoadRefusesMainOutsideTheProject(t *testing.T) {
	const content = "SECRET-CONTENT-of-a-file-outside-0123456789"
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "worker.js"), []byte("// "+content+"\nexport default {};\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		main    string
		prepare func(t *testing.T, dir string)
		want    string
	}{
		"traversal with ..": {main: "OUTSIDE/worker.js", want: "lies outside the project"},
		"absolute path":     {main: filepath.Join(outside, "worker.js"), want: "lies outside the project"},
		"symlink out": {main: "./src/link.js", want: "lies outside the project", prepare: func(t *testing.T, dir string) {
			if err := os.Symlink(filepath.Join(outside, "worker.js"), filepath.Join(dir, "src", "link.js")); err != nil {
				t.Fatal(err)
			}
		}},
		"symlinked folder out": {main: "./lib/worker.js", want: "lies outside the project", prepare: func(t *testing.T, dir string) {
			if err := os.Symlink(outside, filepath.Join(dir, "lib")); err != nil {
				t.Fatal(err)
			}
		}},
		"5 GB sparse file": {main: "./src/huge.js", want: fmt.Sprintf("larger than %d bytes", confined.Module.Limit), prepare: func(t *testing.T, dir string) {
			path := filepath.Join(dir, "src", "huge.js")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, 5<<30); err != nil {
				t.Fatal(err)
			}
		}},
		"symlink to proc self environ": {main: "./src/environ.js", want: "under /proc", prepare: func(t *testing.T, dir string) {
			if err := os.Symlink("/proc/self/environ", filepath.Join(dir, "src", "environ.js")); err != nil {
				t.Fatal(err)
			}
		}},
		"proc self environ": {main: "/proc/self/environ", want: "under /proc"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeWorker(t, dir)
			if tc.prepare != nil {
				tc.prepare(t, dir)
			}
			path := writeSpec(t, dir, fmt.Sprintf("workers:\n  a:\n    main: %s\n    compatibility_date: \"2025-06-01\"\n", relativeOutside(t, dir, outside, tc.main)))
			_, err := loadWithin(t, path, envMap(map[string]string{envAPITokenName: hostileToken}))
			assertRefused(t, err, []string{"flareform.yaml:3:11: main", "cannot be deployed", tc.want}, []string{content, hostileToken})
		})
	}
}

const envAPITokenName = "CLOUDFLARE_API_TOKEN"

// relativeOutside replaces OUTSIDE at the start of path with outside relative to dir: a path
// that climbs out of the project with "..".
func relativeOutside(t *testing.T, dir, outside, path string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(path, "OUTSIDE")
	if !ok {
		return path
	}
	rel, err := filepath.Rel(dir, outside)
	if err != nil || !strings.HasPrefix(rel, "..") {
		t.Fatalf("%s is not outside %s (%v)", outside, dir, err)
	}
	return filepath.ToSlash(rel) + rest
}

// TestLoadAcceptsMainElsewhereInTheRepository: the project's tree is the folder holding .git,
// so a monorepo's spec in a sub-folder may use code from a sibling folder; Spec.Root says so.
func TestLoadAcceptsMainElsewhereInTheRepository(t *testing.T) {
	repo := t.TempDir()
	if err := os.Mkdir(filepath.Join(repo, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeWorker(t, filepath.Join(repo, "packages"))
	app := filepath.Join(repo, "apps", "api")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "packages", "hello.bin"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := writeSpec(t, app, `workers:
  a:
    main: ../../packages/src/worker.js
    compatibility_date: "2025-06-01"
    smoke:
      body_file: ../../packages/hello.bin
      expect: application/json
`)
	s, err := loadWithin(t, path, envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(repo)
	if err != nil {
		t.Fatal(err)
	}
	if s.Root != real || s.Workers[0].Smoke.BodyFileRoot != real {
		t.Errorf("Root %q, BodyFileRoot %q; want %q", s.Root, s.Workers[0].Smoke.BodyFileRoot, real)
	}
}

// TestLoadRefusesSmokeBodyFileOutsideTheProject: smoke.body_file is sent to the deployed
// worker's public URL, so it must be a regular file inside the project: not
// ~/.aws/credentials, not a link to /dev/zero or /proc/self/environ, not over 10 MiB.
func TestLoadRefusesSmokeBodyFileOutsideTheProject(t *testing.T) {
	const content = "aws_secret_access_key=CANARY0123456789abcdefghij"
	home := t.TempDir()
	credentials := filepath.Join(home, ".aws", "credentials")
	if err := os.MkdirAll(filepath.Dir(credentials), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(credentials, []byte("[default]\n"+content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := func(target, name string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := map[string]struct {
		bodyFile string
		prepare  func(t *testing.T, dir string)
		want     string
	}{
		"aws credentials":              {bodyFile: credentials, want: "lies outside the project"},
		"traversal with ..":            {bodyFile: "OUTSIDE/.aws/credentials", want: "lies outside the project"},
		"symlink out":                  {bodyFile: "./sample.bin", prepare: link(credentials, "sample.bin"), want: "lies outside the project"},
		"symlink to dev zero":          {bodyFile: "./sample.bin", prepare: link("/dev/zero", "sample.bin"), want: "under /dev"},
		"symlink to proc self environ": {bodyFile: "./sample.bin", prepare: link("/proc/self/environ", "sample.bin"), want: "under /proc"},
		"11 MiB sparse file": {bodyFile: "./sample.bin", want: fmt.Sprintf("larger than %d bytes", confined.SmokeBody.Limit), prepare: func(t *testing.T, dir string) {
			path := filepath.Join(dir, "sample.bin")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, 11<<20); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeWorker(t, dir)
			if tc.prepare != nil {
				tc.prepare(t, dir)
			}
			path := writeSpec(t, dir, fmt.Sprintf(`workers:
  a:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    smoke:
      body_file: %s
      expect: application/json
`, relativeOutside(t, dir, home, tc.bodyFile)))
			_, err := loadWithin(t, path, envMap(nil))
			assertRefused(t, err, []string{"flareform.yaml:6:18: smoke.body_file", "cannot be used", tc.want}, []string{content})
		})
	}
}

// TestLoadRefusesAccountCredentialsAsWorkerKeys: a worker's key is handed to each of its
// clients, so api_key.from naming the account's token (or any source holding its value) would
// give every client the account. The error is at the from: line and shows neither value.
func TestLoadRefusesAccountCredentialsAsWorkerKeys(t *testing.T) {
	env := map[string]string{envAPITokenName: hostileToken, "OTHER": hostileToken, "OTHER_NL": hostileToken + "\n",
		"CLOUDFLARE_API_KEY": "global-api-key-0123456789abcdef0123456789", "CF_API_TOKEN": "old-name-token-0123456789abcdef0123456789",
		"CF_API_KEY": "old-name-key-0123456789abcdef01234567890", "LEGACY_KEY": "global-api-key-0123456789abcdef0123456789"}
	cases := map[string]struct {
		from string
		want string
	}{
		"env CLOUDFLARE_API_TOKEN":   {"env:CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_TOKEN holds the Cloudflare account's credentials"},
		"env CLOUDFLARE_API_KEY":     {"env:CLOUDFLARE_API_KEY", "CLOUDFLARE_API_KEY holds the Cloudflare account's credentials"},
		"env CF_API_TOKEN":           {"env:CF_API_TOKEN", "CF_API_TOKEN holds the Cloudflare account's credentials"},
		"env CF_API_KEY":             {"env:CF_API_KEY", "CF_API_KEY holds the Cloudflare account's credentials"},
		"env holding the token":      {"env:OTHER", "the key is the value of CLOUDFLARE_API_TOKEN"},
		"env holding the token + NL": {"env:OTHER_NL", "the key is the value of CLOUDFLARE_API_TOKEN"},
		"env holding the global key": {"env:LEGACY_KEY", "the key is the value of CLOUDFLARE_API_KEY"},
		"file holding the token":     {"file:./key.txt", "the key is the value of CLOUDFLARE_API_TOKEN"},
	}
	var secrets []string
	for _, v := range env {
		secrets = append(secrets, strings.TrimSpace(v))
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeWorker(t, dir)
			if err := os.WriteFile(filepath.Join(dir, "key.txt"), []byte(hostileToken+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			path := writeSpec(t, dir, fmt.Sprintf(`workers:
  a:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    api_key: { from: "%s" }
`, tc.from))
			_, err := loadWithin(t, path, envMap(env))
			assertRefused(t, err, []string{"flareform.yaml:5:22: api_key.from", tc.want, "every client of the worker would hold the Cloudflare account's API token", "from: generate"}, secrets)
		})
	}
	t.Run("token unset: the name alone is refused", func(t *testing.T) {
		dir := t.TempDir()
		writeWorker(t, dir)
		path := writeSpec(t, dir, "workers:\n  a:\n    main: ./src/worker.js\n    compatibility_date: \"2025-06-01\"\n    api_key: { from: env:CLOUDFLARE_API_TOKEN }\n")
		_, err := loadWithin(t, path, envMap(nil))
		assertRefused(t, err, []string{"flareform.yaml:5:22: api_key.from", "CLOUDFLARE_API_TOKEN holds the Cloudflare account's credentials"}, nil)
	})
	t.Run("a key of its own is fine", func(t *testing.T) {
		dir := t.TempDir()
		writeWorker(t, dir)
		path := writeSpec(t, dir, "workers:\n  a:\n    main: ./src/worker.js\n    compatibility_date: \"2025-06-01\"\n    api_key: { from: env:MY_KEY }\n")
		if _, err := loadWithin(t, path, envMap(map[string]string{envAPITokenName: hostileToken, "MY_KEY": "worker-key-0123456789abcdef0123456789"})); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAccountCredentialKey: the check rotate-key --from shares with the loader.
func TestAccountCredentialKey(t *testing.T) {
	getenv := envMap(map[string]string{envAPITokenName: hostileToken + "\n"})
	for _, tc := range []struct {
		kind, ref, key string
		refused        bool
	}{
		{"env", "CLOUDFLARE_API_TOKEN", "", true},
		{"env", "CF_API_KEY", "", true},
		{"env", "MY_KEY", "", false},
		{"env", "MY_KEY", hostileToken, true},
		{"file", "/k", hostileToken, true},
		{"file", "/k", hostileToken + "x", false},
		{"file", "/CLOUDFLARE_API_TOKEN", "", false},
	} {
		problem := AccountCredentialKey(tc.kind, tc.ref, tc.key, getenv)
		if (problem != "") != tc.refused || strings.Contains(problem, hostileToken) {
			t.Errorf("AccountCredentialKey(%s, %s, key %d bytes) = %q; want refused %v, never the token", tc.kind, tc.ref, len(tc.key), problem, tc.refused)
		}
	}
	if AccountCredentialKey("env", "MY_KEY", "some-key-0123456789abcdef0123456789", envMap(nil)) != "" {
		t.Error("refused a key with no token set")
	}
}

// TestLoadRefusesVarsHoldingKeys: vars are uploaded as plain text and printed by plan, so a var
// whose value (after ${} expansion) is a key flareform manages, or a credential, is refused at
// the var's line, naming the var and the key's source, never the value.
func TestLoadRefusesVarsHoldingKeys(t *testing.T) {
	const key = "worker-key-0123456789abcdef0123456789abc"
	const fileKey = "file-key-0123456789abcdef0123456789abcde"
	env := map[string]string{envAPITokenName: hostileToken, "MYKEY": key, "SAME_AS_TOKEN": hostileToken, "FLAREFORM_API_KEY": "flareform-key-0123456789abcdef0123456789", "SAME_AS_FF": "flareform-key-0123456789abcdef0123456789"}
	cases := map[string]struct {
		spec string
		line string // the var's line (its value)
		want []string
	}{
		"var is the env key": {spec: `workers:
  a:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    api_key: { from: env:MYKEY }
    vars: { LEAK: "${MYKEY}" }
`, line: `LEAK: `, want: []string{`vars.LEAK holds the worker's API key (api_key.from "env:MYKEY")`, "env.API_KEY"}},
		"var holds the env key": {spec: `workers:
  a:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    api_key: { from: env:MYKEY }
    vars:
      OK: "fine"
      AUTH: "Bearer ${MYKEY}"
`, line: `AUTH: `, want: []string{`vars.AUTH holds the worker's API key (api_key.from "env:MYKEY")`}},
		"var is the file key": {spec: `workers:
  a:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    api_key: { from: file:./key.txt }
    vars: { LEAK: "${FILEKEY}" }
`, line: `LEAK: `, want: []string{`vars.LEAK holds the worker's API key (api_key.from "file:./key.txt")`}},
		"var holds another worker's key": {spec: `workers:
  a:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    vars: { PEER: "${MYKEY}" }
  b:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    api_key: { from: env:MYKEY }
`, line: `PEER: `, want: []string{`vars.PEER holds the API key of worker "b" (api_key.from "env:MYKEY")`}},
		"environment's var is the key": {spec: `workers:
  a:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    api_key: { from: env:MYKEY }
    vars: { LEAK: "harmless" }
environments:
  prod:
    workers:
      a:
        vars: { LEAK: "${MYKEY}" }
`, line: `        vars: { LEAK: `, want: []string{`vars.LEAK holds the worker's API key`}},
		"var is the token": {spec: `workers:
  a:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    vars: { T: "${SAME_AS_TOKEN}" }
`, line: `T: `, want: []string{"vars.T holds the value of CLOUDFLARE_API_TOKEN, a credential"}},
		"var is FLAREFORM_API_KEY": {spec: `workers:
  a:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    vars: { K: "${SAME_AS_FF}" }
`, line: `K: `, want: []string{"vars.K holds the value of FLAREFORM_API_KEY, a credential"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeWorker(t, dir)
			if err := os.WriteFile(filepath.Join(dir, "key.txt"), []byte(fileKey+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			path := writeSpec(t, dir, tc.spec)
			e := map[string]string{"FILEKEY": fileKey}
			for k, v := range env {
				e[k] = v
			}
			envName := ""
			if strings.Contains(tc.spec, "environments:") {
				envName = "prod"
			}
			_, err := Load(path, envName, envMap(e))
			assertRefused(t, err, append([]string{lineCol(t, path, tc.line), "uploaded as plain text"}, tc.want...),
				[]string{key, fileKey, hostileToken, env["FLAREFORM_API_KEY"]})
		})
	}
	t.Run("other vars are fine", func(t *testing.T) {
		dir := t.TempDir()
		writeWorker(t, dir)
		path := writeSpec(t, dir, `workers:
  a:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    api_key: { from: env:MYKEY }
    vars: { GREETING: "hello", KEY_NAME: "MYKEY", PART: "worker-key" }
`)
		if _, err := Load(path, "", envMap(env)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLimitsMatchConfined: the limits this package documents are confined's.
func TestLimitsMatchConfined(t *testing.T) {
	if MaxSpecBytes != confined.Spec.Limit || MaxSmokeBodyFile != confined.SmokeBody.Limit {
		t.Errorf("MaxSpecBytes %d, MaxSmokeBodyFile %d; confined caps %d and %d", MaxSpecBytes, MaxSmokeBodyFile, confined.Spec.Limit, confined.SmokeBody.Limit)
	}
}

// TestLoadRefusesWranglersOldCredentialNames: ${CF_API_TOKEN} and ${CF_API_KEY}, wrangler's
// older names for the account's credentials, are refused in the spec like
// ${CLOUDFLARE_API_TOKEN}, and their values appear in no message.
func TestLoadRefusesWranglersOldCredentialNames(t *testing.T) {
	dir := t.TempDir()
	writeWorker(t, dir)
	path := writeSpec(t, dir, `workers:
  image-api:
    name: ${CF_API_TOKEN}
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    vars: { K: "${CF_API_KEY}" }
`)
	_, err := Load(path, "", envMap(map[string]string{"CF_API_TOKEN": hostileToken, "CF_API_KEY": "old-global-key-0123456789abcdef"}))
	assertRefused(t, err, []string{"flareform.yaml:3:11: ${CF_API_TOKEN} is a credential", "flareform.yaml:6:17: ${CF_API_KEY} is a credential"},
		[]string{hostileToken, "old-global-key-0123456789abcdef"})
}
