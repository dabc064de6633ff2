package cfapi

import (
	"errors"
	"github.com/flareform/flareform/internal/textwait"
	"net/http"
	"strings"

	"github.com/cloudflare/cloudflare-go/v6/workers"
)

// codeNotFound is Cloudflare's error code for a script or workers.dev subdomain that does not
// exist.
const codeNotFound = 10007

// cleanAPIError replaces the SDK's error (method, full URL and raw JSON body) with an *APIError
// that reads well after "apply image-api: upload script: ". Other errors pass through. Every
// method of this package returns its errors through it.
func cleanAPIError(err error) error {
	var sdkErr *workers.Error
	if !errors.As(err, &sdkErr) {
		return err
	}
	e := &APIError{Status: sdkErr.StatusCode}
	if len(sdkErr.Errors) > 0 {
		e.Code = int(sdkErr.Errors[0].Code)
		e.Message = sdkErr.Errors[0].Message
	} else {
		e.Message = textwait.Snippet([]byte(sdkErr.JSON.RawJSON()), 120)
	}
	return e
}

// IsNotFound reports whether err says the object asked for (a script, a version, the workers.dev
// subdomain, a gateway, an index, a domain) does not exist. A script that was just created or
// deleted can also answer "has no versions" with a 404.
func IsNotFound(err error) bool {
	var e *APIError
	if !errors.As(err, &e) {
		return false
	}
	return e.Code == codeNotFound || e.Status == http.StatusNotFound ||
		strings.Contains(strings.ToLower(e.Message), "has no versions")
}
