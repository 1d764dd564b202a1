package server

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// restLevels rests n asks of alice's, one per price level from 65000 up,
// and waits until the view shows want of them.
func restLevels(ts *testServer, alice string, n, want int) {
	ts.t.Helper()
	var b strings.Builder
	b.WriteString(`{"orders":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"market":"BTC-USDT","side":"sell","price":"%d","quantity":"0.001"}`, 65000+i)
	}
	b.WriteString(`]}`)
	ts.must(200, "POST", "/v1/orders/batch", alice, b.String())
	for i := 0; i < 200; i++ {
		out := ts.must(200, "GET", fmt.Sprintf("/v1/markets/BTC-USDT/book?depth=%d", want), "", "")
		if len(out["asks"].([]any)) == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	ts.t.Fatalf("the book never showed %d levels", want)
}

// GET /v1/markets/{symbol}/book?depth= serves up to Options.BookDepth
// levels per side and refuses more (naming the maximum), 0 and negative
// depths, rather than silently answering fewer levels.
func TestBookDepth(t *testing.T) {
	for _, tc := range []struct {
		bookDepth, max int
	}{{0, 50}, {120, 120}, {20, 20}} {
		t.Run(fmt.Sprint("book_depth=", tc.bookDepth), func(t *testing.T) {
			ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, BookDepth: tc.bookDepth})
			alice, _ := ts.setup()
			restLevels(ts, alice, 150, tc.max)
			levels := func(q string) int {
				return len(ts.must(200, "GET", "/v1/markets/BTC-USDT/book"+q, "", "")["asks"].([]any))
			}
			if n := levels(""); n != min(50, tc.max) {
				t.Errorf("default depth: %d levels, want %d", n, min(50, tc.max))
			}
			if n := levels("?depth=7"); n != 7 {
				t.Errorf("depth=7: %d levels", n)
			}
			for _, d := range []string{fmt.Sprint(tc.max + 1), "200", "0", "-1", "x"} {
				code, out := ts.req("GET", "/v1/markets/BTC-USDT/book?depth="+d, "", "")
				e, _ := out["error"].(map[string]any)
				if code != 400 || e["code"] != "invalid_argument" {
					t.Errorf("depth=%s: %d %v, want 400 invalid_argument", d, code, out)
					continue
				}
				if msg := fmt.Sprint(e["message"]); d != "x" && d != "-1" && !strings.Contains(msg, fmt.Sprint(tc.max)) {
					t.Errorf("depth=%s: message %q does not name the maximum %d", d, msg, tc.max)
				}
			}
		})
	}
}
