package ai

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"strings"
	"unicode"
)

// embeddingResult is the Text Embeddings output.
type embeddingResult struct {
	Shape   [2]int      `json:"shape"`
	Data    [][]float64 `json:"data"`
	Pooling string      `json:"pooling,omitempty"`
}

// embed returns a unit-length vector for text. It is a hashed bag of words:
// every lower-cased word adds a fixed pseudo-random direction, so texts that
// share words have a higher cosine similarity, which keeps vector-search demos
// meaningful. Text without words falls back to a direction from the whole text.
func embed(model, text string, dims int) []float64 {
	vec := make([]float64, dims)
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	})
	if len(words) == 0 {
		words = []string{"\x00" + text}
	}
	for _, w := range words {
		addDirection(vec, model+"\x00"+w)
	}
	normalize(vec)
	return vec
}

// addDirection adds a deterministic pseudo-random vector with entries in
// [-1, 1) derived from key (SplitMix64 seeded by its hash).
func addDirection(vec []float64, key string) {
	sum := sha256.Sum256([]byte(key))
	state := binary.LittleEndian.Uint64(sum[:8])
	for i := range vec {
		state += 0x9e3779b97f4a7c15
		z := state
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		z ^= z >> 31
		vec[i] += float64(z>>11)/float64(1<<52) - 1
	}
}

func normalize(vec []float64) {
	var sq float64
	for _, v := range vec {
		sq += v * v
	}
	norm := math.Sqrt(sq)
	if norm == 0 {
		vec[0] = 1
		return
	}
	for i := range vec {
		vec[i] /= norm
	}
}
