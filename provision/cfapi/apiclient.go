package cfapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/flareform/flareform/internal/buildinfo"

	"github.com/cloudflare/cloudflare-go/v6/option"
)

// sdkModule is the SDK's module, whose version names the client in the User-Agent.
const sdkModule = "github.com/cloudflare/cloudflare-go/v6"

// apiClient makes the JSON calls the SDK's typed services lack (AI Gateway, Vectorize v2,
// custom domains, zones: Client.Call). It sends them through the same middlewares (retrier,
// in-flight limit, pacer), token, base URL and HTTP client as the services. It replaces the SDK
// root package's Client: importing that package links all of its ~100 service packages into
// flareform and initialises them at every start, `flareform version` included.
type apiClient struct {
	baseURL   *url.URL
	token     string
	userAgent string
	send      option.MiddlewareNext // the middlewares around the HTTP client, outermost first
}

// newAPIClient chains middlewares around httpClient the way the SDK does: the first one
// sees the request first.
func newAPIClient(baseURL, token string, httpClient *http.Client, middlewares []option.Middleware) (*apiClient, error) {
	base, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("API base URL: %w", err)
	}
	// Relative paths resolve under the base's path, as with the SDK's option.WithBaseURL.
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	send := httpClient.Do
	for i := len(middlewares) - 1; i >= 0; i-- {
		middleware, next := middlewares[i], send
		send = func(req *http.Request) (*http.Response, error) { return middleware(req, next) }
	}
	return &apiClient{baseURL: base, token: token, userAgent: sdkUserAgent(), send: send}, nil
}

// sdkUserAgent is the User-Agent the SDK's services send ("Cloudflare/Go 6.10.0"), so the
// API sees one client whichever way a call went.
func sdkUserAgent() string {
	if dep := buildinfo.Dependency(sdkModule); dep != nil {
		return "Cloudflare/Go " + strings.TrimPrefix(dep.Version, "v")
	}
	return "Cloudflare/Go"
}

// call sends one request with an optional JSON body and returns the answer's body. An answer
// of 400 or more is an *APIError carrying the status and the envelope's first code and
// message; transport errors and the retrier's give-ups pass through.
func (c *apiClient) call(ctx context.Context, method, path string, jsonBody []byte) ([]byte, error) {
	if jsonBody == nil {
		return c.sendBody(ctx, method, path, "", nil)
	}
	return c.sendBody(ctx, method, path, "application/json", jsonBody)
}

// sendBody is call with a body of any content type ("" and nil: no body): the Analytics
// Engine SQL API takes the SQL text itself.
func (c *apiClient) sendBody(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	u, err := c.baseURL.Parse(strings.TrimLeft(path, "/"))
	if err != nil {
		return nil, fmt.Errorf("API path %q: %w", path, err)
	}
	var rd io.Reader
	if body != nil {
		// A *bytes.Reader gives the request GetBody, which the retrier needs to replay it.
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.send(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if res.StatusCode >= 400 {
		return nil, newAPIError(res.StatusCode, answer)
	}
	return answer, nil
}

// Call makes one API request through the JSON client (with the client's middlewares): path is
// relative to the base URL ("accounts/<id>/ai-gateway/gateways", a query allowed), body is
// sent as JSON unless nil, and the envelope's result is decoded into out (nil: ignore the
// answer). A failed call is an *APIError.
func (c *Client) Call(ctx context.Context, method, path string, body any, out any) error {
	var params []byte
	if body != nil {
		js, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		params = js
	}
	raw, err := c.raw.call(ctx, method, path, params)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	var env struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	if err := json.Unmarshal(env.Result, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}
