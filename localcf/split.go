package localcf

import (
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
)

// Request headers that steer a gradual deployment (cloudflare-operations.md 1.4).
const (
	versionOverridesHeader = "Cloudflare-Workers-Version-Overrides"
	versionKeyHeader       = "Cloudflare-Workers-Version-Key"
)

// splitter picks the version of a deployment that answers a request. Requests without a version
// key draw from a PRNG per script, seeded from Options.TrafficSeed and the script's name, so a
// test sending the same requests to the same deployments sees the same versions on every run.
type splitter struct {
	seed int64

	mu   sync.Mutex
	rngs map[liveKey]*rand.Rand
}

func newSplitter(seed int64) *splitter {
	return &splitter{seed: seed, rngs: map[liveKey]*rand.Rand{}}
}

// choose returns the id of the version of d (a deployment of k's script) that serves a request
// with header h:
//  1. the version the Cloudflare-Workers-Version-Overrides entry for this script names, if it
//     is in d, even at 0%;
//  2. else, with a Cloudflare-Workers-Version-Key, the version at the key's fixed point of d's
//     percentage range (the same key gets the same version for as long as d is active);
//  3. else the version at a random point drawn from the script's seeded PRNG.
//
// An unusable override (not a valid Dictionary, no entry for this script, not a string, a
// version outside d) is ignored silently, as Cloudflare does.
func (sp *splitter) choose(k liveKey, d *deployment, h http.Header) string {
	if id, ok := overrideFor(h, k.script); ok && deploymentHas(d, id) {
		return id
	}
	if key := h.Get(versionKeyHeader); key != "" {
		return versionAt(d, keyPoint(d.ID, key))
	}
	if !isSplit(d) {
		return versionAt(d, 0) // no draw: an unsplit deployment leaves the sequence alone
	}
	return versionAt(d, sp.draw(k))
}

// draw is a point in [0, 100) from k's PRNG.
func (sp *splitter) draw(k liveKey) float64 {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	rng := sp.rngs[k]
	if rng == nil {
		h := fnv.New64a()
		h.Write([]byte(k.script)) // not the account id: it is random, and runs must repeat
		rng = rand.New(rand.NewPCG(uint64(sp.seed), h.Sum64()))
		sp.rngs[k] = rng
	}
	return rng.Float64() * 100
}

// keyPoint maps a version key to a fixed point in [0, 100) for one deployment.
func keyPoint(deploymentID, key string) float64 {
	h := fnv.New64a()
	h.Write([]byte(deploymentID))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return float64(h.Sum64()%1_000_000) / 10_000
}

// versionAt returns the version whose share of [0, 100) holds point, the shares laid out in the
// deployment's order. A version at 0% holds no point.
func versionAt(d *deployment, point float64) string {
	var end float64
	last := ""
	for _, dv := range d.Versions {
		if dv.Percentage <= 0 {
			continue
		}
		end += dv.Percentage
		last = dv.VersionID
		if point < end {
			return dv.VersionID
		}
	}
	return last // rounding: shares that add up to a hair under 100
}

// isSplit reports whether more than one version of d takes traffic.
func isSplit(d *deployment) bool {
	n := 0
	for _, dv := range d.Versions {
		if dv.Percentage > 0 {
			n++
		}
	}
	return n > 1
}

func deploymentHas(d *deployment, versionID string) bool {
	for _, dv := range d.Versions {
		if dv.VersionID == versionID {
			return true
		}
	}
	return false
}

// overrideFor returns the version id the overrides header names for script, normalised as the
// API normalises version ids. Several header lines form one Dictionary (RFC 8941 section 4.2).
func overrideFor(h http.Header, script string) (string, bool) {
	lines := h.Values(versionOverridesHeader)
	if len(lines) == 0 {
		return "", false
	}
	dict, err := parseSFDictionary(strings.Join(lines, ","))
	if err != nil {
		return "", false
	}
	m, ok := dict[script]
	if !ok || m.kind != sfString {
		return "", false
	}
	return normalizeUUID(m.text), true
}
