package server

import (
	"fmt"
	"reflect"
	"testing"
)

// An order's answer lists all of its fills: also those it makes when its
// own trade triggers a stop that then trades against its rest, in the
// same command. (Before, only the fills where it took were listed.)
func TestPlaceAnswerListsMakerFills(t *testing.T) {
	for _, batch := range []bool{false, true} {
		ts := start(t, t.TempDir(), &Options{AdminToken: adminTok})
		alice, bob := ts.setup()
		ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65400","quantity":"0.0001"}`)
		ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","type":"stop_market","stop_price":"65300","price":"65500","quantity":"0.001"}`)
		sell := `{"market":"BTC-USDT","side":"sell","price":"65350","quantity":"0.01"}`
		var out map[string]any
		if batch {
			res := ts.must(200, "POST", "/v1/orders/batch", alice, `{"orders":[`+sell+`]}`)["results"].([]any)
			out = res[0].(map[string]any)
		} else {
			out = ts.must(201, "POST", "/v1/orders", alice, sell)
		}
		order := out["order"].(map[string]any)
		fills := out["fills"].([]any)
		var got []string
		for _, f := range fills {
			f := f.(map[string]any)
			got = append(got, fmt.Sprint(f["liquidity"], " ", f["quantity"], "@", f["price"]))
		}
		want := []string{"taker 0.0001@65400", "maker 0.001@65350"}
		if order["filled"] != "0.0011" || !reflect.DeepEqual(got, want) {
			t.Fatalf("batch=%v: filled %v, fills %v: want 0.0011 in %v", batch, order["filled"], got, want)
		}
		// The same fills as GET /v1/fills lists.
		listed := ts.must(200, "GET", "/v1/fills", alice, "")["fills"].([]any)
		if !reflect.DeepEqual(listed, fills) {
			t.Fatalf("batch=%v: answer's fills %v, listed %v", batch, fills, listed)
		}
	}
}

// Paging through the fills by trade id never loses the second fill of a
// self-trade (two fills of the account under one trade id).
func TestFillsPagesKeepSelfTrades(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok})
	alice, bob := ts.setup()
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, `{"account_id":1,"asset":"USDT","amount":"100000","ref":"d-a2"}`)
	for i, p := range []string{"65000", "65001", "65002"} {
		ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"`+p+`","quantity":"0.01"}`)
		who := alice // every other trade is a self-trade
		if i == 1 {
			who = bob
		}
		ts.must(201, "POST", "/v1/orders", who, `{"market":"BTC-USDT","side":"buy","price":"`+p+`","quantity":"0.01","stp":"none"}`)
	}
	all := ts.must(200, "GET", "/v1/fills?limit=100", alice, "")["fills"].([]any)
	if len(all) != 5 {
		t.Fatalf("alice has %d fills, want 5: %v", len(all), all)
	}
	for _, limit := range []int{1, 2, 3} {
		var paged []any
		after := 0.0
		for pages := 0; ; pages++ {
			page := ts.must(200, "GET", fmt.Sprintf("/v1/fills?limit=%d&after=%v", limit, after), alice, "")["fills"].([]any)
			if len(page) == 0 || pages > 10 {
				break
			}
			paged = append(paged, page...)
			after = page[len(page)-1].(map[string]any)["trade_id"].(float64)
		}
		if !reflect.DeepEqual(paged, all) {
			t.Fatalf("limit %d: pages gave %v, want %v", limit, paged, all)
		}
	}
}

// A stop that triggered and was then cancelled still says it triggered,
// also after a restart (the history stores it).
func TestTriggeredStopCancelled(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, &Options{AdminToken: adminTok})
	alice, bob := ts.setup()
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65400","quantity":"0.0001"}`)
	stop := ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","type":"stop_limit","stop_price":"65300","price":"65600","quantity":"0.0002"}`)
	untriggered := ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","type":"stop_limit","stop_price":"70000","price":"70000","quantity":"0.0002"}`)
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65400","quantity":"0.0001"}`)
	if o := ts.must(200, "GET", "/v1/orders/"+id(stop), bob, ""); o["triggered"] != true || o["status"] != "open" {
		t.Fatalf("stop after the trade: %v", o)
	}
	for _, c := range []struct {
		out  map[string]any
		want bool
	}{{stop, true}, {untriggered, false}} {
		if o := ts.must(200, "DELETE", "/v1/orders/"+id(c.out), bob, ""); o["triggered"] != c.want || o["status"] != "cancelled" {
			t.Fatalf("cancelled stop: %v, want triggered %v", o, c.want)
		}
		if o := ts.must(200, "GET", "/v1/orders/"+id(c.out), bob, ""); o["triggered"] != c.want {
			t.Fatalf("cancelled stop, read back: %v, want triggered %v", o, c.want)
		}
	}
	ts.stop()
	ts = start(t, dir, &Options{AdminToken: adminTok})
	for _, c := range []struct {
		out  map[string]any
		want bool
	}{{stop, true}, {untriggered, false}} {
		if o := ts.must(200, "GET", "/v1/orders/"+id(c.out), bob, ""); o["triggered"] != c.want {
			t.Fatalf("cancelled stop after a restart: %v, want triggered %v", o, c.want)
		}
	}
}

// The fee account holds what the fills say was charged; only the admin
// reads it.
func TestFeeAccount(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok})
	alice, bob := ts.setup()
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.1"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.1"}`)
	var fees []string
	for _, tok := range []string{alice, bob} {
		for _, f := range ts.must(200, "GET", "/v1/fills", tok, "")["fills"].([]any) {
			fees = append(fees, f.(map[string]any)["fee"].(string))
		}
	}
	// 6500 USDT of notional: the maker pays 10 bps, the taker 20.
	if fmt.Sprint(fees) != "[6.5 13]" {
		t.Fatalf("fees in the fills: %v", fees)
	}
	acct := ts.must(200, "GET", "/v1/admin/fees", adminTok, "")
	if got := fmt.Sprint(acct["id"], acct["balances"]); got != "0 [map[asset:USDT available:19.5 locked:0]]" {
		t.Fatalf("fee account: %s", got)
	}
	if code, _ := ts.errCode("GET", "/v1/admin/fees", bob, ""); code != 403 {
		t.Fatalf("a user reads the fee account: %d", code)
	}
}
