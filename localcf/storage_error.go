package localcf

import "fmt"

// storageError is a failed KV or R2 operation, the same for the REST API (apiError) and the
// binding (writeBindingError): both answer with its status, code and message.
type storageError struct {
	status, code int
	message      string
}

func (e *storageError) Error() string { return e.message }

func storageErr(status, code int, format string, args ...any) *storageError {
	return &storageError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// apiError is the REST API's answer for e.
func (e *storageError) apiError() *apiError {
	return newAPIError(e.status, e.code, "%s", e.message)
}
