package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fasthttp/websocket"
)

// TestSecReviewRevokedTokenEverywhere: once DELETE /v1/tokens/{id}
// answers, the token is refused by every user endpoint (401, nothing
// changed), a stream authenticated with it is closed (1008 token
// revoked) and a new stream cannot authenticate with it.
func TestSecReviewRevokedTokenEverywhere(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, _ := ts.setup()
	out := ts.must(201, "POST", "/v1/tokens", alice, "")
	gone, gid := out["token"].(string), uint64(out["id"].(float64))
	oid := id(ts.must(201, "POST", "/v1/orders", gone,
		`{"market":"BTC-USDT","side":"sell","type":"limit","price":"70000","quantity":"0.5"}`))

	c := ts.dial()
	c.send(fmt.Sprintf(`{"op":"auth","token":%q}`, gone))
	if m := c.next(); m.Type != "authenticated" {
		t.Fatalf("auth: %+v", m)
	}
	c.send(`{"op":"subscribe","channels":["orders","fills"]}`)
	if m := c.next(); m.Type != "subscribed" {
		t.Fatalf("subscribe: %+v", m)
	}
	ts.must(200, "DELETE", fmt.Sprintf("/v1/tokens/%d", gid), alice, "")
	// Orders placed after the revocation are not streamed to it.
	ts.must(201, "POST", "/v1/orders", alice,
		`{"market":"BTC-USDT","side":"sell","type":"limit","price":"71000","quantity":"0.1"}`)
	for {
		_, raw, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != closeRevoked {
				t.Fatalf("stream of a revoked token ended with %v", err)
			}
			break
		}
		t.Fatalf("stream of a revoked token got %s", raw)
	}

	for _, r := range []struct{ method, path, body string }{
		{"GET", "/v1/account", ""},
		{"GET", "/v1/orders", ""},
		{"GET", "/v1/orders/" + oid, ""},
		{"PATCH", "/v1/orders/" + oid, `{"quantity":"0.1"}`},
		{"DELETE", "/v1/orders/" + oid, ""},
		{"DELETE", "/v1/orders?market=BTC-USDT", ""},
		{"POST", "/v1/orders", `{"market":"BTC-USDT","side":"sell","type":"limit","price":"70000","quantity":"0.1"}`},
		{"POST", "/v1/orders/batch", `{"orders":[{"market":"BTC-USDT","side":"sell","type":"limit","price":"70000","quantity":"0.1"}]}`},
		{"POST", "/v1/orders/cancel-all-after", `{"timeout_ms":1000}`},
		{"GET", "/v1/orders/cancel-all-after", ""},
		{"GET", "/v1/fills", ""},
		{"GET", "/v1/transfers", ""},
		{"POST", "/v1/withdrawals", `{"asset":"BTC","amount":"1","ref":"w-1"}`},
		{"GET", "/v1/tokens", ""},
		{"POST", "/v1/tokens", ""},
		{"DELETE", fmt.Sprintf("/v1/tokens/%d", gid), ""},
		{"PUT", "/v1/social/leader", `{"profit_share_bps":100}`},
		{"GET", "/v1/social/follows", ""},
		{"POST", "/v1/social/follows", `{"leader_id":2,"allocation":"1"}`},
		{"GET", "/v1/social/followers", ""},
		{"GET", "/v1/social/events", ""},
	} {
		if code, ec := ts.errCode(r.method, r.path, gone, r.body); code != 401 || ec != "unauthenticated" {
			t.Errorf("%s %s with a revoked token: %d %s", r.method, r.path, code, ec)
		}
	}
	if o := ts.must(200, "GET", "/v1/orders/"+oid, alice, ""); o["status"] != "open" || o["quantity"] != "0.5" {
		t.Fatalf("order changed by a revoked token: %v", o)
	}
	if got := ts.balances(alice)["BTC"]; got != "1.4/0.6" {
		t.Fatalf("alice's BTC %s", got)
	}
	if n := len(ts.must(200, "GET", "/v1/orders/cancel-all-after", alice, "")["switches"].([]any)); n != 0 {
		t.Fatalf("%d switches armed by a revoked token", n)
	}
	// A new stream: refused.
	c2 := ts.dial()
	c2.send(fmt.Sprintf(`{"op":"auth","token":%q}`, gone))
	if m := c2.next(); m.Type != "error" || m.Error == nil || m.Error.Code != "unauthenticated" {
		t.Fatalf("auth with a revoked token: %+v", m)
	}
	c2.send(`{"op":"subscribe","channels":["orders"]}`)
	if m := c2.next(); m.Type != "error" || m.Error == nil || m.Error.Code != "unauthenticated" {
		t.Fatalf("orders after a refused auth: %+v", m)
	}
}

// TestSecReviewAdminRoutes: every admin route refuses a user token (403)
// and no token, an empty one, a part of the admin token, the admin token
// with a byte more, in another case, or under another scheme (401), and
// changes nothing. (White space around a header's value is not part of
// it, RFC 9110 5.5: the admin token followed by a space is the admin
// token.)
func TestSecReviewAdminRoutes(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, _ := ts.setup()
	routes := []struct{ method, path, body string }{
		{"POST", "/v1/admin/markets", `{"symbol":"ETH-USDT","base":"ETH","quote":"USDT","tick_size":"0.01","lot_size":"0.001"}`},
		{"PATCH", "/v1/admin/markets/BTC-USDT", `{"maker_fee_bps":0}`},
		{"POST", "/v1/admin/markets/BTC-USDT/halt", ""},
		{"POST", "/v1/admin/markets/BTC-USDT/resume", ""},
		{"POST", "/v1/admin/markets/BTC-USDT/price-band", `{"price_band_bps":1}`},
		{"POST", "/v1/admin/deposits", `{"account_id":1,"asset":"BTC","amount":"1","ref":"evil"}`},
		{"GET", "/v1/admin/accounts", ""},
		{"POST", "/v1/admin/accounts", `{"name":"mallory"}`},
		{"GET", "/v1/admin/accounts/1/tokens", ""},
		{"POST", "/v1/admin/accounts/1/tokens", ""},
		{"DELETE", "/v1/admin/accounts/1/tokens/1", ""},
		{"GET", "/v1/admin/accounts/1/transfers", ""},
		{"GET", "/v1/admin/accounts/1/social/events", ""},
		{"POST", "/v1/admin/accounts/1/freeze", ""},
		{"POST", "/v1/admin/accounts/1/unfreeze", ""},
		{"GET", "/v1/admin/fees", ""},
		{"GET", "/v1/admin/fees/withdrawals", ""},
		{"POST", "/v1/admin/fees/withdrawals", `{"asset":"USDT","amount":"1","ref":"f"}`},
		{"POST", "/v1/admin/settle", ""},
		{"POST", "/v1/admin/backup", `{"to":"` + t.TempDir() + `/b"}`},
	}
	raw := func(method, path, auth, body string) int {
		code, _, err := ts.sendAuth(method, path, auth, body)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	for _, r := range routes {
		for _, c := range []struct {
			auth string
			want int
		}{
			{"", 401},
			{"Bearer ", 401},
			{"Bearer " + alice, 403},
			{"Bearer " + adminTok[:len(adminTok)-1], 401},
			{"Bearer " + adminTok[:1], 401},
			{"Bearer " + adminTok + "x", 401},
			{"Bearer " + strings.ToUpper(adminTok), 401},
			{"Basic " + adminTok, 401},
			{adminTok, 401},
		} {
			if got := raw(r.method, r.path, c.auth, r.body); got != c.want {
				t.Errorf("%s %s with %q: %d, want %d", r.method, r.path, strings.Replace(c.auth, adminTok, "ADMIN", 1), got, c.want)
			}
		}
	}
	if got := ts.balances(alice)["BTC"]; got != "2/0" {
		t.Fatalf("alice's BTC %s", got)
	}
	out := ts.must(200, "GET", "/v1/admin/accounts", adminTok, "")
	if n := len(out["accounts"].([]any)); n != 2 {
		t.Fatalf("%d accounts", n)
	}
	out = ts.must(200, "GET", "/v1/markets", "", "")
	if n := len(out["markets"].([]any)); n != 1 {
		t.Fatalf("%d markets", n)
	}
}

// sendAuth is send with a raw Authorization header ("": none).
func (ts *testServer) sendAuth(method, path, auth, body string) (int, []byte, error) {
	ts.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, ts.base+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	resp, err := ts.c.Do(r)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		ts.t.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, raw, err
}
