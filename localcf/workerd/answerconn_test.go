package workerd

import (
	"errors"
	"net"
	"testing"
)

// scriptedConn fails every write once failWrites is set, and reads answer bytes.
type scriptedConn struct {
	net.Conn
	failWrites bool
}

var errReset = errors.New("connection reset by peer")

func (c *scriptedConn) Write(b []byte) (int, error) {
	if c.failWrites {
		return 0, errReset
	}
	return len(b), nil
}

func (c *scriptedConn) Read(b []byte) (int, error) { return copy(b, "HTTP/1.1 413 "), nil }

// A write failing in the middle of a request (the worker answered and workerd reset the
// connection) is hidden, so the transport goes on to read the answer; a request's first write
// failing (a connection workerd closed while idle) is not, so the transport retries elsewhere.
func TestAnswerKeepingConnHidesOnlyMidRequestWriteFailures(t *testing.T) {
	inner := &scriptedConn{}
	c := &answerKeepingConn{Conn: inner}
	if _, err := c.Write([]byte("POST / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	inner.failWrites = true
	if n, err := c.Write(make([]byte, 4096)); err != nil || n != 4096 {
		t.Errorf("a failed write mid-request: %d, %v; want it reported as written", n, err)
	}
	if n, err := c.Write(make([]byte, 10)); err != nil || n != 10 {
		t.Errorf("a later write of the same request: %d, %v; want it dropped quietly", n, err)
	}

	fresh := &answerKeepingConn{Conn: &scriptedConn{}}
	fresh.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	fresh.Read(make([]byte, 16)) // the answer to the first request
	fresh.Conn.(*scriptedConn).failWrites = true
	if _, err := fresh.Write([]byte("POST / HTTP/1.1\r\n")); !errors.Is(err, errReset) {
		t.Errorf("the first write of the next request failed with %v; want the error itself", err)
	}
}
