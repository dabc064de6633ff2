package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostileSecretCase is a spec or flag that would hand a secret (the account's token, a worker's
// key, a file from elsewhere on the machine) to a worker, its clients or the output.
type hostileSecretCase struct {
	name string
	// setup edits the project in dir; it returns extra environment variables and secrets that
	// must appear in no output besides the token and env's values.
	setup func(t *testing.T, dir string) (env map[string]string, secrets []string)
	// commands to run, each of which must be refused; nil: plan and apply.
	commands [][]string
	want     []string // substrings of stderr; "LINE:<text>" is the spec's file:line of <text>
}

// TestHostileSecretsAreRefused runs each case's commands through the CLI against an API that
// fails the test on any write: each must exit 1 within seconds with the rule and, for the
// spec's inputs, the file:line, and print no token, key or file content.
func TestHostileSecretsAreRefused(t *testing.T) {
	apiURL := failOnWriteAPI(t) // any write fails the test

	for _, tc := range hostileSecretCases() {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeHostileProject(t, dir)
			extraEnv, secrets := tc.setup(t, dir)
			env := hostileEnv(apiURL, extraEnv)
			secrets = append(append(secrets, hostileToken), envValues(extraEnv)...)
			commands := tc.commands
			if commands == nil {
				commands = [][]string{{"plan"}, {"apply", "--auto-approve", "--no-smoke"}}
			}
			specPath := filepath.Join(dir, "flareform.yaml")
			for _, args := range commands {
				t.Run(args[0], func(t *testing.T) {
					r := runWithin(t, 10*time.Second, append([]string{"-f", specPath}, args...), env)
					if r.code != exitError {
						t.Fatalf("exit %d, want %d: stdout %q stderr %q", r.code, exitError, r.stdout, r.stderr)
					}
					for _, want := range tc.want {
						if text, ok := strings.CutPrefix(want, "LINE:"); ok {
							want = fmt.Sprintf("flareform.yaml:%d:", lineOf(t, specPath, text))
						}
						if !strings.Contains(r.stderr, want) {
							t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
						}
					}
					if os.Getenv("SHOW_STDERR") != "" {
						t.Log(r.stderr)
					}
					for _, secret := range secrets {
						if secret != "" && strings.Contains(r.stdout+r.stderr, secret) {
							t.Errorf("output shows a secret %q:\n%s%s", secret, r.stdout, r.stderr)
						}
					}
				})
			}
		})
	}
}

// fileContent is the content of files outside the project the cases point at; it must not
// reach any output.
const fileContent = "aws_secret_access_key=CANARYsecret0123456789abcdefghij"

func hostileSecretCases() []hostileSecretCase {
	const workerKey = "worker-key-0123456789abcdef0123456789abcd"
	spec := func(dir string) string { return filepath.Join(dir, "flareform.yaml") }
	useKeyFrom := func(t *testing.T, dir, from string) {
		editFile(t, spec(dir), "from: generate", "from: "+from)
	}
	// outsideFile writes fileContent to a file in a folder of its own, outside the project.
	outsideFile := func(t *testing.T, name string) string {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(fileContent+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	symlink := func(t *testing.T, target, link string) {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	useMain := func(t *testing.T, dir, main string) {
		editFile(t, spec(dir), "main: ./src/worker.js", "main: "+main)
	}
	useBodyFile := func(t *testing.T, dir, bodyFile string) {
		replaceBlock(t, spec(dir), "    smoke:", "      body_file: "+bodyFile+"\n      content_type: image/png\n      expect: image/\n")
	}
	rotate := func(from string) [][]string { return [][]string{{"rotate-key", "images", "--from", from}} }
	accountToken := "every client of the worker would hold the Cloudflare account's API token"

	return []hostileSecretCase{
		{name: "api_key from env:CLOUDFLARE_API_TOKEN",
			want: []string{"LINE:from: env:CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_TOKEN holds the Cloudflare account's credentials", accountToken, "from: generate"},
			setup: func(t *testing.T, dir string) (map[string]string, []string) {
				useKeyFrom(t, dir, "env:CLOUDFLARE_API_TOKEN")
				return nil, nil
			}},
		{name: "api_key from env:CF_API_TOKEN",
			want: []string{"LINE:from: env:CF_API_TOKEN", "CF_API_TOKEN holds the Cloudflare account's credentials", accountToken},
			setup: func(t *testing.T, dir string) (map[string]string, []string) {
				useKeyFrom(t, dir, "env:CF_API_TOKEN")
				return map[string]string{"CF_API_TOKEN": "old-name-token-0123456789abcdef0123456789"}, nil
			}},
		{name: "api_key from another variable holding the token",
			want: []string{"LINE:from: env:OTHER", "the key is the value of CLOUDFLARE_API_TOKEN", accountToken},
			setup: func(t *testing.T, dir string) (map[string]string, []string) {
				useKeyFrom(t, dir, "env:OTHER")
				return map[string]string{"OTHER": hostileToken}, nil
			}},
		{name: "api_key from a file holding the token",
			want: []string{"LINE:from: file:./key.txt", "the key is the value of CLOUDFLARE_API_TOKEN", accountToken},
			setup: func(t *testing.T, dir string) (map[string]string, []string) {
				if err := os.WriteFile(filepath.Join(dir, "key.txt"), []byte(hostileToken+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				useKeyFrom(t, dir, "file:./key.txt")
				return nil, nil
			}},
		{name: "var holding the api key",
			want: []string{`LINE:LEAK: "${MYKEY}"`, `vars.LEAK holds the worker's API key (api_key.from "env:MYKEY")`, "uploaded as plain text"},
			setup: func(t *testing.T, dir string) (map[string]string, []string) {
				useKeyFrom(t, dir, "env:MYKEY")
				editFile(t, spec(dir), `MAX_PROMPT_CHARS: "1000"`, `MAX_PROMPT_CHARS: "1000"`+"\n      LEAK: \"${MYKEY}\"")
				return map[string]string{"MYKEY": workerKey}, []string{workerKey}
			}},
		{name: "var holding the token",
			want: []string{`LINE:T: "${SAME}"`, "vars.T holds the value of CLOUDFLARE_API_TOKEN, a credential"},
			setup: func(t *testing.T, dir string) (map[string]string, []string) {
				editFile(t, spec(dir), `MAX_PROMPT_CHARS: "1000"`, `MAX_PROMPT_CHARS: "1000"`+"\n      T: \"${SAME}\"")
				return map[string]string{"SAME": hostileToken}, nil
			}},
		{name: "main as a 5 GB sparse file",
			want: []string{"LINE:main: ./src/huge.js", "larger than 10485760 bytes"},
			setup: func(t *testing.T, dir string) (map[string]string, []string) {
				huge := filepath.Join(dir, "src", "huge.js")
				if err := os.WriteFile(huge, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(huge, 5<<30); err != nil {
					t.Fatal(err)
				}
				useMain(t, dir, "./src/huge.js")
				return nil, nil
			}},
		{name: "main through a symlink out of the project",
			want: []string{"LINE:main: ./src/link.js", "lies outside the project"},
			setup: func(t *testing.T, dir string) (map[string]string, []string) {
				symlink(t, outsideFile(t, "worker.js"), filepath.Join(dir, "src", "link.js"))
				useMain(t, dir, "./src/link.js")
				return nil, []string{fileContent}
			}},
		{name: "main out of the project through ..",
			want: []string{"LINE:main: ../", "lies outside the project"},
			setup: func(t *testing.T, dir string) (map[string]string, []string) {
				rel, err := filepath.Rel(dir, outsideFile(t, "worker.js"))
				if err != nil {
					t.Fatal(err)
				}
				useMain(t, dir, filepath.ToSlash(rel))
				return nil, []string{fileContent}
			}},
		{name: "main as a symlink to proc self environ",
			want: []string{"LINE:main: ./src/environ.js", "under /proc"},
			setup: func(t *testing.T, dir string) (map[string]string, []string) {
				symlink(t, "/proc/self/environ", filepath.Join(dir, "src", "environ.js"))
				useMain(t, dir, "./src/environ.js")
				return nil, []string{os.Getenv("PATH")}
			}},
		{name: "body_file out of the project",
			want: []string{"LINE:body_file: ", "lies outside the project"},
			setup: func(t *testing.T, dir string) (map[string]string, []string) {
				useBodyFile(t, dir, outsideFile(t, "credentials"))
				return nil, []string{fileContent}
			}},
		{name: "body_file as a symlink to dev zero",
			want: []string{"LINE:body_file: ./sample.bin", "under /dev"},
			setup: func(t *testing.T, dir string) (map[string]string, []string) {
				symlink(t, "/dev/zero", filepath.Join(dir, "sample.bin"))
				useBodyFile(t, dir, "./sample.bin")
				return nil, nil
			}},
		{name: "rotate-key --from env:CLOUDFLARE_API_TOKEN", commands: rotate("env:CLOUDFLARE_API_TOKEN"),
			want:  []string{"--from env:CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_TOKEN holds the Cloudflare account's credentials", accountToken},
			setup: func(t *testing.T, dir string) (map[string]string, []string) { return nil, nil }},
		{name: "rotate-key --from a variable holding the token", commands: rotate("env:OTHER"),
			want: []string{"--from env:OTHER", "the key is the value of CLOUDFLARE_API_TOKEN", accountToken},
			setup: func(t *testing.T, dir string) (map[string]string, []string) {
				return map[string]string{"OTHER": hostileToken}, nil
			}},
	}
}

// replaceBlock replaces the content of the YAML block that starts with the line header (the
// lines after it indented deeper) with content.
func replaceBlock(t *testing.T, path, header, content string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	indent := len(header) - len(strings.TrimLeft(header, " "))
	for i, line := range lines {
		if strings.TrimRight(line, "\n") != header {
			continue
		}
		end := i + 1
		for end < len(lines) && (strings.TrimSpace(lines[end]) == "" || len(lines[end])-len(strings.TrimLeft(lines[end], " ")) > indent) {
			end++
		}
		out := strings.Join(lines[:i+1], "") + content + strings.Join(lines[end:], "")
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s has no line %q", path, header)
}
