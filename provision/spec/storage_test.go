package spec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/flareform/flareform/internal/keysource"
)

const (
	openAIKey  = "sk-openai-canary-0123456789abcdef0123456789"
	webhookKey = "whsec-canary-0123456789abcdef0123456789abcd"
)

// storageSpec writes a spec (and the worker and a key file it names) to a new folder.
func storageSpec(t *testing.T, spec string) string {
	t.Helper()
	dir := t.TempDir()
	writeWorker(t, dir)
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets", "webhook.txt"), []byte(webhookKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return writeSpec(t, dir, spec)
}

// TestLoadSecretsAndStorage: the four keys are read into the worker, each sorted by binding,
// a file source made absolute, and every entry and block has its position.
func TestLoadSecretsAndStorage(t *testing.T) {
	path := storageSpec(t, `workers:
  api:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    secrets:
      WEBHOOK: file:./secrets/webhook.txt
      OPENAI_KEY: "env:OPENAI_KEY"
    kv:
      SESSIONS: my-api-sessions
      CACHE: My API cache (answers)
    r2: { IMAGES: my-api-images }
    d1:
      DB: my-api-db
      ARCHIVE: my-api-db
`)
	s, err := Load(path, "", envMap(map[string]string{"OPENAI_KEY": openAIKey}))
	if err != nil {
		t.Fatal(err)
	}
	w := s.Workers[0]
	wantSecrets := []KeySource{
		{Binding: "OPENAI_KEY", From: "env", Ref: "OPENAI_KEY"},
		{Binding: "WEBHOOK", From: "file", Ref: filepath.Join(filepath.Dir(path), "secrets", "webhook.txt")},
	}
	if !reflect.DeepEqual(w.Secrets, wantSecrets) {
		t.Errorf("Secrets = %+v\nwant %+v", w.Secrets, wantSecrets)
	}
	for name, tc := range map[string]struct{ got, want []StorageBinding }{
		"kv": {w.KV, []StorageBinding{{"CACHE", "My API cache (answers)"}, {"SESSIONS", "my-api-sessions"}}},
		"r2": {w.R2, []StorageBinding{{"IMAGES", "my-api-images"}}},
		// One database under two names is allowed.
		"d1": {w.D1, []StorageBinding{{"ARCHIVE", "my-api-db"}, {"DB", "my-api-db"}}},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %+v; want %+v", name, tc.got, tc.want)
		}
	}
	for field, want := range map[string]Position{
		"secrets":            {Line: 5, Col: 5},
		"secrets.WEBHOOK":    {Line: 6, Col: 16},
		"secrets.OPENAI_KEY": {Line: 7, Col: 19},
		"kv":                 {Line: 8, Col: 5},
		"kv.SESSIONS":        {Line: 9, Col: 17},
		"kv.CACHE":           {Line: 10, Col: 14},
		"r2":                 {Line: 11, Col: 5},
		"r2.IMAGES":          {Line: 11, Col: 19},
		"d1":                 {Line: 12, Col: 5},
		"d1.DB":              {Line: 13, Col: 11},
		"d1.ARCHIVE":         {Line: 14, Col: 16},
	} {
		if got := w.Pos[field]; got != want {
			t.Errorf("Pos[%q] = %+v; want %+v", field, got, want)
		}
	}
}

// TestLoadSecretsAndStorageEnvironments: an environment merges its secrets, kv, r2 and d1 over
// the base's name by name, as it does vars; the positions point at the override; and only the
// selected environment's sources are read.
func TestLoadSecretsAndStorageEnvironments(t *testing.T) {
	path := storageSpec(t, `workers:
  api:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    secrets: { OPENAI_KEY: "env:OPENAI_KEY" }
    kv: { CACHE: my-api-cache }
    r2: { IMAGES: my-api-images }
environments:
  staging:
    workers:
      api:
        kv: { CACHE: my-api-cache-staging }
        d1: { DB: my-api-db-staging }
  prod:
    workers:
      api:
        secrets: { OPENAI_KEY: "env:PROD_OPENAI_KEY", WEBHOOK: file:./secrets/webhook.txt }
        r2: { IMAGES: my-api-images-prod }
`)
	// OPENAI_KEY is unset: staging still needs it, prod replaces it and must not read it.
	getenv := envMap(map[string]string{"PROD_OPENAI_KEY": openAIKey})
	s, err := Load(path, "prod", getenv)
	if err != nil {
		t.Fatal(err)
	}
	w := s.Workers[0]
	if len(w.Secrets) != 2 || w.Secrets[0] != (KeySource{Binding: "OPENAI_KEY", From: "env", Ref: "PROD_OPENAI_KEY"}) || w.Secrets[1].Binding != "WEBHOOK" {
		t.Errorf("prod Secrets = %+v; want OPENAI_KEY from PROD_OPENAI_KEY, then WEBHOOK", w.Secrets)
	}
	if !reflect.DeepEqual(w.KV, []StorageBinding{{"CACHE", "my-api-cache"}}) || !reflect.DeepEqual(w.R2, []StorageBinding{{"IMAGES", "my-api-images-prod"}}) || w.D1 != nil {
		t.Errorf("prod storage = kv %+v, r2 %+v, d1 %+v", w.KV, w.R2, w.D1)
	}
	for field, want := range map[string]Position{
		"secrets":            {Line: 17, Col: 9},
		"secrets.OPENAI_KEY": {Line: 17, Col: 32},
		"kv.CACHE":           {Line: 6, Col: 18},
		"r2":                 {Line: 18, Col: 9},
		"r2.IMAGES":          {Line: 18, Col: 23},
	} {
		if got := w.Pos[field]; got != want {
			t.Errorf("prod Pos[%q] = %+v; want %+v", field, got, want)
		}
	}

	_, err = Load(path, "staging", getenv)
	assertRefused(t, err, []string{"flareform.yaml:5:28: secrets.OPENAI_KEY names environment variable OPENAI_KEY, which is not set"}, nil)
	s, err = Load(path, "staging", envMap(map[string]string{"OPENAI_KEY": openAIKey}))
	if err != nil {
		t.Fatal(err)
	}
	w = s.Workers[0]
	if !reflect.DeepEqual(w.KV, []StorageBinding{{"CACHE", "my-api-cache-staging"}}) || !reflect.DeepEqual(w.D1, []StorageBinding{{"DB", "my-api-db-staging"}}) ||
		!reflect.DeepEqual(w.R2, []StorageBinding{{"IMAGES", "my-api-images"}}) {
		t.Errorf("staging storage = kv %+v, r2 %+v, d1 %+v", w.KV, w.R2, w.D1)
	}
	if w.Pos["kv.CACHE"] != (Position{Line: 12, Col: 22}) || w.Pos["d1"] != (Position{Line: 13, Col: 9}) {
		t.Errorf("staging Pos kv.CACHE %+v, d1 %+v", w.Pos["kv.CACHE"], w.Pos["d1"])
	}
}

// TestLoadSharedStorage: workers share an object by naming it alike; nothing is refused.
func TestLoadSharedStorage(t *testing.T) {
	path := storageSpec(t, `workers:
  api:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    kv: { CACHE: shared-cache }
    r2: { IMAGES: shared-images }
    d1: { DB: shared-db }
  jobs:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    kv: { ANSWERS: shared-cache }
    r2: { IMAGES: shared-images }
    d1: { DB: shared-db, AUDIT: shared-db }
`)
	s, err := Load(path, "", envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.Workers[1].KV[0].Name != s.Workers[0].KV[0].Name || len(s.Workers[1].D1) != 2 {
		t.Errorf("workers = %+v", s.Workers)
	}
}

// TestLoadStorageBindingClashes: a binding of secrets, kv, r2 or d1 is refused when any other
// binding of the worker has its name, at the later entry's key, naming the earlier one's line.
func TestLoadStorageBindingClashes(t *testing.T) {
	cases := map[string]struct {
		worker, want string
	}{
		"ai binding": {`    ai: { model: "@cf/meta/llama-3.1-8b-instruct" }
    kv: { AI: my-api-cache }`, `binding name "AI" of kv.AI is already used by ai.binding`},
		"custom ai binding": {`    ai: { binding: MODEL, model: "@cf/meta/llama-3.1-8b-instruct" }
    secrets: { MODEL: file:./secrets/webhook.txt }`, `binding name "MODEL" of secrets.MODEL is already used by ai.binding`},
		"AI_MODEL with ai": {`    ai: { model: "@cf/meta/llama-3.1-8b-instruct" }
    d1: { AI_MODEL: my-api-db }`, `binding name "AI_MODEL" of d1.AI_MODEL is already used by ai.model`},
		"AI_GATEWAY_ID with a gateway": {`    ai: { model: "@cf/meta/llama-3.1-8b-instruct", gateway: { id: gw } }
    r2: { AI_GATEWAY_ID: my-api-images }`, `binding name "AI_GATEWAY_ID" of r2.AI_GATEWAY_ID is already used by ai.gateway`},
		"api_key": {`    api_key: { from: generate }
    kv: { API_KEY: my-api-cache }`, `binding name "API_KEY" of kv.API_KEY is already used by api_key.binding`},
		"custom api_key's previous key": {`    api_key: { binding: TOKEN, from: generate }
    secrets: { TOKEN_PREVIOUS: file:./secrets/webhook.txt }`, `binding name "TOKEN_PREVIOUS" of secrets.TOKEN_PREVIOUS is already used by api_key (the previous key during rotation)`},
		"vars": {`    vars: { CACHE: "x" }
    kv: { CACHE: my-api-cache }`, `binding name "CACHE" of kv.CACHE is already used by vars.CACHE`},
		"RATE_LIMITER": {`    rate_limit: { limit: 10, period: 60 }
    kv: { RATE_LIMITER: my-api-cache }`, `binding name "RATE_LIMITER" of kv.RATE_LIMITER is already used by rate_limit`},
		"a consumer's limiter": {`    api_key: { from: generate }
    consumers: { web: { rate_limit: { limit: 5, period: 60 } } }
    d1: { RATE_LIMITER_5_60: my-api-db }`, `binding name "RATE_LIMITER_5_60" of d1.RATE_LIMITER_5_60 is already used by consumers.web.rate_limit`},
		"vectorize": {`    vectorize: { index: docs, dimensions: 768, metric: cosine }
    r2: { VECTORIZE: my-api-images }`, `binding name "VECTORIZE" of r2.VECTORIZE is already used by vectorize.binding`},
		"USAGE": {`    usage: true
    kv: { USAGE: my-api-cache }`, `binding name "USAGE" of kv.USAGE is already used by usage`},
		"consumers' table": {`    api_key: { from: generate }
    consumers: { web: {} }
    kv: { FLAREFORM_CONSUMERS: my-api-cache }`, `binding name "FLAREFORM_CONSUMERS" of kv.FLAREFORM_CONSUMERS is already used by consumers`},
		"secret and kv": {`    secrets: { STORE: file:./secrets/webhook.txt }
    kv: { STORE: my-api-cache }`, `binding name "STORE" of kv.STORE is already used by secrets.STORE`},
		"kv and r2": {`    kv: { STORE: my-api-cache }
    r2: { STORE: my-api-images }`, `binding name "STORE" of r2.STORE is already used by kv.STORE`},
		"r2 and d1": {`    r2: { STORE: my-api-images }
    d1: { STORE: my-api-db }`, `binding name "STORE" of d1.STORE is already used by r2.STORE`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := storageSpec(t, "workers:\n  api:\n    main: ./src/worker.js\n    compatibility_date: \"2025-06-01\"\n"+tc.worker+"\n")
			_, err := Load(path, "", envMap(nil))
			last := strings.Split(tc.worker, "\n")
			line := len(last) + 4
			assertRefused(t, err, []string{fmt.Sprintf("flareform.yaml:%d:", line), tc.want, "rename one of them"}, []string{webhookKey})
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
				t.Errorf("%d errors; want one:\n%v", n, err)
			}
		})
	}
}

// TestLoadStorageReservedNames: every reserved name and prefix is refused for every kind, even
// when the worker does not use what sets it; other names are fine.
func TestLoadStorageReservedNames(t *testing.T) {
	names := append([]string{}, ReservedBindings...)
	for _, p := range ReservedBindingPrefixes {
		names = append(names, p+"ANYTHING")
	}
	for _, kind := range []string{"secrets", "kv", "r2", "d1"} {
		for _, name := range names {
			value := map[string]string{"secrets": "file:./secrets/webhook.txt", "kv": "cache", "r2": "images", "d1": "db"}[kind]
			path := storageSpec(t, fmt.Sprintf("workers:\n  api:\n    main: ./src/worker.js\n    compatibility_date: \"2025-06-01\"\n    %s:\n      %s: %s\n", kind, name, value))
			_, err := Load(path, "", envMap(nil))
			assertRefused(t, err, []string{fmt.Sprintf(`flareform.yaml:6:7: binding name %q of %s.%s is reserved`, name, kind, name), "rename it: flareform keeps AI_MODEL"}, []string{webhookKey})
		}
	}
	for _, name := range []string{"API_KEY", "AI", "FLAREFORM", "RATE_LIMITERS", "USAGE_LOG", "_x", "a1"} {
		if why := ReservedBinding(name); why != "" {
			t.Errorf("ReservedBinding(%q) = %q; want free", name, why)
		}
	}
}

// TestLoadStorageNames: each kind's naming rule, at the value's line, with a fixed name.
func TestLoadStorageNames(t *testing.T) {
	cases := []struct {
		kind, value string
		want        string // "" when valid
	}{
		{"kv", `"a"`, ""},
		{"kv", `"My cache: answers (v2) ✓"`, ""},
		{"kv", `"` + strings.Repeat("é", MaxKVTitleLen) + `"`, ""},
		{"kv", `"` + strings.Repeat("é", MaxKVTitleLen+1) + `"`, "is 513 characters"},
		{"kv", `""`, "is empty or blank"},
		{"kv", `"  "`, "is empty or blank"},
		{"kv", `"a\nb"`, `holds a control character (a tab, a newline, ...): a KV namespace title is 1 to 512 characters without control characters; use e.g. "ab"`},
		{"kv", `"a\u007fb"`, "holds a control character"},
		{"r2", "abc", ""},
		{"r2", "my-api-images-2", ""},
		{"r2", strings.Repeat("a", 63), ""},
		{"r2", strings.Repeat("a", 64), fmt.Sprintf(`is not an R2 bucket name: 3 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit; use e.g. %q`, strings.Repeat("a", 63))},
		{"r2", "ab", `use e.g. "ab-bucket"`},
		{"r2", "-images", `use e.g. "images"`},
		{"r2", "images-", `use e.g. "images"`},
		{"r2", "My.Images", `use e.g. "my-images"`},
		{"r2", "my_images", `use e.g. "my-images"`},
		{"r2", `"---"`, `use e.g. "my-bucket"`},
		{"d1", "a", ""},
		{"d1", "my_api-db-2", ""},
		{"d1", "_db", ""},
		{"d1", strings.Repeat("d", 64), ""},
		{"d1", strings.Repeat("d", 65), "is not a D1 database name: 1 to 64 lowercase letters, digits, '-' and '_'"},
		{"d1", "My.DB", `use e.g. "my-db"`},
		{"d1", `"é"`, `use e.g. "my-db"`},
	}
	for _, tc := range cases {
		t.Run(tc.kind+" "+tc.value[:min(len(tc.value), 20)], func(t *testing.T) {
			path := storageSpec(t, fmt.Sprintf("workers:\n  api:\n    main: ./src/worker.js\n    compatibility_date: \"2025-06-01\"\n    %s:\n      X: %s\n", tc.kind, tc.value))
			_, err := Load(path, "", envMap(nil))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			assertRefused(t, err, []string{"flareform.yaml:6:10: " + tc.kind + ".X ", tc.want}, nil)
		})
	}
}

// TestStorageNameSuggestionsAreValid: whatever the input, a suggested name follows its rule.
func TestStorageNameSuggestionsAreValid(t *testing.T) {
	inputs := []string{"", "-", "_", "a", "ab", "A", "My Bucket", "my_bucket", "--x--", "é", "ÉCOLE-images", strings.Repeat("ab_", 40), "9lives", "x.y.z", "UPPER"}
	for _, in := range inputs {
		if b := SuggestBucketName(in); !bucketNamePattern.MatchString(b) {
			t.Errorf("SuggestBucketName(%q) = %q, not a bucket name", in, b)
		}
		if _, fix := CheckD1Name(in); fix != "" {
			d := strings.TrimSuffix(strings.TrimPrefix(fix, `use e.g. "`), `"`)
			if p, _ := CheckD1Name(d); p != "" {
				t.Errorf("CheckD1Name(%q) suggests %q, itself refused: %s", in, d, p)
			}
		}
		if b := SuggestBindingName(in); CheckBindingName(b) != "" {
			t.Errorf("SuggestBindingName(%q) = %q, not a binding name", in, b)
		}
	}
}

// TestLoadSecretRules: secrets are read as api_key.from is and checked against the secret rule
// (keysource.SecretRule), refused at the value's line with a fix that does not offer generate,
// and never printed.
func TestLoadSecretRules(t *testing.T) {
	const token = "cf-token-canary-0123456789abcdef0123456789"
	big := strings.Repeat("big-canary-", keysource.MaxSecretBytes/11+1)
	env := map[string]string{"OPENAI_KEY": openAIKey, "BIG": big,
		"CLOUDFLARE_API_TOKEN": token, "SAME_AS_TOKEN": token, "TOKEN_NEWLINE": token + "\n"}
	cases := map[string]struct {
		value string
		want  []string
	}{
		"generate":           {"generate", []string{"secrets.S cannot be generate; a secret comes from env:NAME or file:PATH; flareform generates only api_key"}},
		"unset":              {"env:NOPE", []string{"secrets.S names environment variable NOPE, which is not set; export NOPE=<the secret> before running flareform (its value is never printed)"}},
		"bad env name":       {`"env:my-key"`, []string{`secrets.S "env:my-key" is not env:NAME or file:PATH`}},
		"empty file source":  {`"file:"`, []string{`secrets.S "file:" is not env:NAME or file:PATH`}},
		"a literal value":    {"sk-literal-canary-0123456789abcdef", []string{"secrets.S (its text is not shown: it may be the secret itself) is not env:NAME or file:PATH", `write the secret's source, not its value: S: "env:S"`}},
		"too large":          {"env:BIG", []string{fmt.Sprintf("secrets.S: environment variable BIG: the secret is %d bytes; a Worker secret holds at most 5120", len(big)), "keep larger data in KV or R2"}},
		"missing file":       {"file:./secrets/nope.txt", []string{"secrets.S: secret file", "does not exist"}},
		"the token by name":  {"env:CLOUDFLARE_API_TOKEN", []string{`secrets.S "env:CLOUDFLARE_API_TOKEN": CLOUDFLARE_API_TOKEN holds the Cloudflare account's credentials: the worker's code would hold`, "give it a token of its own"}},
		"the token's value":  {"env:SAME_AS_TOKEN", []string{`secrets.S "env:SAME_AS_TOKEN": the secret is the value of CLOUDFLARE_API_TOKEN`}},
		"the token, newline": {"env:TOKEN_NEWLINE", []string{`secrets.S "env:TOKEN_NEWLINE": the secret is the value of CLOUDFLARE_API_TOKEN`}},
		"a dev file":         {"file:/dev/zero", []string{"secrets.S: secret file"}},
		"expanded source":    {`"env:${BIG_NAME}"`, []string{`secrets.S "env:${BIG_NAME}" (after expanding ${...}): the secret or its source is refused; ` + keysource.SecretRule}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := storageSpec(t, "workers:\n  api:\n    main: ./src/worker.js\n    compatibility_date: \"2025-06-01\"\n    secrets:\n      S: "+tc.value+"\n")
			e := map[string]string{"BIG_NAME": "BIG"}
			for k, v := range env {
				e[k] = v
			}
			_, err := loadWithin(t, path, envMap(e))
			assertRefused(t, err, append([]string{"flareform.yaml:6:10: "}, tc.want...),
				[]string{openAIKey, "big-canary", token, "sk-literal-canary-0123456789abcdef", webhookKey})
			if strings.Contains(err.Error(), "from: generate") {
				t.Errorf("a secret's fix offers generate:\n%v", err)
			}
		})
	}
}

// TestLoadSecretValues: a secret is what the user brings, not an API key: a short webhook
// secret, a token with a space and a multi-line PEM file are accepted (one final newline of a
// file dropped); a file larger than a Worker secret may be and a value holding a NUL byte are
// refused at the source's line, without the value.
func TestLoadSecretValues(t *testing.T) {
	const pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC-pem-canary\n-----END PRIVATE KEY-----"
	path := storageSpec(t, `workers:
  api:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    vars: { GREETING: "hello abc" }
    secrets:
      HOOK: "env:HOOK"
      SPACED: "env:SPACED"
      PEM: file:./secrets/key.pem
      SA: file:./secrets/sa.json
`)
	dir := filepath.Dir(path)
	const sa = "{\n  \"type\": \"service_account\",\n  \"private_key\": \"sa-canary\"\n}"
	for name, content := range map[string]string{"key.pem": pem + "\n", "sa.json": sa + "\r\n"} {
		if err := os.WriteFile(filepath.Join(dir, "secrets", name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// "abc" is a 3-byte secret: a var holding those letters among others is not refused.
	s, err := Load(path, "", envMap(map[string]string{"HOOK": "abc", "SPACED": "token with a space"}))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, src := range s.Workers[0].Secrets {
		v, err := keysource.ResolveSecret(src.From, src.Ref, envMap(map[string]string{"HOOK": "abc", "SPACED": "token with a space"}))
		if err != nil {
			t.Fatalf("%s: %v", src.Binding, err)
		}
		got[src.Binding] = v
	}
	if want := map[string]string{"HOOK": "abc", "SPACED": "token with a space", "PEM": pem, "SA": sa}; !reflect.DeepEqual(got, want) {
		t.Errorf("secrets = %q, want %q", got, want)
	}

	// A var that is a short secret's whole value is still refused.
	held := storageSpec(t, "workers:\n  api:\n    main: ./src/worker.js\n    compatibility_date: \"2025-06-01\"\n    vars: { COPY: abc }\n    secrets: { HOOK: \"env:HOOK\" }\n")
	_, err = Load(held, "", envMap(map[string]string{"HOOK": "abc"}))
	assertRefused(t, err, []string{`flareform.yaml:5:19: vars.COPY holds the worker's secret HOOK (secrets.HOOK "env:HOOK")`}, nil)

	cases := map[string]struct {
		content string
		want    []string
	}{
		"oversize": {strings.Repeat("big-canary\n", 700), []string{"flareform.yaml:6:10: secrets.S: secret file ", "big.txt: the file is 7700 bytes; a Worker secret holds at most 5120", "keep larger data in KV or R2"}},
		"5121":     {strings.Repeat("x", keysource.MaxSecretBytes+1) + "\n", []string{"flareform.yaml:6:10: secrets.S: secret file ", "the file is 5122 bytes"}},
		"NUL":      {"nul-canary\x00nul-canary\n", []string{"flareform.yaml:6:10: secrets.S: secret file ", "the secret holds a NUL byte; " + keysource.SecretRule}},
		"not UTF8": {"utf-canary\xff\n", []string{"flareform.yaml:6:10: secrets.S: secret file ", "not valid UTF-8"}},
		"newline":  {"\r\n", []string{"flareform.yaml:6:10: secrets.S: secret file ", "the secret is empty"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := storageSpec(t, "workers:\n  api:\n    main: ./src/worker.js\n    compatibility_date: \"2025-06-01\"\n    secrets:\n      S: file:./secrets/big.txt\n")
			if err := os.WriteFile(filepath.Join(filepath.Dir(path), "secrets", "big.txt"), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := loadWithin(t, path, envMap(nil))
			assertRefused(t, err, tc.want, []string{"canary", strings.Repeat("x", 16)})
		})
	}
}

// TestLoadSecretsCap: MaxSecrets secrets are fine, one more is refused at the block, counted
// after the environment's merge.
func TestLoadSecretsCap(t *testing.T) {
	lines := func(indent string, from, to int) string {
		var b strings.Builder
		for i := from; i <= to; i++ {
			fmt.Fprintf(&b, "%sS%02d: file:./secrets/webhook.txt\n", indent, i)
		}
		return b.String()
	}
	path := storageSpec(t, "workers:\n  api:\n    main: ./src/worker.js\n    compatibility_date: \"2025-06-01\"\n    secrets:\n"+
		lines("      ", 1, MaxSecrets)+
		"environments:\n  big:\n    workers:\n      api:\n        secrets:\n"+lines("          ", MaxSecrets, MaxSecrets+1))
	s, err := Load(path, "", envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Workers[0].Secrets) != MaxSecrets {
		t.Errorf("%d secrets; want %d", len(s.Workers[0].Secrets), MaxSecrets)
	}
	_, err = Load(path, "big", envMap(nil))
	line := 5 + MaxSecrets + 5
	assertRefused(t, err, []string{fmt.Sprintf("flareform.yaml:%d:9: %d secrets; a worker has at most %d besides api_key", line, MaxSecrets+1, MaxSecrets)}, []string{webhookKey})
}

// TestLoadVarsHoldingSecrets: a var holding a secret's value (the worker's own or another
// worker's) would publish it: refused at the var, naming the secret, never the value.
func TestLoadVarsHoldingSecrets(t *testing.T) {
	path := storageSpec(t, `workers:
  api:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    secrets: { OPENAI_KEY: "env:OPENAI_KEY" }
    vars: { AUTH: "Bearer ${OPENAI_KEY}" }
  jobs:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    vars: { HOOK: "${WEBHOOK}" }
  hooks:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    secrets: { WEBHOOK: file:./secrets/webhook.txt }
`)
	_, err := Load(path, "", envMap(map[string]string{"OPENAI_KEY": openAIKey, "WEBHOOK": webhookKey}))
	assertRefused(t, err, []string{
		`flareform.yaml:6:19: vars.AUTH holds the worker's secret OPENAI_KEY (secrets.OPENAI_KEY "env:OPENAI_KEY"): variables are uploaded as plain text`,
		"the worker reads it from its secret binding (env.OPENAI_KEY)",
		`flareform.yaml:10:19: vars.HOOK holds the secret WEBHOOK of worker "hooks" (secrets.WEBHOOK "file:./secrets/webhook.txt")`,
		"give it the same source under secrets:",
	}, []string{openAIKey, webhookKey})
}

// TestLoadVarHoldingConsumerKeyWithoutAPIKey: a var holding a consumer's key on a worker that
// lacks api_key is refused with the other errors; it used to dereference the missing api_key.
func TestLoadVarHoldingConsumerKeyWithoutAPIKey(t *testing.T) {
	path := storageSpec(t, `workers:
  api:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    consumers: { web: { from: "env:WEB_KEY" } }
    vars: { LEAK: "${WEB_KEY}" }
`)
	_, err := Load(path, "", envMap(map[string]string{"WEB_KEY": webhookKey}))
	assertRefused(t, err, []string{
		"consumers need the worker's own key",
		`vars.LEAK holds the worker's key of consumer "web" (consumers.web.from "env:WEB_KEY")`,
		"a consumer's key belongs to that consumer's caller alone",
	}, []string{webhookKey})
}

// TestLoadStorageBindingNames: binding names are identifiers of at most 64 characters; an
// expanded object name that breaks its rule is not echoed in the fix.
func TestLoadStorageBindingNames(t *testing.T) {
	for name, tc := range map[string]struct{ key, want string }{
		"dash":        {"my-cache", `binding name "my-cache" of kv.my-cache is not a JavaScript identifier of letters, digits and _ (not starting with a digit); rename it, e.g. MY_CACHE`},
		"digit first": {"1CACHE", `rename it, e.g. _1CACHE`},
		"dollar":      {"$CACHE", `binding name "$CACHE" of kv.$CACHE is not a JavaScript identifier`},
		"too long":    {strings.Repeat("C", 65), "is 65 characters, more than 64"},
	} {
		t.Run(name, func(t *testing.T) {
			path := storageSpec(t, fmt.Sprintf("workers:\n  api:\n    main: ./src/worker.js\n    compatibility_date: \"2025-06-01\"\n    kv:\n      %q: my-api-cache\n", tc.key))
			_, err := Load(path, "", envMap(nil))
			assertRefused(t, err, []string{"flareform.yaml:6:7: ", tc.want}, nil)
		})
	}
	path := storageSpec(t, "workers:\n  api:\n    main: ./src/worker.js\n    compatibility_date: \"2025-06-01\"\n    kv: { C: "+strings.Repeat("C", 64)+" }\n    r2: { IMAGES: \"${BUCKET}\" }\n")
	_, err := Load(path, "", envMap(map[string]string{"BUCKET": "Secret_Bucket_Canary"}))
	assertRefused(t, err, []string{`flareform.yaml:6:19: r2.IMAGES "${BUCKET}" (after expanding ${...}) is not an R2 bucket name`, "make it 3 to 63 lowercase letters"},
		[]string{"Secret_Bucket_Canary", "secret-bucket-canary"})
}

// TestJSONSchemaSecretsAndStorage: the schema limits the four keys' binding names and the
// number of secrets, as the loader does.
func TestJSONSchemaSecretsAndStorage(t *testing.T) {
	var doc struct {
		Properties map[string]struct {
			AdditionalProperties struct {
				Properties map[string]struct {
					PropertyNames struct {
						Pattern   string `json:"pattern"`
						MaxLength int    `json:"maxLength"`
					} `json:"propertyNames"`
					MaxProperties int `json:"maxProperties"`
				} `json:"properties"`
			} `json:"additionalProperties"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(JSONSchema(), &doc); err != nil {
		t.Fatal(err)
	}
	worker := doc.Properties["workers"].AdditionalProperties.Properties
	for _, key := range []string{"secrets", "kv", "r2", "d1"} {
		if p := worker[key].PropertyNames; p.Pattern != bindingNamePattern.Expr || p.MaxLength != MaxBindingNameLen {
			t.Errorf("%s propertyNames = %+v", key, p)
		}
	}
	if worker["secrets"].MaxProperties != MaxSecrets || worker["kv"].MaxProperties != 0 {
		t.Errorf("maxProperties: secrets %d, kv %d", worker["secrets"].MaxProperties, worker["kv"].MaxProperties)
	}
}
