package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// logLines returns the JSON log lines in out whose message is msg.
func logLines(out *syncBuffer, msg string) []map[string]any {
	var lines []map[string]any
	for _, l := range strings.Split(out.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["message"] == msg {
			lines = append(lines, m)
		}
	}
	return lines
}

// startLogged is start on a fresh directory with the server's log lines
// going to w.
func startLogged(t *testing.T, opts Options, w io.Writer) *testServer {
	t.Helper()
	lg := zerolog.New(w)
	opts.AdminToken, opts.Logger = adminTok, &lg
	return start(t, t.TempDir(), &opts)
}

// Every answer carries a request id, the client's if usable, and the
// request's log line has it; ids istd makes differ between requests and
// between two servers.
func TestRequestID(t *testing.T) {
	var logs syncBuffer
	ts := startLogged(t, Options{}, &logs)
	get := func(id string) string {
		req, _ := http.NewRequest("GET", ts.base+"/healthz", nil)
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		resp, err := ts.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Request-Id")
	}
	if got := get("trace-42:a.b_c"); got != "trace-42:a.b_c" {
		t.Fatalf("client id echoed as %q", got)
	}
	a, b := get(""), get("bad id with spaces")
	c := get(strings.Repeat("x", 65))
	if a == "" || a == b || b == c || strings.Contains(b, " ") || len(c) > 64 {
		t.Fatalf("made ids %q %q %q", a, b, c)
	}
	other := startLogged(t, Options{}, io.Discard)
	resp, err := other.c.Get(other.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if id := resp.Header.Get("X-Request-Id"); id == a {
		t.Fatalf("two servers made the same id %q", id)
	}
	var ids []string
	for _, l := range logLines(&logs, "request") {
		ids = append(ids, l["req"].(string))
	}
	if strings.Join(ids, " ") != strings.Join([]string{"trace-42:a.b_c", a, b, c}, " ") {
		t.Fatalf("logged ids %v", ids)
	}
}

// A handler that panics gets its request a 500 and an error log line
// with the panic, and the server goes on.
func TestHandlerPanicRecovered(t *testing.T) {
	var logs syncBuffer
	ts := startLogged(t, Options{}, &logs)
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
	func() {
		route := "/v1/test"
		defer ts.s.done(&ctx, []byte("r-1"), &route, time.Now())
		panic("boom")
	}()
	if ctx.Response.StatusCode() != 500 || !strings.Contains(string(ctx.Response.Body()), `"code":"internal"`) ||
		string(ctx.Response.Header.Peek("X-Request-Id")) != "r-1" {
		t.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	p := logLines(&logs, "handler panicked")
	if len(p) != 1 || p[0]["panic"] != "boom" || !strings.Contains(p[0]["stack"].(string), "TestHandlerPanicRecovered") {
		t.Fatalf("panic log: %v", p)
	}
	if r := logLines(&logs, "request"); len(r) != 1 || r[0]["level"] != "error" || r[0]["status"] != 500.0 || r[0]["answer"] == nil {
		t.Fatalf("request log: %v", r)
	}
	ts.must(200, "GET", "/healthz", "", "")
}

// A request fasthttp cannot read is logged and counted like the others.
func TestBadRequestLoggedAndCounted(t *testing.T) {
	var logs syncBuffer
	ts := startLogged(t, Options{MaxBodySize: 100, MaxBatchBodySize: 100}, &logs)
	for _, raw := range []string{
		"GET /v1/account HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
		"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("x", 1000),
	} {
		c, err := net.Dial("tcp", strings.TrimPrefix(ts.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, raw)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c.Close()
		if resp.Header.Get("X-Request-Id") == "" {
			t.Fatalf("%d without a request id", resp.StatusCode)
		}
	}
	var got []string
	for _, l := range logLines(&logs, "request") {
		got = append(got, l["route"].(string)+" "+jsonNum(l["status"]))
	}
	if strings.Join(got, ", ") != "malformed 400, too_large 413" {
		t.Fatalf("logged %v", got)
	}
	body := ts.must200Text("/metrics")
	for _, want := range []string{`http_requests_total{code="400",handler="malformed"} 1`, `http_requests_total{code="413",handler="too_large"} 1`} {
		if !strings.Contains(body, want) {
			t.Fatalf("metrics lack %s", want)
		}
	}
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// must200Text GETs path and returns its body.
func (ts *testServer) must200Text(path string) string {
	resp, err := ts.c.Get(ts.base + path)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		ts.t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return string(b)
}

// A client that sent half a request does not hold up shutdown past the
// drain, and the final snapshot is taken and reported as such.
func TestShutdownWithHalfRequest(t *testing.T) {
	ts := startLogged(t, Options{RequestTimeout: 500 * time.Millisecond}, io.Discard)
	c, err := net.Dial("tcp", strings.TrimPrefix(ts.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /v1/markets HTTP/1.1\r\nHost: x\r\n")
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	if err := ts.s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	if ts.s.snap.seq.Load() == 0 {
		t.Fatal("no final snapshot")
	}
}
