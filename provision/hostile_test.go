package provision

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision/spec"
)

// TestSmokeBodyFileIsReadInsideTheProject: the smoke test reads smoke.body_file again when it
// sends it, under the loader's rules: a body file replaced since the spec was loaded by a link
// out of the project, into /proc or to /dev/zero is refused, not sent to the worker's URL.
func TestSmokeBodyFileIsReadInsideTheProject(t *testing.T) {
	const content = "aws_secret_access_key=CANARY0123456789abcdefghij"
	outside := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(outside, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ target, want string }{
		"link out of the project": {outside, "lies outside the project"},
		"link to dev zero":        {"/dev/zero", "under /dev"},
		"link to proc environ":    {"/proc/self/environ", "under /proc"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			root, err := filepath.EvalSymlinks(dir)
			if err != nil {
				t.Fatal(err)
			}
			body := filepath.Join(dir, "sample.bin")
			if err := os.Symlink(tc.target, body); err != nil {
				t.Fatal(err)
			}
			_, err = smokeRequestBody(spec.Smoke{BodyFile: body, BodyFileRoot: root, ContentType: "audio/wav"})
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), content) {
				t.Fatalf("smokeRequestBody: %v; want an error saying %q, without the file's content", err, tc.want)
			}
		})
	}
	t.Run("a file inside is sent", func(t *testing.T) {
		dir := t.TempDir()
		root, err := filepath.EvalSymlinks(dir)
		if err != nil {
			t.Fatal(err)
		}
		body := filepath.Join(dir, "sample.bin")
		if err := os.WriteFile(body, []byte("RIFF"), 0o644); err != nil {
			t.Fatal(err)
		}
		req, err := smokeRequestBody(spec.Smoke{BodyFile: body, BodyFileRoot: root, ContentType: "audio/wav"})
		if err != nil || string(req.body) != "RIFF" {
			t.Fatalf("smokeRequestBody = %q, %v", req.body, err)
		}
	})
}

// TestResolveKeyRefusesTheAccountToken: a key file that holds the API token in use (written
// after the spec was loaded) is refused when plan reads the key, never deployed as a worker key.
func TestResolveKeyRefusesTheAccountToken(t *testing.T) {
	const token = "Hx7_kQ2-canaryTOKEN-9f8e7d6c5b4a3921aBcD"
	file := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(name string) string {
		return map[string]string{"CLOUDFLARE_API_TOKEN": token, "OTHER": token}[name]
	}
	for _, src := range []*spec.KeySource{
		{Binding: "API_KEY", From: "file", Ref: file},
		{Binding: "API_KEY", From: "env", Ref: "OTHER"},
		{Binding: "API_KEY", From: "env", Ref: "CLOUDFLARE_API_TOKEN"},
	} {
		key, err := resolveKey(src, getenv)
		if err == nil || key != "" || !strings.Contains(err.Error(), "CLOUDFLARE_API_TOKEN") || strings.Contains(err.Error(), token) {
			t.Errorf("resolveKey(%s:%s) = %d-byte key, %v; want a refusal naming CLOUDFLARE_API_TOKEN, not its value", src.From, src.Ref, len(key), err)
		}
	}
}
