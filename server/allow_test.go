package server

import (
	"net/http"
	"strings"
	"testing"
)

// A 405 answer carries Allow, the methods the path takes (RFC 9110
// 15.5.6: an origin server must send it), so that a client that used
// the wrong method learns the right one.
func TestMethodNotAllowedAllow(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	for _, c := range []struct{ method, path, allow string }{
		{"PUT", "/v1/orders", "GET, POST, DELETE"},
		{"GET", "/v1/orders/batch", "POST"},
		{"POST", "/healthz", "GET"},
		{"DELETE", "/v1/tokens", "GET, POST"},
		{"PUT", "/v1/orders/1", "GET, PATCH, DELETE"},
		{"GET", "/v1/tokens/1", "DELETE"},
		{"DELETE", "/v1/admin/accounts/1/tokens", "GET, POST"},
		{"GET", "/v1/admin/accounts/1/tokens/1", "DELETE"},
		{"POST", "/v1/markets/BTC-USDT/book", "GET"},
		{"GET", "/v1/admin/markets/BTC-USDT/halt", "POST"},
		{"GET", "/v1/social/follows/1", "PATCH, DELETE"},
		{"GET", "/v1/social/follows/1/pause", "POST"},
		{"POST", "/v1/social/leaders/1", "GET"},
		{"GET", "/v1/social/leader", "PUT"},
	} {
		r, err := http.NewRequest(c.method, ts.base+c.path, strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ts.c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d, Allow %q; want 405, Allow %q", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), c.allow)
		}
	}
}
