package provision

import "testing"

func TestConfigFromEnvReadsBothBaseURLNames(t *testing.T) {
	const (
		long  = "http://127.0.0.1:1/client/v4"
		alias = "http://127.0.0.1:2/client/v4"
	)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"neither", map[string]string{}, ""},
		{"CLOUDFLARE_API_BASE_URL", map[string]string{"CLOUDFLARE_API_BASE_URL": long}, long},
		{"CF_API_BASE_URL", map[string]string{"CF_API_BASE_URL": alias}, alias},
		{"both: CLOUDFLARE_API_BASE_URL wins", map[string]string{"CLOUDFLARE_API_BASE_URL": long, "CF_API_BASE_URL": alias}, long},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ConfigFromEnv(func(k string) string { return tc.env[k] }).APIBaseURL
			if got != tc.want {
				t.Errorf("APIBaseURL = %q, want %q", got, tc.want)
			}
		})
	}
}
