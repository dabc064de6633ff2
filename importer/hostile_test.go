package importer

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// canary stands in for a secret in a file passed to import: no message may show it.
const canary = "Hx7_kQ2-canaryTOKEN-9f8e7d6c5b4a3921aBcD"

// readWithin runs ReadFile and fails the test when it does not return within limit: a FIFO
// used to hang import for ever, /dev/zero to exhaust its memory.
func readWithin(t *testing.T, path string, limit time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		data, err := ReadFile(path)
		if err == nil && len(data) > 0 {
			err = errors.New("read succeeded")
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("ReadFile(%s) did not return within %s", path, limit)
		return nil
	}
}

func TestReadFileRefusesWhatIsNotARegularWranglerConfig(t *testing.T) {
	dir := t.TempDir()
	link := func(name, target string) string {
		path := filepath.Join(dir, name)
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	fifo := filepath.Join(dir, "fifo", "wrangler.toml")
	if err := os.Mkdir(filepath.Dir(fifo), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, []byte(strings.Repeat("# comment\n", 110_000)), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]string{
		fifo:                           {"named pipe", "not a regular file", "pass the project's wrangler.toml"},
		link("zero.toml", "/dev/zero"): {"under /dev", "pass the project's wrangler.toml"},
		link("environ.toml", "/proc/self/environ"): {"under /proc"},
		"/dev/zero":                        {"under /dev"},
		big:                                {"larger than 1048576 bytes", "wrangler config"},
		dir:                                {"a directory"},
		filepath.Join(dir, "missing.toml"): {"does not exist"},
	} {
		err := readWithin(t, path, 2*time.Second)
		if err == nil {
			t.Errorf("%s: read", path)
			continue
		}
		for _, w := range append(want, path) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", path, err, w)
			}
		}
	}
}

// quotedText finds a quoted string with anything in it but the redaction mark.
var quotedText = regexp.MustCompile(`"[^"…]+"|'[^'…]+'`)

// A file that does not parse is reported by position and kind of problem, never by its text:
// `import` may be pointed at any file, and the parsers quote what they found.
func TestParseErrorsGivePositionNotContent(t *testing.T) {
	cases := []struct {
		name, src, where string
	}{
		{"wrangler.toml", "name = \"x\"\nCLOUDFLARE_API_TOKEN=" + canary + "\n", "wrangler.toml:2:22:"},
		{"wrangler.toml", "PATH=/usr/bin\x00HOME=/root\x00TOKEN=" + canary + "\x00", "wrangler.toml:1:6:"},
		{"wrangler.toml", "name = \"x\"\n" + canary + " = 1\n" + canary + " = 2\n", "wrangler.toml:3:"},
		{"wrangler.toml", "[" + canary + "]\n[" + canary + "]\n", "wrangler.toml:2:"},
		{"wrangler.toml", "name = \"" + canary + "\n", "wrangler.toml:1:"},
		{"wrangler.json", "{\n  \"name\": \"x\",\n  \"token\": " + canary + "\n}\n", "wrangler.json:3:12:"},
		{"wrangler.json", "{\"name\": \"" + canary, "wrangler.json:1:10:"},
		{"wrangler.jsonc", "{\"name\": \"x\"} /* " + canary, "wrangler.jsonc:1:15:"},
		{"wrangler.json", "[\"" + canary + "\"]", "wrangler.json:1:1:"},
		{"wrangler.json", "{\"name\": \"x\"}\n\"" + canary + "\"\n", "wrangler.json:2:"},
	}
	for _, tc := range cases {
		_, err := Convert(tc.name, []byte(tc.src), Options{})
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%s %q: want a *SyntaxError, got %v", tc.name, tc.src, err)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, tc.where) {
			t.Errorf("%s %q: error %q does not start with %q", tc.name, tc.src, msg, tc.where)
		}
		if m := quotedText.FindString(se.Problem); m != "" {
			t.Errorf("%s %q: error %q quotes %s", tc.name, tc.src, msg, m)
		}
		for i := 0; i+minEcho <= len(msg); i++ {
			if strings.Contains(tc.src, msg[i:i+minEcho]) {
				t.Errorf("%s %q: error %q shows the file's text %q", tc.name, tc.src, msg, msg[i:i+minEcho])
				break
			}
		}
		for _, part := range []string{canary[:8], "CLOUDFLARE_API_TOKEN", "/usr/bin"} {
			if strings.Contains(msg, part) {
				t.Errorf("%s %q: error %q shows %q", tc.name, tc.src, msg, part)
			}
		}
	}
}

func TestRedact(t *testing.T) {
	data := []byte("a file holding " + canary + " and more")
	for in, want := range map[string]string{
		`expected value but found "Hx" instead`:  `expected value but found "…" instead`,
		`invalid character '"' after object key`: `invalid character '…' after object key`,
		`invalid character '\'' in string`:       `invalid character '…' in string`,
		`Key 'a' has already been defined.`:      `Key '…' has already been defined.`,
		`unterminated "open quote ` + canary:     `unterminated "…`,
		"bad bare key " + canary + " here":       "bad bare key…here",
		"strings cannot contain newlines":        "strings cannot contain newlines",
		"seen: a file holding Hx7 and so on":     "seen: … and so on",
	} {
		if got := redact(in, data); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLooksSecret(t *testing.T) {
	for _, name := range []string{"API_TOKEN", "stripe_key", "DB_PASSWORD", "my-secret-thing", "ClientSecret", "OPENAI_APIKEY",
		"SMTP_PASS", "TOKEN", "private_key_pem", "GITHUB_API_KEY", "SESSION_JWT", "passphrase"} {
		if !LooksSecret(name) {
			t.Errorf("LooksSecret(%q) = false", name)
		}
	}
	for _, name := range []string{"STYLE", "AI_MODEL", "MAX_PROMPT_CHARS", "KEYBOARD_LAYOUT", "TOKENIZER", "PUBLIC_URL", "MONKEY_COUNT"} {
		if LooksSecret(name) {
			t.Errorf("LooksSecret(%q) = true", name)
		}
	}
}

// Vars whose names say they are secrets are still carried over (the Worker reads them), but
// each is reported as one to move to a secret, by name; no value appears in the report.
func TestSecretLookingVarsAreReportedNotShown(t *testing.T) {
	values := map[string]string{
		"API_TOKEN":    "tok-0123456789abcdef0123456789",
		"stripe_key":   "sk_live_0123456789abcdefghij",
		"DB_PASSWORD":  "hunter2-hunter2-hunter2",
		"ClientSecret": "s3cr3t-s3cr3t-s3cr3t",
	}
	src := "name = \"shop\"\nmain = \"src/index.js\"\ncompatibility_date = \"2025-06-01\"\n\n[vars]\nSTYLE = \"plain\"\nPIN_PASSWORD = 987654321012\n"
	for k, v := range values {
		src += k + " = \"" + v + "\"\n"
	}
	src += "\n[env.staging.vars]\nAPI_TOKEN = \"tok-staging-0123456789abcdef\"\n"
	res, err := Convert("wrangler.toml", []byte(src), Options{Today: "2025-07-01"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"vars.API_TOKEN", "vars.ClientSecret", "vars.DB_PASSWORD", "vars.PIN_PASSWORD", "vars.stripe_key", "env.staging.vars.API_TOKEN"}
	if strings.Join(res.SecretVars, ",") != strings.Join(want, ",") {
		t.Errorf("SecretVars = %v, want %v", res.SecretVars, want)
	}
	for _, key := range want {
		if !containsPrefix(res.Notes, key+": ") || !strings.Contains(strings.Join(res.Notes, "\n"), "move this to a secret") {
			t.Errorf("notes lack %s as a var to move to a secret: %v", key, res.Notes)
		}
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "wrangler secret put API_TOKEN --env staging") {
		t.Errorf("the staging note does not say how to set the secret: %v", res.Notes)
	}
	if containsPrefix(res.Notes, "vars.STYLE") {
		t.Errorf("STYLE reported as a secret: %v", res.Notes)
	}
	report := strings.Join(append(append(append([]string{}, res.Notes...), res.NotCarried...), res.SecretVars...), "\n")
	for _, v := range append(mapValues(values), "987654321012", "tok-staging-0123456789abcdef") {
		if strings.Contains(report, v) {
			t.Errorf("the report shows the value %q:\n%s", v, report)
		}
	}
	// Carried over all the same: the Worker still reads them until they are moved.
	s := load(t, res.Spec, "")
	for k, v := range values {
		if s.Workers[0].Vars[k] != v {
			t.Errorf("var %s = %q, want it carried over", k, s.Workers[0].Vars[k])
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
