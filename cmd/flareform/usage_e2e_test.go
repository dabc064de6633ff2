package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/localcf"
)

// usageDoc is `usage --json` as a reader parses it.
type usageDoc struct {
	Workers []struct {
		Worker    string          `json:"worker"`
		Consumers []usageConsumer `json:"consumers"`
	} `json:"workers"`
	Neurons struct {
		Today     *float64 `json:"today"`
		FreeDaily int      `json:"free_daily"`
		Unknown   string   `json:"unknown"`
	} `json:"neurons"`
}

type usageConsumer struct {
	Consumer     string `json:"consumer"`
	Requests     int64  `json:"requests"`
	Unauthorized int64  `json:"unauthorized"`
	RateLimited  int64  `json:"rate_limited"`
	AICalls      int64  `json:"ai_calls"`
	Tokens       int64  `json:"tokens"`
}

// consumer is the counts of name in worker's entry (zero when absent).
func (d usageDoc) consumer(worker, name string) usageConsumer {
	for _, w := range d.Workers {
		if w.Worker != worker {
			continue
		}
		for _, c := range w.Consumers {
			if c.Consumer == name {
				return c
			}
		}
	}
	return usageConsumer{Consumer: name}
}

// A deployed template worker writes a data point per request through its USAGE binding, and
// `usage --json` reads them back from the local Cloudflare's Analytics Engine: two calls with
// the owner's key are two requests and two AI calls of owner, a call with a wrong key one 401
// of "-" (no key accepted), and the local Workers AI's neurons today are known and grew. With a
// GraphQL API that lacks the neuron dataset, the neurons are unknown and usage still exits 0.
func TestUsageReadsWhatTheWorkerWrote(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")
	requireUsageOn(t, specPath)
	f := []string{"-f", specPath}
	c.mustRun(0, append(f, "apply", "--auto-approve")...)
	before := readUsageDoc(t, c, f) // what the smoke test's requests wrote

	out := filepath.Join(t.TempDir(), "robot.png")
	for range 2 {
		c.mustRun(0, append(f, "invoke", "images", "--prompt", "a robot", "-o", out)...)
	}
	c.env[envAPIKey] = "wrong-key-wrong-key-wrong-key-wrong-key-00"
	c.mustRun(exitError, append(f, "invoke", "images", "--prompt", "a robot")...)
	delete(c.env, envAPIKey)

	// writeDataPoint does not wait for the write: poll until the three points are in.
	var after usageDoc
	deadline := time.Now().Add(20 * time.Second)
	for {
		after = readUsageDoc(t, c, f)
		owner, anon := after.consumer("images", "owner"), after.consumer("images", "-")
		if owner.Requests-before.consumer("images", "owner").Requests >= 2 && anon.Requests-before.consumer("images", "-").Requests >= 1 ||
			time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	gotOwner, wasOwner := after.consumer("images", "owner"), before.consumer("images", "owner")
	if d := (usageConsumer{Consumer: "owner", Requests: gotOwner.Requests - wasOwner.Requests, AICalls: gotOwner.AICalls - wasOwner.AICalls,
		Unauthorized: gotOwner.Unauthorized - wasOwner.Unauthorized, RateLimited: gotOwner.RateLimited - wasOwner.RateLimited}); d != (usageConsumer{Consumer: "owner", Requests: 2, AICalls: 2}) {
		t.Errorf("owner grew by %+v after two invokes, want 2 requests and 2 AI calls; before %+v, after %+v", d, wasOwner, gotOwner)
	}
	gotAnon, wasAnon := after.consumer("images", "-"), before.consumer("images", "-")
	if gotAnon.Requests-wasAnon.Requests != 1 || gotAnon.Unauthorized-wasAnon.Unauthorized != 1 || gotAnon.AICalls != wasAnon.AICalls {
		t.Errorf(`consumer "-" went from %+v to %+v after one call with a wrong key, want one more 401 and no AI call`, wasAnon, gotAnon)
	}
	if after.Neurons.Today == nil || after.Neurons.FreeDaily != 10000 ||
		(before.Neurons.Today != nil && *after.Neurons.Today <= *before.Neurons.Today) {
		t.Errorf("neurons before %v, after %v (%q); want known and grown by two image calls", before.Neurons.Today, after.Neurons.Today, after.Neurons.Unknown)
	}

	text := c.mustRun(0, append(f, "usage", "images", "--since", "1h")...).stdout
	if !strings.Contains(text, "Usage in the last hour") || !strings.Contains(text, "\nowner ") || !strings.Contains(text, "Neurons today: ") ||
		strings.Contains(text, "unknown") {
		t.Errorf("usage printed:\n%s", text)
	}

	// A GraphQL API without the neuron dataset: neurons unknown, the counts still there, exit 0.
	srv.SetQuirks(localcf.Quirks{GraphQLNoAIDataset: true})
	unknown := readUsageDoc(t, c, f)
	if unknown.Neurons.Today != nil || !strings.Contains(unknown.Neurons.Unknown, "aiInferenceAdaptiveGroups") ||
		unknown.consumer("images", "owner").Requests < gotOwner.Requests {
		t.Errorf("without the GraphQL dataset: %+v, want neurons unknown naming it and the counts kept", unknown)
	}
	if text := c.mustRun(0, append(f, "usage")...).stdout; !strings.Contains(text, "Neurons today: unknown (the GraphQL API answered with errors: ") {
		t.Errorf("usage without the GraphQL dataset printed:\n%s", text)
	}
}

// readUsageDoc runs `usage --json`, checks it against its schema and parses it.
func readUsageDoc(t *testing.T, c *cli, f []string) usageDoc {
	t.Helper()
	r := c.mustRun(0, append(f, "usage", "--json")...)
	assertJSONShape(t, jsonSchemas(t), "usage", r, "usage --json")
	var doc usageDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// requireUsageOn makes sure the template's spec turns usage on (the templates do; this keeps
// the test about `usage`, not about the template's default).
func requireUsageOn(t *testing.T, specPath string) {
	t.Helper()
	b, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "\n    usage: true") {
		return
	}
	editFile(t, specPath, "    workers_dev: true\n", "    workers_dev: true\n    usage: true\n")
}
