package server

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A request to a route other than the batch one is refused (413) from its
// header, before its body is read: a client announcing a large body gets
// its answer without sending it, and istd does not buffer up to the batch
// limit for it.
func TestBodyLimitBeforeRead(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok})
	for _, target := range []string{"/v1/orders", "/v1/accounts?x=1", "/v1/orders/7", "/nowhere"} {
		c, err := net.Dial("tcp", strings.TrimPrefix(ts.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		// The header only: a server that waits for the 900,000 bytes
		// answers nothing before the deadline.
		io.WriteString(c, "POST "+target+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n{")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: %v (the server waited for the body)", target, err)
		}
		body, _ := io.ReadAll(resp.Body)
		c.Close()
		if resp.StatusCode != 413 || !strings.Contains(string(body), "request body too large") || resp.Header.Get("X-Request-Id") == "" {
			t.Fatalf("%s: %d %s", target, resp.StatusCode, body)
		}
	}
	// The batch route reads up to its own limit; so do raw paths that
	// could normalise to it, which route then checks.
	big := `{"orders":[` + strings.Repeat(" ", 100000) + `]}`
	for _, target := range []string{"/v1/orders/batch", "/v1//orders/batch", "/v1/orders/./batch", "/v1/orders/%62atch"} {
		code, _, body := rawRequest(t, ts, "POST "+target+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
			"Authorization: Bearer "+adminTok+"\r\nContent-Length: "+strconv.Itoa(len(big))+"\r\n\r\n"+big)
		if code == 413 {
			t.Fatalf("%s: %d %s", target, code, body)
		}
	}
	// Over the batch limit, the batch route is refused from its header too.
	code, _, body := rawRequest(t, ts, "POST /v1/orders/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
	if code != 413 {
		t.Fatalf("batch over its limit: %d %s", code, body)
	}
}

// A client that sends a body over the limit reads its 413, not a reset
// of the connection: refused from its header, the request's body is
// still arriving when the server closes, and a close that does not
// linger (lingerClose) made 5 of 50 such requests of a Go client fail
// with "connection reset by peer".
// Without connection caps too (both negative).
func TestBodyLimitAnswerNotReset(t *testing.T) {
	for _, caps := range []int{0, -1} {
		ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, MaxConnsPerIP: caps, MaxConns: caps})
		body := bytes.Repeat([]byte(" "), 900_000)
		c := &http.Client{Timeout: 10 * time.Second}
		for i := range 100 {
			resp, err := c.Post(ts.base+"/v1/orders", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatalf("caps %d, try %d: %v", caps, i, err)
			}
			resp.Body.Close()
			if resp.StatusCode != 413 {
				t.Fatalf("caps %d, try %d: %d", caps, i, resp.StatusCode)
			}
		}
	}
}
