package cfapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// analyticsClient is a Client on handler, with no pacing and no retries.
func analyticsClient(t *testing.T, handler http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL + "/client/v4", Token: "tok", HTTPClient: srv.Client(), Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// SQL posts the query itself as text/plain under the account and returns the rows of "data",
// numbers exact (a count beyond 2^53 is not rounded); an HTTP failure is an *APIError with the
// answer's words.
func TestSQLPostsTheQueryAndReturnsItsRows(t *testing.T) {
	c := analyticsClient(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.EscapedPath() != "/client/v4/accounts/acc%2F1/analytics_engine/sql" ||
			r.Header.Get("Content-Type") != "text/plain" || r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("%s %s, Content-Type %q", r.Method, r.URL.EscapedPath(), r.Header.Get("Content-Type"))
		}
		if string(body) == "SELECT broken" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, "cannot parse query")
			return
		}
		if string(body) != "SELECT 1 FORMAT JSON" {
			t.Errorf("body %q, want the SQL text", body)
		}
		io.WriteString(w, `{"meta":[{"name":"n","type":"UInt64"}],"data":[{"n":9007199254740993,"s":"x"}],"rows":1}`)
	})
	rows, err := c.SQL(t.Context(), "acc/1", "SELECT 1 FORMAT JSON")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0]["n"] != json.Number("9007199254740993") || rows[0]["s"] != "x" {
		t.Errorf("rows = %#v", rows)
	}
	_, err = c.SQL(t.Context(), "acc/1", "SELECT broken")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnprocessableEntity || apiErr.Message != "cannot parse query" {
		t.Errorf("failed query: %v, want an *APIError 422 with the answer's words", err)
	}
}

// GraphQL posts {"query","variables"} to <base>/graphql and returns "data"; an answer with
// "errors" is a *GraphQLError listing their messages.
func TestGraphQLReturnsDataOrItsErrors(t *testing.T) {
	answers := []string{
		`{"data":{"viewer":{"ok":true}},"errors":null}`,
		`{"data":null,"errors":[{"message":"unknown field"},{"message":"not allowed"}]}`,
	}
	c := analyticsClient(t, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Query     string         `json:"query"`
			Variables map[string]any `json:"variables"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.URL.Path != "/client/v4/graphql" ||
			req.Query != "query { viewer }" || req.Variables["a"] != "acc" {
			t.Errorf("%s %v (%v)", r.URL.Path, req, err)
		}
		io.WriteString(w, answers[0])
		answers = answers[1:]
	})
	data, err := c.GraphQL(t.Context(), "query { viewer }", map[string]any{"a": "acc"})
	if err != nil || string(data) != `{"viewer":{"ok":true}}` {
		t.Errorf("GraphQL = %s, %v", data, err)
	}
	_, err = c.GraphQL(t.Context(), "query { viewer }", map[string]any{"a": "acc"})
	var gqlErr *GraphQLError
	if !errors.As(err, &gqlErr) || err.Error() != "GraphQL: unknown field; not allowed" {
		t.Errorf("GraphQL with errors: %v", err)
	}
}
