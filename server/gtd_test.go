package server

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Good-till-date orders: time_in_force "gtd" with expire_at.

// rfc3339In returns the RFC 3339 time d from now, as appendOrder writes
// it (nanoseconds, trailing zeros dropped).
func rfc3339In(d time.Duration) string {
	return time.Now().Add(d).UTC().Format(time.RFC3339Nano)
}

// waitStatus polls GET /v1/orders/{id} until the order has status want
// (up to 10 s) and returns it.
func (ts *testServer) waitStatus(token, id, want string) map[string]any {
	ts.t.Helper()
	var o map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if o = ts.must(200, "GET", "/v1/orders/"+id, token, ""); o["status"] == want {
			return o
		}
	}
	ts.t.Fatalf("order %s: %v, want status %s", id, o, want)
	return nil
}

// A gtd order rests with time_in_force gtd and its expire_at, trades as
// any, and at expire_at expires by itself with no request: status
// expired, cancel_reason expired_time, its lock released, an orders
// stream message saying so. Refusals: gtd without expire_at, expire_at
// without gtd, an expire_at that is not a time or not in the future, gtd
// on a market or ioc order.
func TestGTDOrderExpires(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	c := ts.dial()
	c.send(`{"op":"auth","token":"` + alice + `"}`)
	c.next()
	c.send(`{"op":"subscribe","channels":["orders"]}`)
	c.next()

	exp := rfc3339In(1500 * time.Millisecond)
	out := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.1","time_in_force":"gtd","expire_at":"`+exp+`"}`)
	o := out["order"].(map[string]any)
	if o["time_in_force"] != "gtd" || o["expire_at"] != exp || o["status"] != "open" {
		t.Fatalf("placed %v, want gtd expiring at %s", o, exp)
	}
	sell := id(out)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"70000","quantity":"0.04"}`)
	if b := ts.balances(alice)["BTC"]; b != "1.9/0.06" {
		t.Fatalf("alice's BTC %s, want 1.9/0.06", b)
	}
	// A batch takes one too; its twin with a time in the past is refused.
	batch := ts.must(200, "POST", "/v1/orders/batch", bob, `{"orders":[`+
		`{"market":"BTC-USDT","side":"buy","price":"60000","quantity":"0.01","time_in_force":"gtd","expire_at":"`+exp+`"},`+
		`{"market":"BTC-USDT","side":"buy","price":"60000","quantity":"0.01","time_in_force":"gtd","expire_at":"2020-01-01T00:00:00Z"}]}`)
	results := batch["results"].([]any)
	if len(results) != 2 || !strings.Contains(fmt.Sprint(results[1]), "invalid_argument") {
		t.Fatalf("batch: %v", batch)
	}
	batchID := fmt.Sprint(uint64(results[0].(map[string]any)["order"].(map[string]any)["id"].(float64)))

	for _, body := range []string{
		`{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.1","time_in_force":"gtd"}`,
		`{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.1","expire_at":"` + exp + `"}`,
		`{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.1","time_in_force":"gtc","expire_at":"` + exp + `"}`,
		`{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.1","time_in_force":"gtd","expire_at":"tomorrow"}`,
		`{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.1","time_in_force":"gtd","expire_at":"2020-01-01T00:00:00Z"}`,
		`{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.1","time_in_force":"gtd","expire_at":"9999-01-01T00:00:00Z"}`,
		`{"market":"BTC-USDT","side":"sell","type":"market","quantity":"0.1","time_in_force":"gtd","expire_at":"` + exp + `"}`,
		`{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.1","time_in_force":"gtd","expire_at":1}`,
	} {
		if st, code := ts.errCode("POST", "/v1/orders", alice, body); st != 400 || code != "invalid_argument" {
			t.Errorf("%s: %d %s, want 400 invalid_argument", body, st, code)
		}
	}

	got := ts.waitStatus(alice, sell, "expired")
	if got["cancel_reason"] != "expired_time" || got["time_in_force"] != "gtd" || got["expire_at"] != exp || got["filled"] != "0.04" {
		t.Fatalf("expired order %v", got)
	}
	if b := ts.balances(alice)["BTC"]; b != "1.96/0" {
		t.Fatalf("alice's BTC %s after the expiry, want 1.96/0", b)
	}
	ts.waitStatus(bob, batchID, "expired")
	if b := ts.balances(bob)["USDT"]; !strings.HasSuffix(b, "/0") {
		t.Fatalf("bob's USDT %s after the expiry: still locked", b)
	}
	c.expect("the expiry on the orders stream", func(m wsMsg) bool {
		return m.Channel == "orders" && strings.Contains(string(m.Data), `"expired_time"`) &&
			strings.Contains(string(m.Data), `"id":`+sell)
	})
	if o := ts.must(200, "GET", "/v1/orders?status=open", alice, "")["orders"].([]any); len(o) != 0 {
		t.Fatalf("alice's open orders: %v", o)
	}
}

// An order whose expire_at passes while istd is down expires at the first
// command after the restart (the engine's tick), kept in the history
// with its reason; one that expired before a crash stays expired after
// it; one not due keeps time_in_force gtd and its expire_at across both.
func TestCrashGTD(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, nil)
	alice, _ := ts.setup()
	place := func(d time.Duration, price string) (string, string) {
		t.Helper()
		exp := rfc3339In(d)
		return id(ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"`+price+`","quantity":"0.1","time_in_force":"gtd","expire_at":"`+exp+`"}`)), exp
	}
	soon, soonAt := place(time.Second, "70000")
	later, laterAt := place(time.Hour, "71000")
	crashStop(ts)
	time.Sleep(time.Until(mustTime(t, soonAt)) + 100*time.Millisecond)

	ts = start(t, dir, nil)
	got := ts.waitStatus(alice, soon, "expired")
	if got["cancel_reason"] != "expired_time" || got["expire_at"] != soonAt {
		t.Fatalf("order expired while down: %v", got)
	}
	if o := ts.must(200, "GET", "/v1/orders/"+later, alice, ""); o["status"] != "open" || o["time_in_force"] != "gtd" || o["expire_at"] != laterAt {
		t.Fatalf("order not due: %v", o)
	}
	if b := ts.balances(alice)["BTC"]; b != "1.9/0.1" {
		t.Fatalf("alice's BTC %s, want 1.9/0.1 (the order not due)", b)
	}

	// Expired before a crash: the same after it.
	again, againAt := place(time.Second, "72000")
	ts.waitStatus(alice, again, "expired")
	crashStop(ts)
	ts = start(t, dir, nil)
	defer ts.stop()
	for _, o := range []struct{ id, at, status string }{{soon, soonAt, "expired"}, {again, againAt, "expired"}, {later, laterAt, "open"}} {
		g := ts.must(200, "GET", "/v1/orders/"+o.id, alice, "")
		if g["status"] != o.status || g["time_in_force"] != "gtd" || g["expire_at"] != o.at ||
			(o.status == "expired") != (g["cancel_reason"] == "expired_time") {
			t.Fatalf("order %s after the second restart: %v", o.id, g)
		}
	}
	if b := ts.balances(alice)["BTC"]; b != "1.9/0.1" {
		t.Fatalf("alice's BTC %s, want 1.9/0.1", b)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}
