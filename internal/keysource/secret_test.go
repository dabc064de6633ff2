package keysource

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const pemSecret = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----"

func TestCheckSecretAcceptsWhatUsersBring(t *testing.T) {
	for name, value := range map[string]string{
		"one byte":         "x",
		"webhook secret":   "whsec_20-characters!",
		"a space":          "token with a space",
		"PEM key":          pemSecret,
		"JSON":             "{\n  \"type\": \"service_account\",\n  \"private_key\": \"a\\nb\"\n}\n",
		"non-ASCII":        "pässwörd-秘密",
		"5120 bytes":       strings.Repeat("s", MaxSecretBytes),
		"trailing newline": "value\n", // from env, used as is
	} {
		if err := CheckSecret(value); err != nil {
			t.Errorf("%s: CheckSecret refused it: %v", name, err)
		}
	}
}

func TestCheckSecretRefusesAndNeverShowsTheValue(t *testing.T) {
	for name, tc := range map[string]struct{ value, want string }{
		"empty":       {"", "the secret is empty; " + SecretRule},
		"5121 bytes":  {strings.Repeat("canary-", MaxSecretBytes/7) + "cana", "the secret is 5121 bytes; a Worker secret holds at most 5120"},
		"NUL":         {"canary-secret\x00canary-secret", "the secret holds a NUL byte; " + SecretRule},
		"not UTF-8":   {"canary-secret\xff\xfe", "the secret is not valid UTF-8 text; " + SecretRule},
		"environ-ish": {"PATH=/usr/bin\x00CLOUDFLARE_API_TOKEN=canary-secret\x00", "NUL byte"},
	} {
		t.Run(name, func(t *testing.T) {
			err := CheckSecret(tc.value)
			var ke *Error
			if !errors.As(err, &ke) || ke.Fix == "" {
				t.Fatalf("CheckSecret = %v; want an *Error with a fix", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if strings.Contains(err.Error()+ke.Fix, "canary") {
				t.Errorf("error %q (fix %q) shows the value", err, ke.Fix)
			}
		})
	}
}

func TestResolveSecretEnvIsUsedAsIs(t *testing.T) {
	env := map[string]string{"SHORT": "abc", "NL": "abc\n", "BIG": strings.Repeat("b", MaxSecretBytes+1)}
	getenv := func(k string) string { return env[k] }
	for name, want := range map[string]string{"SHORT": "abc", "NL": "abc\n"} {
		if got, err := ResolveSecret(KindEnv, name, getenv); err != nil || got != want {
			t.Errorf("ResolveSecret(env:%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := ResolveSecret(KindEnv, "UNSET", getenv); err == nil || !strings.Contains(err.Error(), "UNSET is empty or unset") {
		t.Errorf("unset variable: %v", err)
	}
	_, err := ResolveSecret(KindEnv, "BIG", getenv)
	if err == nil || err.Error() != "environment variable BIG: the secret is 5121 bytes; a Worker secret holds at most 5120" {
		t.Errorf("oversize variable: %v", err)
	}
}

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for content, want := range map[string]string{
		pemSecret + "\n":   pemSecret,
		pemSecret + "\r\n": pemSecret,
		"short\n\n":        "short\n", // one newline only is dropped
		"a b":              "a b",
		strings.Repeat("s", MaxSecretBytes) + "\n": strings.Repeat("s", MaxSecretBytes),
	} {
		got, err := ResolveSecret(KindFile, write("ok", content), nil)
		if err != nil || got != want {
			t.Errorf("file of %d bytes: %d bytes, %v; want %d bytes", len(content), len(got), err, len(want))
		}
	}
	big := write("big", strings.Repeat("canary\n", 1000)) // 7000 bytes
	_, err := ReadSecretFile(big)
	if err == nil || err.Error() != "secret file "+big+": the file is 7000 bytes; a Worker secret holds at most 5120" {
		t.Errorf("oversize file: %v", err)
	}
	for name, content := range map[string]string{
		"empty":        "",
		"only newline": "\n",
		"NUL":          "canary\x00canary",
		"huge":         strings.Repeat("canary", MaxSecretFileBytes/6+1),
	} {
		_, err := ReadSecretFile(write(name, content))
		var ke *Error
		if !errors.As(err, &ke) || ke.Fix == "" || !strings.HasPrefix(err.Error(), "secret file ") {
			t.Errorf("%s: ReadSecretFile = %v; want a refusal with a fix", name, err)
		} else if strings.Contains(err.Error()+ke.Fix, "canary") {
			t.Errorf("%s: error %q shows the content", name, err)
		}
	}
	if _, err := ReadSecretFile("/dev/zero"); err == nil || !strings.Contains(err.Error(), "under /dev") {
		t.Errorf("/dev/zero: %v", err)
	}
}

func TestSecretRuleNamesTheLimit(t *testing.T) {
	if want := fmt.Sprintf("a secret is 1 to %d bytes of UTF-8 text without NUL bytes", MaxSecretBytes); SecretRule != want {
		t.Errorf("SecretRule = %q, want %q", SecretRule, want)
	}
}

// FuzzCheckSecret: whatever the input, CheckSecret accepts exactly the rule, and its error
// shows no part of the input.
func FuzzCheckSecret(f *testing.F) {
	for _, seed := range []string{"", "x", "a\x00b", pemSecret, "\xff", strings.Repeat("k", MaxSecretBytes+1)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		err := CheckSecret(value)
		ok := value != "" && len(value) <= MaxSecretBytes && !strings.Contains(value, "\x00") && isUTF8(value)
		if (err == nil) != ok {
			t.Fatalf("CheckSecret(%q) = %v", value, err)
		}
		if err != nil && len(value) >= 8 && strings.Contains(err.Error(), value) {
			t.Fatalf("error %q holds the input", err)
		}
	})
}

func isUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
