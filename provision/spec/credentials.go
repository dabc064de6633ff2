package spec

import (
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"

	"github.com/flareform/flareform/internal/keysource"
)

// AccountCredentialVars are the environment variables that hold the Cloudflare account's own
// credentials: the names flareform and wrangler read, and wrangler's older CF_ names. None of
// them may be a worker's API key.
var AccountCredentialVars = []string{"CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_KEY", "CF_API_TOKEN", "CF_API_KEY"}

// AccountCredentialFix is how to repair a worker key that AccountCredentialKey refuses.
const AccountCredentialFix = "give the worker a separate random key (e.g. the output of `openssl rand -hex 32` in a variable or file of its own), or use from: generate"

// AccountCredentialKey reports why a worker key read from kind:ref (keysource.KindEnv or
// keysource.KindFile) would be one of the Cloudflare account's credentials, "" when it would
// not. key is the key the source holds; with key "" only the source's name is checked. The
// worker's key is given to each of its clients, so a key that is the account's API token would
// let every client deploy, change or delete every worker of the account. The answer names
// variables, never a value.
func AccountCredentialKey(kind, ref, key string, getenv func(string) string) string {
	const consequence = "every client of the worker would hold the Cloudflare account's API token, which can deploy, change and delete every worker of the account"
	if kind == keysource.KindEnv && slices.Contains(AccountCredentialVars, ref) {
		return fmt.Sprintf("%s holds the Cloudflare account's credentials, not a key for a worker: %s", ref, consequence)
	}
	if key == "" {
		return ""
	}
	for _, name := range AccountCredentialVars {
		cred := strings.TrimSpace(getenv(name))
		if cred != "" && subtle.ConstantTimeCompare([]byte(cred), []byte(key)) == 1 {
			return fmt.Sprintf("the key is the value of %s, the Cloudflare account's credentials: %s", name, consequence)
		}
	}
	return ""
}
