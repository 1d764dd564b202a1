package server

import (
	"fmt"
	"testing"
)

// GET /v1/markets/{symbol} answers the market as GET /v1/markets lists
// it, after changes too; an unknown market is 404, another method 405.
func TestGetMarket(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	ts.setup()
	ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/max-open-orders", adminTok, `{"max_open_orders":7}`)
	ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/halt", adminTok, "")
	var listed map[string]any
	for _, m := range ts.must(200, "GET", "/v1/markets", "", "")["markets"].([]any) {
		if m := m.(map[string]any); m["symbol"] == "BTC-USDT" {
			listed = m
		}
	}
	got := ts.must(200, "GET", "/v1/markets/BTC-USDT", "", "")
	if fmt.Sprint(got) != fmt.Sprint(listed) || got["halted"] != true || got["max_open_orders"] != 7.0 {
		t.Fatalf("GET /v1/markets/BTC-USDT %v, listed %v", got, listed)
	}
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/markets/NOPE-USDT", 404},
		{"GET", "/v1/markets/BTC-USDT/", 404},
		{"POST", "/v1/markets/BTC-USDT", 405},
	} {
		if st, _ := ts.req(c.method, c.path, "", ""); st != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, st, c.status)
		}
	}
}
