package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A request whose headers cannot be parsed gets a 400 invalid_argument
// that says so, without echoing the request and its bearer token back.
func TestMalformedRequestNotEchoed(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok})
	const secret = "tok_this_must_not_come_back"
	code, _, body := rawRequest(t, ts, "GET /v1/account HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+secret+"\r\nBad Header\r\n\r\n")
	if code != 400 || !strings.Contains(body, `"code":"invalid_argument"`) ||
		!strings.Contains(body, "malformed HTTP request") || strings.Contains(body, secret) {
		t.Fatalf("%d %s", code, body)
	}
	t.Logf("%s", body)
}

// rawRequest writes req, raw bytes, on a new connection to ts and returns
// the answer's status, headers and body. It writes on another goroutine:
// the server may answer before it has read all of req.
func rawRequest(t *testing.T, ts *testServer, req string) (int, http.Header, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(ts.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	go io.WriteString(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// A request whose line and headers do not fit the read buffer gets a
// 431 in the API's error format, not a 400 that tells the client to
// raise a server setting.
func TestHeadersTooLarge(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok})
	code, h, body := rawRequest(t, ts, "GET /v1/markets HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 20000)+"\r\n\r\n")
	if code != 431 || !strings.Contains(body, `"code":"invalid_argument"`) ||
		!strings.Contains(body, "headers must fit in 4096 bytes") || strings.Contains(body, "ReadBufferSize") ||
		h.Get("X-Request-Id") == "" {
		t.Fatalf("%d %v %s", code, h, body)
	}
}

// No malformed request gets its bearer token back: fasthttp quotes the
// whole request in the errors of its request line (a bad method, URI or
// version) and the header line in those of a header line.
func TestMalformedRequestLineNotEchoed(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok})
	const secret = "tok_this_must_not_come_back"
	for _, req := range []string{
		"G\x00T /v1/account HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secret + "\r\n\r\n",
		"GET /v1/account?x=\x7f HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secret + "\r\n\r\n",
		"GET  HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secret + "\r\n\r\n",
		"GET /v1/account HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secret + "\x01\r\n\r\n",
		"GET /v1/account HTTP/1.1\r\nHost: x\r\nAuthorization\x01: Bearer " + secret + "\r\n\r\n",
		"GET /v1/account HTTP/1.1\r\nHost: x\r\nAuthorization Bearer " + secret + "\r\n\r\n",
	} {
		code, _, body := rawRequest(t, ts, req)
		if code != 400 || !strings.Contains(body, "malformed HTTP request") || strings.Contains(body, secret) {
			t.Errorf("%q: %d %s", req, code, body)
		}
	}
}
