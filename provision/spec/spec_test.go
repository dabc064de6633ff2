package spec

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flareform/flareform/internal/confined"
)

const (
	testAccountID = "0123456789abcdef0123456789abcdef"
	badDir        = "../../testdata/bad"
	goodDir       = "../../testdata/good"
)

func envMap(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

// corpusHeader reads the leading `# want: ...` lines and an optional `# env: NAME` line.
func corpusHeader(t *testing.T, path string) (wants []string, env string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if w, ok := strings.CutPrefix(line, "# want: "); ok {
			wants = append(wants, w)
		} else if e, ok := strings.CutPrefix(line, "# env: "); ok {
			env = e
		} else {
			break
		}
	}
	return wants, env
}

func TestLoadBadCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(badDir, "*.yaml"))
	if err != nil || len(files) < 40 {
		t.Fatalf("bad corpus: %d files, err %v; want at least 40", len(files), err)
	}
	getenv := envMap(map[string]string{"CLOUDFLARE_ACCOUNT_ID": testAccountID})
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			wants, env := corpusHeader(t, file)
			if len(wants) == 0 {
				t.Fatalf("%s has no `# want:` first line", file)
			}
			s, err := Load(file, env, getenv)
			if err == nil {
				t.Fatalf("Load accepted a bad spec: %+v", s)
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("err is %T, want a non-empty ErrorList: %v", err, err)
			}
			for _, e := range list {
				if e.File != file || e.Msg == "" {
					t.Errorf("error %q: File %q (want %q), Msg %q", e, e.File, file, e.Msg)
				}
			}
			for _, want := range wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("errors lack %q; got:\n%v", want, err)
				}
			}
		})
	}
}

func TestLoadNeverPrintsSecrets(t *testing.T) {
	const secret = "s3cr3t-key-value-do-not-print"
	dir := t.TempDir()
	writeWorker(t, dir)
	path := writeSpec(t, dir, `account_id: ${SECRET}
workers:
  image-api:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    api_key: { from: "${SECRET}" }
    vars: { BIG: "${SECRET}${PAD}" }
`)
	_, err := Load(path, "", envMap(map[string]string{"SECRET": secret, "PAD": strings.Repeat("x", MaxVarBytes)}))
	if err == nil {
		t.Fatal("Load accepted a secret as account_id and api_key.from")
	}
	msg := err.Error()
	if strings.Contains(msg, secret) {
		t.Fatalf("error output contains the secret value:\n%s", msg)
	}
	for _, want := range []string{`account_id "${SECRET}" (after expanding`, `api_key.from "${SECRET}" (after expanding`, "vars.BIG is"} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors lack %q:\n%s", want, msg)
		}
	}
}

func TestLoadEnvKeyNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	writeWorker(t, dir)
	path := writeSpec(t, dir, `workers:
  image-api:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    api_key: { from: "env:MY_KEY" }
`)
	s, err := Load(path, "", envMap(map[string]string{"MY_KEY": "hunter2-secret-hunter2-secret-hunter2"}))
	if err != nil {
		t.Fatal(err)
	}
	if k := s.Workers[0].APIKey; k.From != "env" || k.Ref != "MY_KEY" {
		t.Errorf("APIKey = %+v; want env MY_KEY", k)
	}
}

func writeWorker(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "src", "worker.js"), []byte("export default {};\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeSpec(t *testing.T, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "flareform.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadGoodSpecPerEnvironment(t *testing.T) {
	path := filepath.Join(goodDir, "full.yaml")
	absDir, err := filepath.Abs(goodDir)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := confined.ProjectTree(path)
	if err != nil {
		t.Fatal(err)
	}
	mainPath := filepath.Join(absDir, "src", "worker.js")
	keyPath := filepath.Join(absDir, "keys", "api-key.txt")
	getenv := envMap(map[string]string{"CLOUDFLARE_ACCOUNT_ID": testAccountID, "PROD_IMAGE_KEY": "prod-secret-0123456789abcdef0123456789",
		"OPENAI_KEY": "sk-openai-0123456789abcdef0123456789ab", "PROD_OPENAI_KEY": "sk-prod-openai-0123456789abcdef01234567"})

	chat := Worker{
		Key: "chat", Name: "chat-api", Main: mainPath, CompatibilityDate: "2025-05-01",
		APIKey:     &KeySource{Binding: "API_KEY", From: "file", Ref: keyPath},
		WorkersDev: false,
		// One namespace shared with image-api, one database under two names.
		KV:    []StorageBinding{{Binding: "CACHE", Name: "my-api-cache"}},
		D1:    []StorageBinding{{Binding: "DB", Name: "my-api-db"}, {Binding: "REPORTS", Name: "my-api-db"}},
		Smoke: &Smoke{Path: "/chat", Method: "POST", Prompt: "hello", Expect: "application/json", Status: 201, UnauthorizedStatus: 403, MethodStatus: 404},
	}
	image := Worker{
		Key: "image-api", Name: "image-api", Main: mainPath, CompatibilityDate: "2025-06-01",
		CompatibilityFlags: []string{"nodejs_compat"},
		AI:                 &AIBinding{Binding: "AI", Model: "@cf/stabilityai/stable-diffusion-xl-base-1.0"},
		APIKey:             &KeySource{Binding: "API_KEY", From: "generate"},
		Vars:               map[string]string{"MAX_PROMPT_CHARS": "1000", "GREETING": "hello $5"},
		WorkersDev:         true,
		Smoke:              &Smoke{Path: "/", Method: "POST", Prompt: "a cute robot cooking breakfast", Expect: "image/png", Status: 200, UnauthorizedStatus: 401, MethodStatus: 405},
		Secrets:            []KeySource{{Binding: "OPENAI_KEY", From: "env", Ref: "OPENAI_KEY"}, {Binding: "WEBHOOK_SECRET", From: "file", Ref: keyPath}},
		KV:                 []StorageBinding{{Binding: "CACHE", Name: "my-api-cache"}},
		R2:                 []StorageBinding{{Binding: "IMAGES", Name: "my-api-images"}},
		D1:                 []StorageBinding{{Binding: "DB", Name: "my-api-db"}},
	}
	staging := image
	staging.Name = "image-api-staging"
	staging.Vars = map[string]string{"MAX_PROMPT_CHARS": "200", "GREETING": "hello $5", "DEBUG": "1"}
	staging.Smoke = nil
	// kv and r2 merge name by name: CACHE is renamed, THUMBS added, IMAGES kept.
	staging.KV = []StorageBinding{{Binding: "CACHE", Name: "my-api-cache-staging"}}
	staging.R2 = []StorageBinding{{Binding: "IMAGES", Name: "my-api-images"}, {Binding: "THUMBS", Name: "my-api-thumbs-staging"}}
	prod := image
	prod.APIKey = &KeySource{Binding: "API_KEY", From: "env", Ref: "PROD_IMAGE_KEY"}
	prod.AI = &AIBinding{Binding: "MODEL_RUNNER", Model: "@cf/black-forest-labs/flux-1-schnell"}
	prod.CompatibilityDate = "2025-07-01"
	prod.WorkersDev = false
	prod.Secrets = []KeySource{{Binding: "OPENAI_KEY", From: "env", Ref: "PROD_OPENAI_KEY"}, {Binding: "WEBHOOK_SECRET", From: "file", Ref: keyPath}}

	cases := []struct {
		env       string
		accountID string
		workers   []Worker
	}{
		{"", testAccountID, []Worker{chat, image}},
		{"staging", testAccountID, []Worker{chat, staging}},
		{"prod", "fedcba9876543210fedcba9876543210", []Worker{chat, prod}},
	}
	for _, tc := range cases {
		t.Run("env="+tc.env, func(t *testing.T) {
			s, err := Load(path, tc.env, getenv)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := *s
			got.Workers = withoutPos(s.Workers)
			want := Spec{File: path, Dir: absDir, Root: tree.Root, Env: tc.env, AccountID: tc.accountID, AccountIDPos: got.AccountIDPos, Workers: tc.workers}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("spec mismatch\n got: %s\nwant: %s", dump(got), dump(want))
			}
		})
	}
}

func withoutPos(ws []Worker) []Worker {
	out := make([]Worker, len(ws))
	for i, w := range ws {
		w.Pos = nil
		out[i] = w
	}
	return out
}

func dump(s Spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s root=%s env=%q account=%s", s.File, s.Dir, s.Root, s.Env, s.AccountID)
	for _, w := range s.Workers {
		fmt.Fprintf(&b, "\n  %+v\n    ai=%+v key=%+v smoke=%+v", w, deref(w.AI), deref(w.APIKey), deref(w.Smoke))
	}
	return b.String()
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestLoadPositions(t *testing.T) {
	path := filepath.Join(goodDir, "full.yaml")
	// OPENAI_KEY is unset: prod replaces that secret, so the base's source is never read.
	getenv := envMap(map[string]string{"CLOUDFLARE_ACCOUNT_ID": testAccountID, "PROD_IMAGE_KEY": "k-0123456789abcdef0123456789abcdef", "PROD_OPENAI_KEY": "sk-prod-openai-0123456789abcdef01234567"})
	s, err := Load(path, "prod", getenv)
	if err != nil {
		t.Fatal(err)
	}
	if s.AccountIDPos != (Position{Line: 50, Col: 17}) {
		t.Errorf("AccountIDPos = %+v; want the prod override at 50:17", s.AccountIDPos)
	}
	image := s.Workers[1]
	wantPos := map[string]Position{
		"key":                       {Line: 5, Col: 3},
		"":                          {Line: 5, Col: 3},
		"name":                      {Line: 5, Col: 3},
		"main":                      {Line: 6, Col: 11},
		"compatibility_date":        {Line: 55, Col: 29}, // overridden by prod
		"ai.model":                  {Line: 54, Col: 45},
		"api_key.from":              {Line: 53, Col: 26},
		"vars.MAX_PROMPT_CHARS":     {Line: 12, Col: 25},
		"smoke.prompt":              {Line: 15, Col: 15},
		"smoke.unauthorized_status": {Line: 14, Col: 5},  // defaulted: points at the block
		"secrets":                   {Line: 57, Col: 9},  // the environment's block
		"secrets.OPENAI_KEY":        {Line: 57, Col: 32}, // overridden by prod
		"secrets.WEBHOOK_SECRET":    {Line: 19, Col: 23},
		"kv":                        {Line: 20, Col: 5},
		"kv.CACHE":                  {Line: 20, Col: 18},
		"r2.IMAGES":                 {Line: 21, Col: 19},
		"d1.DB":                     {Line: 22, Col: 15},
	}
	for path, want := range wantPos {
		if got := image.Pos[path]; got != want {
			t.Errorf("Pos[%q] = %+v; want %+v", path, got, want)
		}
	}
	err = s.ErrorAt(image.Pos["ai.model"], "model not found", "pick one from `flareform models`")
	if want := path + ":54:45: model not found; pick one from `flareform models`"; err.Error() != want {
		t.Errorf("ErrorAt = %q; want %q", err, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), "", nil)
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 || !strings.Contains(err.Error(), "nope.yaml: cannot read spec") {
		t.Errorf("err = %v; want one ErrorList entry naming nope.yaml", err)
	}
	var one *Error
	if !errors.As(err, &one) {
		t.Errorf("errors.As(*Error) failed on %T", err)
	}
}

func TestExpand(t *testing.T) {
	getenv := envMap(map[string]string{"A": "alpha", "EMPTY": ""})
	cases := []struct {
		in, want string
		used     bool
		errSub   string
	}{
		{"plain", "plain", false, ""},
		{"${A}", "alpha", true, ""},
		{"x-${A}-y", "x-alpha-y", true, ""},
		{"${MISSING:-fallback}", "fallback", true, ""},
		{"${EMPTY:-fallback}", "fallback", true, ""},
		{"${A:-fallback}", "alpha", true, ""},
		{"$$A and $${A}", "$A and ${A}", false, ""},
		{"cost: $5", "cost: $5", false, ""},
		{"trailing $", "trailing $", false, ""},
		{"${MISSING}", "", false, "MISSING is not set"},
		{"${EMPTY}", "", false, "EMPTY is not set"},
		{"${bad-name}", "", false, "not a valid variable reference"},
		{"${A", "", false, "unterminated"},
	}
	for _, tc := range cases {
		got, used, errs := expand(tc.in, getenv)
		if tc.errSub != "" {
			if len(errs) == 0 || !strings.Contains(errs[0].msg, tc.errSub) {
				t.Errorf("expand(%q) errs = %+v; want %q", tc.in, errs, tc.errSub)
			}
			continue
		}
		if len(errs) > 0 || got != tc.want || used != tc.used {
			t.Errorf("expand(%q) = %q, used %v, errs %+v; want %q, used %v", tc.in, got, used, errs, tc.want, tc.used)
		}
	}
}

func TestCheckWorkerName(t *testing.T) {
	good := []string{"image-api", "a", "image_api", "_private", "x1-2_3", strings.Repeat("a", 63)}
	for _, name := range good {
		if problem, _ := CheckWorkerName(name); problem != "" {
			t.Errorf("CheckWorkerName(%q) = %q; want ok", name, problem)
		}
	}
	bad := map[string]string{
		"":                      "empty",
		"Image-API":             `"image-api"`,
		"-image":                `"image"`,
		"image-":                `"image"`,
		"image api":             `"image-api"`,
		"image.api":             `"image-api"`,
		strings.Repeat("a", 64): "64 characters",
	}
	for name, want := range bad {
		problem, fix := CheckWorkerName(name)
		if problem == "" || !strings.Contains(problem+"; "+fix, want) {
			t.Errorf("CheckWorkerName(%q) = %q; %q; want a problem mentioning %s", name, problem, fix, want)
		}
		if suggestion := SuggestWorkerName(name); suggestion != "" {
			if p, _ := CheckWorkerName(suggestion); p != "" {
				t.Errorf("SuggestWorkerName(%q) = %q, itself invalid: %s", name, suggestion, p)
			}
		}
	}
}

func TestClosest(t *testing.T) {
	keys := []string{"main", "name", "vars", "compatibility_date", "compatibility_flags", "workers_dev"}
	cases := map[string]string{"mian": "main", "var": "vars", "compatibilty_date": "compatibility_date", "workersdev": "workers_dev", "compat_date": "compatibility_date", "compat": "", "zzz": "", "x": ""}
	for in, want := range cases {
		if got := closest(in, keys); got != want {
			t.Errorf("closest(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestWorkerNodeCompat(t *testing.T) {
	if (Worker{CompatibilityFlags: []string{"nodejs_compat"}}).NodeCompat() != true {
		t.Error("nodejs_compat should enable NodeCompat")
	}
	if (Worker{CompatibilityFlags: []string{"streams_enable_constructors"}}).NodeCompat() {
		t.Error("other flags should not enable NodeCompat")
	}
}

func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(badDir, "*.yaml"))
	goods, _ := filepath.Glob(filepath.Join(goodDir, "*.yaml"))
	for _, p := range append(seeds, goods...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data, "")
		}
	}
	f.Add([]byte("workers: {a: {main: x, compatibility_date: '2025-01-01'}}\nenvironments: {s: {}}"), "s")
	f.Add([]byte("a: &a [*a]"), "")
	f.Add([]byte("workers:\n  a:\n    name: ${TOKEN}\n    main: ${TOKEN}\n    api_key: {from: \"file:${TOKEN}\"}\n"), "")
	// Whatever the spec, an expanded value never appears in an error unless the spec itself
	// holds it.
	const canary = "Canary-Token-5f4e3d2c1b0a"
	getenv := envMap(map[string]string{"CLOUDFLARE_ACCOUNT_ID": testAccountID, "TOKEN": canary})
	f.Fuzz(func(t *testing.T, data []byte, env string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "flareform.yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Load(path, env, getenv)
		if err != nil && !strings.Contains(strings.ToLower(string(data)), strings.ToLower(canary)) &&
			strings.Contains(strings.ToLower(err.Error()), strings.ToLower(canary)) {
			t.Fatalf("error shows the expanded value:\n%v", err)
		}
		if err == nil {
			if s == nil || len(s.Workers) == 0 {
				t.Fatalf("Load returned no error and spec %+v", s)
			}
			return
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("err %T is not a non-empty ErrorList: %v", err, err)
		}
		for _, e := range list {
			if e.Msg == "" || e.File != path {
				t.Fatalf("malformed error %+v", e)
			}
		}
	})
}

// TestLoadRefusesCredentialsInTheSpec: `name: ${CLOUDFLARE_API_TOKEN}` printed the token in
// the error; now no spec value may use a credential variable, and the message shows the
// reference as written.
func TestLoadRefusesCredentialsInTheSpec(t *testing.T) {
	const canary = "Hx7_kQ2-canaryTOKEN-9f8e7d6c5b4a3921aBcD"
	dir := t.TempDir()
	writeWorker(t, dir)
	path := writeSpec(t, dir, `workers:
  image-api:
    name: ${CLOUDFLARE_API_TOKEN}
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    vars: { TOKEN: "x${FLAREFORM_API_KEY:-none}" }
`)
	_, err := Load(path, "", envMap(map[string]string{"CLOUDFLARE_API_TOKEN": canary, "FLAREFORM_API_KEY": canary}))
	if err == nil {
		t.Fatal("Load accepted a credential in the spec")
	}
	msg := err.Error()
	if strings.Contains(msg, canary) || strings.Contains(msg, strings.ToLower(canary)) || strings.Contains(msg, SuggestWorkerName(canary)) {
		t.Fatalf("errors show the token:\n%s", msg)
	}
	for _, want := range []string{"flareform.yaml:3:11: ${CLOUDFLARE_API_TOKEN} is a credential", "flareform.yaml:6:22: ${FLAREFORM_API_KEY} is a credential"} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors lack %q:\n%s", want, msg)
		}
	}
}

// TestLoadNeverPrintsExpandedValues: a value from the environment appears in no message, not
// even lowercased in a name suggestion or inside a path; messages show ${NAME} as written.
func TestLoadNeverPrintsExpandedValues(t *testing.T) {
	const canary = "CANARY_Secr3t-9f8e7d6c5b4a39281706"
	dir := t.TempDir()
	writeWorker(t, dir)
	path := writeSpec(t, dir, `workers:
  image-api:
    name: ${DEPLOY_SECRET}
    main: ./src/${DEPLOY_SECRET}.js
    compatibility_date: "2025-06-01"
    compatibility_flags: ["${DEPLOY_SECRET}"]
    api_key: { from: "file:${DEPLOY_SECRET}" }
  other:
    name: ${DEPLOY_SECRET}
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
`)
	_, err := Load(path, "", envMap(map[string]string{"DEPLOY_SECRET": canary}))
	if err == nil {
		t.Fatal("Load accepted a secret as worker name")
	}
	msg := err.Error()
	for _, leak := range []string{canary, strings.ToLower(canary), SuggestWorkerName(canary), canary[7:20]} {
		if strings.Contains(msg, leak) {
			t.Fatalf("errors show (part of) the expanded value %q:\n%s", leak, msg)
		}
	}
	if !strings.Contains(msg, `worker name "${DEPLOY_SECRET}" (after expanding`) {
		t.Errorf("errors do not show the name as written:\n%s", msg)
	}
}

// TestLoadRefusesFilesThatAreNotRegular: a FIFO as spec or main, /dev/zero as spec and a spec
// over the size limit are refused at once instead of blocking or reading without end.
func TestLoadRefusesFilesThatAreNotRegular(t *testing.T) {
	dir := t.TempDir()
	writeWorker(t, dir)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	fifoMain := writeSpec(t, dir, "workers:\n  a:\n    main: ./fifo\n    compatibility_date: \"2025-06-01\"\n")
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("workers: {}\n"+strings.Repeat("#", 20<<20)), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ path, want string }{
		"FIFO spec":     {fifo, "named pipe"},
		"dev zero spec": {"/dev/zero", "under /dev"},
		"20 MiB spec":   {big, fmt.Sprintf("larger than %d bytes", MaxSpecBytes)},
		"FIFO main":     {fifoMain, "flareform.yaml:3:11: main \"./fifo\" cannot be deployed"},
	} {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := Load(tc.path, "", envMap(nil))
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Load error %v, want one saying %q", err, tc.want)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("Load hung")
			}
		})
	}
}
