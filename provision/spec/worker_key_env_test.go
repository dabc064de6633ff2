package spec

import (
	"strings"
	"testing"
)

func TestWorkerKeyEnv(t *testing.T) {
	for script, want := range map[string]string{
		"image-api":      "FLAREFORM_API_KEY_IMAGE_API",
		"chat":           "FLAREFORM_API_KEY_CHAT",
		"a_b-c9":         "FLAREFORM_API_KEY_A_B_C9",
		"images-staging": "FLAREFORM_API_KEY_IMAGES_STAGING",
	} {
		if got := WorkerKeyEnv(script); got != want {
			t.Errorf("WorkerKeyEnv(%q) = %q, want %q", script, got, want)
		}
	}
}

// TestLoadTreatsWorkerKeyVarsAsCredentials: FLAREFORM_API_KEY_<WORKER> holds a worker's key
// (CI passes it back to apply), so like FLAREFORM_API_KEY no spec value may expand it, a var
// holding its value is refused, and no message shows its value. The refusal names the
// variable as written (it used to name ${FLAREFORM_API_KEY}), and a var that held the value
// through another variable was accepted: uploaded as plain text and printed by plan.
func TestLoadTreatsWorkerKeyVarsAsCredentials(t *testing.T) {
	const key = "image-key-0123456789abcdef0123456789abc"
	const stagingKey = "staging-key-0123456789abcdef0123456789ab"
	env := map[string]string{
		"FLAREFORM_API_KEY_IMAGE_API":         key,
		"FLAREFORM_API_KEY_IMAGE_API_STAGING": stagingKey,
		"SAME_AS_KEY":                         key,
		"SAME_AS_STAGING":                     stagingKey,
	}
	cases := map[string]struct {
		spec, env, line string
		want            []string
	}{
		"expanded": {spec: `workers:
  image-api:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    vars: { K: "x${FLAREFORM_API_KEY_IMAGE_API}" }
`, line: `K: "x`, want: []string{"${FLAREFORM_API_KEY_IMAGE_API} is a credential and cannot be used in the spec"}},
		"expanded with a default": {spec: `workers:
  image-api:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    vars: { K: "${FLAREFORM_API_KEY_OTHER_WORKER:-none}" }
`, line: `K: "`, want: []string{"${FLAREFORM_API_KEY_OTHER_WORKER} is a credential"}},
		"a var holds the value": {spec: `workers:
  image-api:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    vars: { K: "${SAME_AS_KEY}" }
`, line: `K: `, want: []string{"vars.K holds the value of FLAREFORM_API_KEY_IMAGE_API, a credential", "uploaded as plain text"}},
		"another worker's variable": {spec: `workers:
  image-api:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    vars: { K: "Bearer ${SAME_AS_KEY}" }
  chat:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
`, line: `K: `, want: []string{"vars.K holds the value of FLAREFORM_API_KEY_IMAGE_API"}},
		"the script name an environment gives": {spec: `workers:
  image-api:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
environments:
  staging:
    workers:
      image-api: { name: image-api-staging, vars: { K: "${SAME_AS_STAGING}" } }
`, env: "staging", line: `vars: { K: `, want: []string{"vars.K holds the value of FLAREFORM_API_KEY_IMAGE_API_STAGING"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeWorker(t, dir)
			path := writeSpec(t, dir, tc.spec)
			_, err := Load(path, tc.env, envMap(env))
			assertRefused(t, err, append([]string{lineCol(t, path, tc.line)}, tc.want...), []string{key, stagingKey})
		})
	}

	// A message that quotes a value of the spec never shows a worker's key, even one written
	// into the spec by mistake: it shows the variable that holds it.
	t.Run("not in messages", func(t *testing.T) {
		dir := t.TempDir()
		writeWorker(t, dir)
		path := writeSpec(t, dir, `workers:
  image-api:
    main: ./src/worker.js
    compatibility_date: "`+key+`"
`)
		_, err := Load(path, "", envMap(env))
		assertRefused(t, err, []string{"compatibility_date", "${FLAREFORM_API_KEY_IMAGE_API}"}, []string{key})
	})

	// Other variables with the prefix's look are fine when nothing references them.
	t.Run("unreferenced", func(t *testing.T) {
		dir := t.TempDir()
		writeWorker(t, dir)
		path := writeSpec(t, dir, `workers:
  image-api:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    vars: { GREETING: "hello" }
`)
		if _, err := Load(path, "", envMap(env)); err != nil && strings.Contains(err.Error(), "credential") {
			t.Fatalf("Load refused a spec that uses no credential: %v", err)
		}
	})
}
