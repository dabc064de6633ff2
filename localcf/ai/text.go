package ai

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// defaultMaxTokens is the catalog default for max_tokens on text generation.
const defaultMaxTokens = 256

// echoLimit caps how much of the prompt the stand-in quotes back.
const echoLimit = 200

// fillerText supplies the words of the deterministic tail of a stand-in answer.
const fillerText = "deterministic placeholder reply from the local stand-in which runs no model weights " +
	"so this text only shows the shape of a real answer and changes with each prompt"

// attachment is an image sent with a chat request: its bytes, or a URL the stand-in does not
// fetch.
type attachment struct {
	data []byte
	url  string
}

func (a attachment) summary() string {
	if a.data == nil {
		return "an image at " + truncateRunes(a.url, echoLimit)
	}
	return imageSummary(a.data, "")
}

// chat is what a text-generation request asks: the prompt (or the last user turn), the
// number of words of the whole conversation, and the images it carries.
type chat struct {
	prompt      string
	promptWords int
	images      []attachment
}

// chatRequest reads the prompt form, the messages form (string content or content parts:
// text, image_url), and a legacy model's image input.
func (in inputs) chatRequest() chat {
	var c chat
	if in.has("prompt") {
		c.prompt = in.str("prompt", "")
		c.promptWords = len(strings.Fields(c.prompt))
	}
	var turns []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	_ = json.Unmarshal(in.fields["messages"], &turns)
	lastUser, last := "", ""
	for _, t := range turns {
		text, images := contentOf(t.Content)
		c.promptWords += len(strings.Fields(text))
		if t.Role == "user" {
			lastUser = text
			c.images = append(c.images, images...)
		}
		last = text
	}
	if c.prompt == "" {
		c.prompt = lastUser
		if c.prompt == "" {
			c.prompt = last
		}
	}
	if in.has("image") || in.binary != nil {
		if img, _ := in.bytesOf("image"); img != nil {
			c.images = append(c.images, attachment{data: img})
		}
	}
	return c
}

// contentOf reads a message's content: a string, or parts whose text parts are joined and
// whose image_url parts (data: URIs decoded) are collected.
func contentOf(raw json.RawMessage) (string, []attachment) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL struct {
			URL string `json:"url"`
		} `json:"image_url"`
	}
	_ = json.Unmarshal(raw, &parts)
	var texts []string
	var images []attachment
	for _, part := range parts {
		switch part.Type {
		case "text":
			texts = append(texts, part.Text)
		case "image_url":
			images = append(images, fromURL(part.ImageURL.URL))
		}
	}
	return strings.Join(texts, " "), images
}

// fromURL decodes a base64 data: URI; other URLs stay references.
func fromURL(url string) attachment {
	if rest, ok := strings.CutPrefix(url, "data:"); ok {
		if meta, data, ok := strings.Cut(rest, ","); ok && strings.HasSuffix(meta, ";base64") {
			if b, err := base64.StdEncoding.DecodeString(data); err == nil {
				return attachment{data: b}
			}
		}
	}
	return attachment{url: url}
}

// generateTokens returns the stand-in answer split into tokens (words with their leading
// space), at most maxTokens of them, and whether it was cut there.
func generateTokens(model string, c chat, maxTokens int) (tokens []string, cut bool) {
	text := fmt.Sprintf("[local Workers AI stand-in for %s] You asked: %q.", model, truncateRunes(c.prompt, echoLimit))
	for _, img := range c.images {
		text += " You sent " + img.summary() + "."
	}
	sum := sha256.Sum256([]byte(model + "\x00" + c.prompt))
	words := strings.Fields(text)
	filler := strings.Fields(fillerText)
	for i := 0; i < 12; i++ {
		words = append(words, filler[int(sum[i])%len(filler)])
	}
	tokens = make([]string, 0, len(words))
	for i, w := range words {
		if i > 0 {
			w = " " + w
		}
		tokens = append(tokens, w)
	}
	if maxTokens < 0 {
		maxTokens = 0
	}
	if len(tokens) > maxTokens {
		return tokens[:maxTokens], true
	}
	return tokens, false
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func newUsage(promptWords, completion int) usage {
	return usage{PromptTokens: promptWords, CompletionTokens: completion, TotalTokens: promptWords + completion}
}

// legacyResult is the Workers AI format's answer. usage is there only for models whose
// schema lists it (UNCONFIRMED for the others, e.g. llama-3.1-8b-instruct-fast: left out).
type legacyResult struct {
	Response string `json:"response"`
	Usage    *usage `json:"usage,omitempty"`
}

func (e *entry) runLegacyChat(in inputs) (*Output, error) {
	c := in.chatRequest()
	tokens, _ := generateTokens(e.info.Name, c, int(in.integer("max_tokens", defaultMaxTokens)))
	u := newUsage(c.promptWords, len(tokens))
	if in.boolean("stream", false) {
		out, err := sseOutput(legacyEvents(tokens))
		return withTokens(out, u), err
	}
	out := legacyResult{Response: strings.Join(tokens, "")}
	if e.usage {
		out.Usage = &u
	}
	return withTokens(jsonOutput(out), u), nil
}

// legacyEvents are the Workers AI format's stream events: one {"response": token} each
// (docs streaming page); whether the last one carries usage is UNCONFIRMED, so none does.
func legacyEvents(tokens []string) []any {
	events := make([]any, len(tokens))
	for i, tok := range tokens {
		events[i] = struct {
			Response string `json:"response"`
		}{tok}
	}
	return events
}

// sseOutput renders events as server-sent events, data: <json> each, then data: [DONE].
func sseOutput(events []any) (*Output, error) {
	var buf bytes.Buffer
	for _, ev := range events {
		data, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("encode stream event: %w", err)
		}
		buf.WriteString("data: ")
		buf.Write(data)
		buf.WriteString("\n\n")
	}
	buf.WriteString("data: [DONE]\n\n")
	return &Output{ContentType: "text/event-stream", Body: buf.Bytes()}, nil
}

// The OpenAI Chat Completions format (glm-4.7-flash, gemma-4-26b-a4b-it, kimi-k2.6).

type completion struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
	Usage   *usage   `json:"usage,omitempty"`
}

type choice struct {
	Index        int          `json:"index"`
	Message      *chatMessage `json:"message,omitempty"`
	Delta        *chatDelta   `json:"delta,omitempty"`
	FinishReason *string      `json:"finish_reason"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatDelta is a stream chunk's piece of the message; the last chunk's is empty.
type chatDelta struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content,omitempty"`
}

func (e *entry) runOpenAIChat(in inputs, now time.Time) (*Output, error) {
	c := in.chatRequest()
	maxTokens := in.integer("max_completion_tokens", in.integer("max_tokens", defaultMaxTokens))
	tokens, cut := generateTokens(e.info.Name, c, int(maxTokens))
	n := int(in.integer("n", 1))
	finish := "stop"
	if cut {
		finish = "length"
	}
	sum := sha256.Sum256([]byte(e.info.Name + "\x00" + c.prompt))
	head := completion{ID: fmt.Sprintf("chatcmpl-%x", sum[:12]), Created: now.Unix(), Model: e.info.Name}
	u := newUsage(c.promptWords, len(tokens)*n)
	if !in.boolean("stream", false) {
		out := head
		out.Object = "chat.completion"
		for i := range n {
			out.Choices = append(out.Choices, choice{Index: i, Message: &chatMessage{Role: "assistant", Content: strings.Join(tokens, "")},
				FinishReason: &finish})
		}
		out.Usage = &u
		return withTokens(jsonOutput(out), u), nil
	}
	// UNCONFIRMED (reference 5.4): the chunk shape, taken from the OpenAI convention the
	// format follows: chat.completion.chunk objects whose choices carry a delta, the last
	// with finish_reason, then (with stream_options.include_usage) one with usage only.
	head.Object = "chat.completion.chunk"
	var events []any
	for t, tok := range tokens {
		chunk := head
		for i := range n {
			delta := &chatDelta{Content: tok}
			if t == 0 {
				delta.Role = "assistant"
			}
			chunk.Choices = append(chunk.Choices, choice{Index: i, Delta: delta})
		}
		events = append(events, chunk)
	}
	last := head
	for i := range n {
		last.Choices = append(last.Choices, choice{Index: i, Delta: &chatDelta{}, FinishReason: &finish})
	}
	events = append(events, last)
	var opts struct {
		IncludeUsage bool `json:"include_usage"`
	}
	if in.has("stream_options") && json.Unmarshal(in.fields["stream_options"], &opts) == nil && opts.IncludeUsage {
		usageChunk := head
		usageChunk.Choices = []choice{}
		usageChunk.Usage = &u
		events = append(events, usageChunk)
	}
	out, err := sseOutput(events)
	return withTokens(out, u), err
}

// withTokens records the tokens a text runner counted on its output, so the neuron estimate
// agrees with the usage the answer reports.
func withTokens(out *Output, u usage) *Output {
	if out != nil {
		out.Usage.InputTokens, out.Usage.OutputTokens = u.PromptTokens, u.CompletionTokens
	}
	return out
}
