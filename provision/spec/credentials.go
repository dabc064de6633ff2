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
	switch name, byName := accountCredential(kind, ref, key, getenv); {
	case name == "":
		return ""
	case byName:
		return fmt.Sprintf("%s holds the Cloudflare account's credentials, not a key for a worker: %s", name, consequence)
	default:
		return fmt.Sprintf("the key is the value of %s, the Cloudflare account's credentials: %s", name, consequence)
	}
}

// accountCredential names the credential variable kind:ref is (byName) or whose value key
// is; "" when neither. Callers word the consequence: a worker's key goes to its clients, a
// secret to the worker's code.
func accountCredential(kind, ref, key string, getenv func(string) string) (name string, byName bool) {
	if kind == keysource.KindEnv && slices.Contains(AccountCredentialVars, ref) {
		return ref, true
	}
	if key == "" {
		return "", false
	}
	for _, name := range AccountCredentialVars {
		cred := strings.TrimSpace(getenv(name))
		// A secret is used as it is, spaces included: compare it trimmed, as cred is.
		if cred != "" && subtle.ConstantTimeCompare([]byte(cred), []byte(strings.TrimSpace(key))) == 1 {
			return name, false
		}
	}
	return "", false
}

// WorkerKeyEnv is the environment variable that holds the API key of the worker whose script
// name is script: FLAREFORM_API_KEY_ and the name upper-cased, each - as _ (image-api:
// FLAREFORM_API_KEY_IMAGE_API). apply, smoke, invoke and rotate-key read it, as CI passes a
// secret back; like FLAREFORM_API_KEY it is a credential no spec value may expand.
func WorkerKeyEnv(script string) string {
	return workerKeyEnvPrefix + strings.ToUpper(strings.ReplaceAll(script, "-", "_"))
}

// ConsumerKeyEnv is the variable CI passes a consumer's generated key back in:
// FLAREFORM_API_KEY_<WORKER>__<CONSUMER>, both upper-cased, each '-' as '_'.
func ConsumerKeyEnv(script, consumer string) string {
	return WorkerKeyEnv(script) + "__" + strings.ToUpper(strings.ReplaceAll(consumer, "-", "_"))
}

// workerKeyEnvPrefix starts every WorkerKeyEnv name.
const workerKeyEnvPrefix = "FLAREFORM_API_KEY_"

// workerKeyVars are the WorkerKeyEnv names of the workers' script names and keys (a key names
// the script unless name: overrides it), each once.
func workerKeyVars(workers []Worker) []string {
	var names []string
	for _, w := range workers {
		for _, n := range []string{w.Name, w.Key} {
			if v := WorkerKeyEnv(n); n != "" && !slices.Contains(names, v) {
				names = append(names, v)
			}
		}
	}
	return names
}

// credentialRef is the variable name a ${NAME...} reference starts with (ref is the text after
// "${"): letters, digits and _, up to the first other character.
func credentialRef(ref string) string {
	end := strings.IndexFunc(ref, func(r rune) bool {
		return (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_'
	})
	if end < 0 {
		return ref
	}
	return ref[:end]
}
