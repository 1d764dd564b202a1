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
