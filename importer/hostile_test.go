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

// A secret-looking var whose value apply would refuse as a secret (empty, larger than a Worker
// secret may be) is flagged by kind of problem and size only; a short one is not: secrets are
// not API keys.
func TestSecretVarValuesBreakingTheRuleAreFlagged(t *testing.T) {
	big := strings.Repeat("big-canary-", 600) // 6600 bytes
	src := "name = \"shop\"\nmain = \"src/index.js\"\ncompatibility_date = \"2025-06-01\"\n\n[vars]\n" +
		"SHORT_TOKEN = \"abc\"\nEMPTY_TOKEN = \"\"\nBIG_TOKEN = \"" + big + "\"\n"
	res, err := Convert("wrangler.toml", []byte(src), Options{Today: "2025-07-01"})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(res.Notes, "\n")
	for _, want := range []string{
		"vars.EMPTY_TOKEN: the value in wrangler's vars would be refused as a secret: the secret is empty",
		"vars.BIG_TOKEN: the value in wrangler's vars would be refused as a secret: the secret is 6600 bytes; a Worker secret holds at most 5120",
	} {
		if !containsPrefix(res.Notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if containsPrefix(res.Notes, "vars.SHORT_TOKEN: the value in wrangler's vars would be refused") {
		t.Errorf("a 3-byte secret is flagged:\n%s", notes)
	}
	if strings.Contains(notes+string(res.Spec), "canary") {
		t.Errorf("the report or the spec shows the value")
	}
}

// Vars whose names say they are secrets become secrets read from the environment variable of
// their name: the spec has "env:NAME", never the value, and each is reported by name with what
// to export; no value appears in the spec or the report.
func TestSecretLookingVarsAreReportedNotShown(t *testing.T) {
	values := map[string]string{
		"API_TOKEN":    "tok-0123456789abcdef0123456789abcdef0123",
		"stripe_key":   "sk_live_0123456789abcdefghij",
		"DB_PASSWORD":  "hunter2-hunter2-hunter2",
		"ClientSecret": "s3cr3t-s3cr3t-s3cr3t",
	}
	src := "name = \"shop\"\nmain = \"src/index.js\"\ncompatibility_date = \"2025-06-01\"\n\n[vars]\nSTYLE = \"plain\"\nPIN_PASSWORD = 987654321012\n" +
		"\"my-secret-thing\" = \"dashed-secret-value-0123456789\"\n"
	for k, v := range values {
		src += k + " = \"" + v + "\"\n"
	}
	src += "\n[env.staging.vars]\nAPI_TOKEN = \"tok-staging-0123456789abcdef\"\n"
	res, err := Convert("wrangler.toml", []byte(src), Options{Today: "2025-07-01"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"vars.API_TOKEN", "vars.ClientSecret", "vars.DB_PASSWORD", "vars.PIN_PASSWORD", "vars.my-secret-thing", "vars.stripe_key", "env.staging.vars.API_TOKEN"}
	if strings.Join(res.SecretVars, ",") != strings.Join(want, ",") {
		t.Errorf("SecretVars = %v, want %v", res.SecretVars, want)
	}
	for _, key := range want {
		if key == "vars.my-secret-thing" {
			continue
		}
		name := key[strings.LastIndex(key, ".")+1:]
		if !containsPrefix(res.Notes, key+": its name says it is a secret") || !strings.Contains(strings.Join(res.Notes, "\n"), "export "+name+"=<its value>") {
			t.Errorf("notes lack %s as a secret to export: %v", key, res.Notes)
		}
	}
	// A name that cannot be a binding name in the spec is reported with a rename, not written.
	if !containsPrefix(res.NotCarried, "vars.my-secret-thing: its name says it is a secret, but") ||
		!strings.Contains(strings.Join(res.NotCarried, "\n"), "MY_SECRET_THING") {
		t.Errorf("the dashed secret name is not reported with a rename: %v", res.NotCarried)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "before `flareform apply --env staging`") {
		t.Errorf("the staging note does not say which apply needs the secret: %v", res.Notes)
	}
	// Every value here follows the secret rule (a 23-character password is a fine secret): none
	// is flagged. TestSecretVarValuesBreakingTheRuleAreFlagged has the ones that break it.
	if strings.Contains(strings.Join(res.Notes, "\n"), "would be refused as a secret") {
		t.Errorf("notes flag a value that follows the secret rule: %v", res.Notes)
	}
	if containsPrefix(res.Notes, "vars.STYLE") {
		t.Errorf("STYLE reported as a secret: %v", res.Notes)
	}
	report := strings.Join(append(append(append([]string{string(res.Spec)}, res.Notes...), res.NotCarried...), res.SecretVars...), "\n")
	for _, v := range append(mapValues(values), "987654321012", "tok-staging-0123456789abcdef", "dashed-secret-value-0123456789") {
		if strings.Contains(report, v) {
			t.Errorf("the spec or the report shows the value %q:\n%s", v, report)
		}
	}
	for _, line := range []string{`      API_TOKEN: "env:API_TOKEN"`, `      stripe_key: "env:stripe_key"`, `      PIN_PASSWORD: "env:PIN_PASSWORD"`} {
		if !strings.Contains(string(res.Spec), line+"\n") {
			t.Errorf("spec lacks %s:\n%s", line, res.Spec)
		}
	}
	// The spec loads with the variables exported, and binds each as a secret, none as a var.
	exported := func(name string) string { return "exported-value-of-" + name + "-0123456789" }
	w := loadWith(t, res.Spec, "", exported).Workers[0]
	got := map[string]string{}
	for _, sec := range w.Secrets {
		got[sec.Binding] = sec.From + ":" + sec.Ref
	}
	for _, name := range []string{"API_TOKEN", "ClientSecret", "DB_PASSWORD", "PIN_PASSWORD", "stripe_key"} {
		if got[name] != "env:"+name {
			t.Errorf("secret %s = %q, want env:%s (secrets %v)", name, got[name], name, w.Secrets)
		}
		if _, ok := w.Vars[name]; ok {
			t.Errorf("%s is still a var", name)
		}
	}
	if w.Vars["STYLE"] != "plain" {
		t.Errorf("vars = %v", w.Vars)
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
