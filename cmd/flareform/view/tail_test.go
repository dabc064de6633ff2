package view

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const tailKey = "k3y-0123456789abcdef0123456789abcdef"

// tailEventJSON is an event as the API sends it: a request that logged the key and its
// Authorization header, and threw.
const tailEventJSON = `{"outcome":"exception","scriptName":"image-api","exceptions":[{"name":"Error","message":"bad <input> & more","timestamp":1767323045123,"stack":"    at Object.fetch (worker.js:5:54)\n    at run (lib/a.js:2:1)"}],` +
	`"logs":[{"message":["auth is","Bearer ` + tailKey + `",{"n":1}],"level":"log","timestamp":1767323045120},{"message":["slow"],"level":"warn","timestamp":1767323045121}],` +
	`"eventTimestamp":1767323045000,"event":{"request":{"url":"https://image-api.acme.workers.dev/draw?prompt=cat&api_key=` + tailKey + `&token=abc","method":"POST",` +
	`"headers":{"x-api-key":"REDACTED","authorization":"Bearer ` + tailKey + `","cookie":"s=1","content-type":"application/json","x-echo":"` + tailKey + `"},"cf":{"colo":"LHR"}}}}`

func TestTailRedactJSONKeepsOrderAndHidesSecrets(t *testing.T) {
	got, err := NewTailRedactor([]string{tailKey, "ab"}).RedactJSON([]byte(tailEventJSON))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(got, []byte(tailKey)) {
		t.Fatalf("the key survived redaction: %s", got)
	}
	want := strings.NewReplacer(
		`"Bearer `+tailKey+`",{"n"`, `"Bearer [redacted]",{"n"`,
		`api_key=`+tailKey+`&token=abc`, `api_key=[redacted]&token=[redacted]`,
		`"authorization":"Bearer `+tailKey+`"`, `"authorization":"[redacted]"`,
		`"x-api-key":"REDACTED"`, `"x-api-key":"[redacted]"`,
		`"cookie":"s=1"`, `"cookie":"[redacted]"`,
		`"x-echo":"`+tailKey+`"`, `"x-echo":"[redacted]"`,
	).Replace(tailEventJSON)
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(want)); err != nil {
		t.Fatal(err)
	}
	if string(got) != compact.String() {
		t.Errorf("redacted event:\n got %s\nwant %s", got, compact.String())
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://x.dev/a":                         "https://x.dev/a",
		"https://x.dev/a?q=1&key=s&b=2#f":         "https://x.dev/a?q=1&key=[redacted]&b=2#f",
		"https://x.dev/?access_token=t&monkey=m":  "https://x.dev/?access_token=[redacted]&monkey=m",
		"https://x.dev/?api%5Fkey=v&flag&TOKEN=x": "https://x.dev/?api%5Fkey=[redacted]&flag&TOKEN=[redacted]",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTailPrettyGolden(t *testing.T) {
	r := NewTailRedactor([]string{tailKey})
	var out bytes.Buffer
	for _, raw := range []string{
		tailEventJSON,
		`{"outcome":"ok","scriptName":"image-api","exceptions":[],"logs":[],"eventTimestamp":1767323046000,"event":{"request":{"url":"https://image-api.acme.workers.dev/","method":"GET","headers":{},"cf":{}}}}`,
		`{"outcome":"exceededCpu","scriptName":"image-api","exceptions":[],"logs":[{"message":["tick"],"level":"info","timestamp":1}],"eventTimestamp":1767323047000,"event":{"cron":"*/5 * * * *","scheduledTime":1767323047000}}`,
		`{"outcome":"unknown","scriptName":"image-api","exceptions":[],"logs":[],"eventTimestamp":1767323048000,"event":null}`,
	} {
		red, err := r.RedactJSON([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		var ev TailEvent
		if err := json.Unmarshal(red, &ev); err != nil {
			t.Fatal(err)
		}
		Tail(&out, ev)
	}
	path := filepath.Join("testdata", "tail.golden")
	if *update {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if out.String() != string(want) {
		t.Errorf("pretty tail output differs from %s (run with -update):\n%s", path, out.String())
	}
	if strings.Contains(out.String(), tailKey) {
		t.Error("the key is in the pretty output")
	}
}
