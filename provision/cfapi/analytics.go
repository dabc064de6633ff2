package cfapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The two analytics APIs `flareform usage` reads: the Analytics Engine SQL API (the data
// points the workers write) and the GraphQL Analytics API (Workers AI neurons). Both are reads,
// so they go through the same retrier, in-flight limit and pacer as every other call: a 429 or
// 5xx is waited out and retried like any read (cloudflare-operations.md 3.3 and 4.2).

// SQL runs query on the account's Analytics Engine (POST
// /accounts/{accountID}/analytics_engine/sql, the SQL text as the body) and returns the rows of
// its JSON answer ({"meta", "data", "rows"}): one map per row, column name to value. Numbers
// are json.Number, so a count above 2^53 is not rounded; the caller converts. The query must
// ask for FORMAT JSON (the default): another format is not an object and fails to decode.
func (c *Client) SQL(ctx context.Context, accountID, query string) ([]map[string]any, error) {
	path := "accounts/" + url.PathEscape(accountID) + "/analytics_engine/sql"
	// text/plain: the body is SQL, not JSON (the docs send it with curl --data).
	raw, err := c.raw.sendBody(ctx, http.MethodPost, path, "text/plain", []byte(query))
	if err != nil {
		return nil, err
	}
	var answer struct {
		Data []map[string]any `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&answer); err != nil {
		return nil, fmt.Errorf("decode Analytics Engine answer: %w", err)
	}
	return answer.Data, nil
}

// GraphQLError is a GraphQL answer's "errors": the API took the request (HTTP 200) but could
// not answer the query, e.g. a field or dataset it does not know or a token without access.
type GraphQLError struct {
	Messages []string // each error's message, in the order given
}

func (e *GraphQLError) Error() string {
	return "GraphQL: " + strings.Join(e.Messages, "; ")
}

// GraphQL sends query with variables to the GraphQL Analytics API (POST <base>/graphql, i.e.
// /client/v4/graphql) and returns the answer's "data". An answer with "errors" returns the data
// it has (often null) and a *GraphQLError; an HTTP failure is an *APIError as for every call.
func (c *Client) GraphQL(ctx context.Context, query string, variables map[string]any) (json.RawMessage, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": variables})
	if err != nil {
		return nil, fmt.Errorf("encode GraphQL request: %w", err)
	}
	raw, err := c.raw.call(ctx, http.MethodPost, "graphql", body)
	if err != nil {
		return nil, err
	}
	var answer struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return nil, fmt.Errorf("decode GraphQL answer: %w", err)
	}
	if len(answer.Errors) > 0 {
		gqlErr := &GraphQLError{}
		for _, e := range answer.Errors {
			gqlErr.Messages = append(gqlErr.Messages, e.Message)
		}
		return answer.Data, gqlErr
	}
	return answer.Data, nil
}
