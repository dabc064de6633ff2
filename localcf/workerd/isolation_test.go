package workerd

import (
	"bytes"
	"fmt"
	"os"
	"slices"

	"strings"
	"testing"
)

// workerd runs code flareform did not write; it must not inherit the caller's environment,
// where API tokens and cloud credentials live.
func TestWorkerdGetsNoneOfTheCallersEnvironment(t *testing.T) {
	const canary = "flareform-canary-7f3a"
	t.Setenv("FLAREFORM_TEST_CANARY", canary)
	t.Setenv("CLOUDFLARE_API_TOKEN", canary)
	p := startTest(t, Options{}, esmWorker("env", `export default { fetch() { return new Response("ok"); } };`))

	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.Pid()))
	if err != nil {
		t.Fatalf("read the workerd child's environment: %v", err)
	}
	if bytes.Contains(environ, []byte(canary)) || bytes.Contains(environ, []byte("FLAREFORM_TEST_CANARY")) {
		t.Fatalf("workerd inherited the caller's environment: %q", strings.ReplaceAll(string(environ), "\x00", " "))
	}
	for _, kv := range strings.Split(strings.TrimRight(string(environ), "\x00"), "\x00") {
		name, _, _ := strings.Cut(kv, "=")
		if kv != "" && !slices.Contains(childEnvNames, name) {
			t.Errorf("workerd child has %s, which is not on the allowed list", name)
		}
	}
}

// The config holds secret values; once workerd has loaded it, the child's stdin (the memfd
// the config came in) must not give it to anyone who opens /proc/<pid>/fd/0.
func TestWorkerdConfigIsNotReadableAfterStartup(t *testing.T) {
	const secret = "config-secret-91c2"
	p := startTest(t, Options{}, esmWorker("cfg", `export default { fetch(r, env) { return new Response(env.S.length + ""); } };`,
		Binding{Name: "S", Type: "secret_text", Text: secret}))

	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/fd/0", p.Pid()))
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("read the workerd child's stdin: %v", err)
	}
	if bytes.Contains(data, []byte(secret)) || len(data) != 0 {
		t.Fatalf("the child's stdin still holds %d bytes of config after start-up", len(data))
	}
	// The worker still runs with its secret: workerd kept what it parsed.
	resp, body := get(t, serve(t, p)+"/", "cfg.example.workers.dev")
	if resp.StatusCode != 200 || string(body) != fmt.Sprint(len(secret)) {
		t.Fatalf("worker answered %d %q after the config was wiped", resp.StatusCode, body)
	}
}
