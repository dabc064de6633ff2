package ai

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// defaultMaxTokens is the catalog default for max_tokens on text generation.
const defaultMaxTokens = 256

// echoLimit caps how much of the prompt the stand-in quotes back.
const echoLimit = 200

// fillerText supplies the words of the deterministic tail of a stand-in answer.
const fillerText = "deterministic placeholder reply from the local stand-in which runs no model weights " +
	"so this text only shows the shape of a real answer and changes with each prompt"

// promptText is what the stand-in answers: the prompt, or the last user turn
// of a conversation.
func promptText(in inputs) string {
	if p := in.str("prompt", ""); p != "" {
		return p
	}
	msgs := in.messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return msgs[i].Content
		}
	}
	if len(msgs) > 0 {
		return msgs[len(msgs)-1].Content
	}
	return ""
}

// generateTokens returns the stand-in answer split into tokens (words with
// their leading space), at most maxTokens of them.
func generateTokens(model, prompt string, maxTokens int) []string {
	text := fmt.Sprintf("[local Workers AI stand-in for %s] You asked: %q.", model, truncateRunes(prompt, echoLimit))
	sum := sha256.Sum256([]byte(model + "\x00" + prompt))
	words := strings.Fields(text)
	filler := strings.Fields(fillerText)
	for i := 0; i < 12; i++ {
		words = append(words, filler[int(sum[i])%len(filler)])
	}
	tokens := make([]string, 0, len(words))
	for i, w := range words {
		if i > 0 {
			w = " " + w
		}
		tokens = append(tokens, w)
	}
	if len(tokens) > maxTokens {
		tokens = tokens[:maxTokens]
	}
	return tokens
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// textResult is the non-streaming text-generation result.
type textResult struct {
	Response string `json:"response"`
	Usage    usage  `json:"usage"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func newUsage(prompt string, completion int) usage {
	p := len(strings.Fields(prompt))
	return usage{PromptTokens: p, CompletionTokens: completion, TotalTokens: p + completion}
}

// sseStream renders tokens as Workers AI server-sent events:
// one data: {"response": token} event each, then data: [DONE].
func sseStream(tokens []string) ([]byte, error) {
	var buf bytes.Buffer
	for _, tok := range tokens {
		event, err := json.Marshal(struct {
			Response string `json:"response"`
		}{tok})
		if err != nil {
			return nil, fmt.Errorf("encode stream event: %w", err)
		}
		buf.WriteString("data: ")
		buf.Write(event)
		buf.WriteString("\n\n")
	}
	buf.WriteString("data: [DONE]\n\n")
	return buf.Bytes(), nil
}
