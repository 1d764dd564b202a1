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
	c, err := net.Dial("tcp", strings.TrimPrefix(ts.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	const secret = "tok_this_must_not_come_back"
	if _, err := io.WriteString(c, "GET /v1/account HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+secret+"\r\nBad Header\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"code":"invalid_argument"`) ||
		!strings.Contains(string(body), "malformed HTTP request") || strings.Contains(string(body), secret) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	t.Logf("%s", body)
}

// A request whose line and headers do not fit the read buffer gets a
// 431 in the API's error format, not a 400 that tells the client to
// raise a server setting.
func TestHeadersTooLarge(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok})
	c, err := net.Dial("tcp", strings.TrimPrefix(ts.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "GET /v1/markets HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20000) + "\r\n\r\n"
	go io.WriteString(c, req) // the server may answer before reading it all
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 431 || !strings.Contains(string(body), `"code":"invalid_argument"`) ||
		!strings.Contains(string(body), "headers must fit in 4096 bytes") || strings.Contains(string(body), "ReadBufferSize") ||
		resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
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
		c, err := net.Dial("tcp", strings.TrimPrefix(ts.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		c.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(body), "malformed HTTP request") ||
			strings.Contains(string(body), secret) {
			t.Errorf("%q: %d %s", req, resp.StatusCode, body)
		}
	}
}
