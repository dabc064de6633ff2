package ai

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"image"
	"strings"
	// Decoders for image.DecodeConfig; png and jpeg are also used to encode.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"
)

// speechResult is the Automatic Speech Recognition output.
type speechResult struct {
	Text      string      `json:"text"`
	WordCount int         `json:"word_count"`
	Words     []timedWord `json:"words"`
	VTT       string      `json:"vtt"`
}

type timedWord struct {
	Word  string  `json:"word"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// secondsPerWord spaces out the stand-in transcript's word timings.
const secondsPerWord = 0.4

// transcribe makes a deterministic stand-in transcript for audio bytes.
func transcribe(audio []byte) speechResult {
	if len(audio) == 0 {
		return speechResult{Words: []timedWord{}, VTT: "WEBVTT\n\n"}
	}
	text := fmt.Sprintf("Local stand-in transcript of %d bytes of audio, fingerprint %s.",
		len(audio), fingerprint(audio))
	fields := strings.Fields(text)
	words := make([]timedWord, len(fields))
	for i, w := range fields {
		words[i] = timedWord{Word: w, Start: float64(i) * secondsPerWord, End: float64(i+1) * secondsPerWord}
	}
	end := words[len(words)-1].End
	vtt := fmt.Sprintf("WEBVTT\n\n00:00.000 --> %s\n%s\n\n", vttTime(end), text)
	return speechResult{Text: text, WordCount: len(words), Words: words, VTT: vtt}
}

func vttTime(seconds float64) string {
	ms := int(seconds*1000 + 0.5)
	return fmt.Sprintf("%02d:%02d.%03d", ms/60000, ms/1000%60, ms%1000)
}

// describeImage makes a deterministic stand-in caption. Image bytes that are a
// PNG, JPEG or GIF get their real format and size mentioned.
func describeImage(img []byte, encoded, prompt string) string {
	var what string
	switch {
	case encoded != "":
		what = fmt.Sprintf("a %d-character encoded image (fingerprint %s)", len(encoded), fingerprint([]byte(encoded)))
	default:
		what = fmt.Sprintf("a %d-byte image (fingerprint %s)", len(img), fingerprint(img))
		if cfg, format, err := image.DecodeConfig(bytes.NewReader(img)); err == nil {
			what = fmt.Sprintf("a %dx%d %s image (fingerprint %s)", cfg.Width, cfg.Height, format, fingerprint(img))
		}
	}
	desc := "Local Workers AI stand-in description of " + what + "."
	if prompt != "" {
		desc += fmt.Sprintf(" Prompt: %q.", truncateRunes(prompt, echoLimit))
	}
	return desc
}

func fingerprint(b []byte) string {
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%x", sum[:6])
}
