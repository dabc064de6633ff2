package ai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Workers AI error codes used by this package (see the package comment).
const (
	CodeMissingBody   = 3003
	CodeInvalidInput  = 5006
	CodeInvalidBase64 = 5004
	CodeNoSuchModel   = 5007
	CodeTooLarge      = 3006
	CodeTimeout       = 3007
	CodeAborted       = 3008
	CodeInternal      = 3000 // a fault in the stand-in itself; should never happen
)

// MaxInputBytes is the largest request body Run accepts. The real limit is
// not documented; this is generous enough for img2img and audio byte arrays.
const MaxInputBytes = 32 << 20

// Error is a Workers AI failure: the HTTP status and the error code and
// message that go into {"errors":[{"code","message"}]}.
type Error struct {
	Status  int
	Code    int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

func noSuchModel(name string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeNoSuchModel,
		Message: fmt.Sprintf("No such model %s or task", name)}
}

func invalidInput(detail string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidInput,
		Message: "Invalid input: " + detail}
}

// contextError turns a context failure into the Workers AI timeout/abort error.
func contextError(err error) *Error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Status: http.StatusRequestTimeout, Code: CodeTimeout, Message: "Request timeout"}
	}
	return &Error{Status: http.StatusRequestTimeout, Code: CodeAborted, Message: "Request aborted"}
}
