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

// One client address holds at most MaxConnsPerIP connections open at
// once: the next is answered 429 in the API's error format and closed,
// counted in http_connections_refused_total, and a slot given back by a
// closed connection can be taken again.
func TestMaxConnsPerIP(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, MaxConnsPerIP: 3})
	addr := strings.TrimPrefix(ts.base, "http://")
	// get sends a request on c and returns its status and body.
	get := func(c net.Conn, br *bufio.Reader) (int, string, error) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return 0, "", err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return 0, "", err
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	var held []net.Conn
	for i := range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if code, body, err := get(c, bufio.NewReader(c)); err != nil || code != 200 {
			t.Fatalf("connection %d: %d %s %v", i, code, body, err)
		}
		held = append(held, c)
	}
	// The fourth is refused without sending anything.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 429 || !strings.Contains(string(b), `"code":"rate_limited"`) ||
		!strings.Contains(string(b), "too many connections from your address: at most 3 at once") || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, b)
	}
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("refused connection still open (read %d)", n)
	}
	c.Close()
	// (A client such as Go's net/http may see the answer, written as the
	// connection is accepted, before it sends its request, and report the
	// connection closed instead of the 429.)
	// A held connection closed gives its slot back.
	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		code, body, err := get(c, bufio.NewReader(c))
		c.Close()
		if err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not given back: %d %s %v", code, body, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.c.CloseIdleConnections()
	// The metric, over a held connection.
	br := bufio.NewReader(held[1])
	held[1].SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(held[1], "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	mresp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mresp.Body)
	if !strings.Contains(string(mb), "\nhttp_connections_refused_total{reason=\"per_ip\"} ") ||
		strings.Contains(string(mb), "\nhttp_connections_refused_total{reason=\"per_ip\"} 0\n") ||
		!strings.Contains(string(mb), "\nhttp_connections_refused_total{reason=\"total\"} 0\n") {
		t.Fatalf("http_connections_refused_total missing or 0:\n%s", grepLines(string(mb), "http_connections_refused"))
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// At most MaxConns connections are open at once in total, whatever their
// addresses: the next is answered 503 overloaded and closed.
func TestMaxConns(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, MaxConns: 2, MaxConnsPerIP: -1})
	addr := strings.TrimPrefix(ts.base, "http://")
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp, err)
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(b), `"code":"overloaded"`) ||
		!strings.Contains(string(b), "too many connections open: at most 2") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

// The default total cap leaves room under the open-file limit.
func TestDefaultMaxConns(t *testing.T) {
	n, ok := openFileLimit()
	got := defaultMaxConns()
	switch {
	case !ok || n > 256*1024+reservedFiles:
		if got != 256*1024 {
			t.Fatalf("limit %d (%v): default %d", n, ok, got)
		}
	case got != max(64, int(n)-reservedFiles):
		t.Fatalf("limit %d: default %d", n, got)
	}
}
