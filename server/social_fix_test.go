package server

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Regression tests of the social endpoints (social.go).

// deposits makes admin deposits: account, asset, amount.
func (ts *testServer) deposits(ds ...any) {
	ts.t.Helper()
	for i := 0; i+2 < len(ds); i += 3 {
		ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":"d-%d-%s"}`,
			ds[i], ds[i+1], ds[i+2], ds[i], ds[i+1]))
	}
}

// A follow in an asset no market quotes could copy nothing: refused.
func TestSocialFollowAssetNotQuoted(t *testing.T) {
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	ts.deposits(fid, "BTC", "1")
	ts.must(200, "PUT", "/v1/social/leader", lead, `{}`)
	code, out := ts.req("POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"1","asset":"BTC"}`, lid))
	if e, _ := out["error"].(map[string]any); code != 400 || e["code"] != "invalid_argument" {
		t.Fatalf("follow in BTC (only BTC-USDT exists): %d %v", code, out)
	}
}

// AUM adds the relations' NAVs converted into the leader's valuation
// asset.
func TestSocialAUMMixedAssets(t *testing.T) {
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"ETH-BTC","base":"ETH","quote":"BTC","tick_size":"0.0001","lot_size":"0.001","min_notional":"0.0001","maker_fee_bps":0,"taker_fee_bps":0}`)
	f2, fay := ts.signup("fay")
	mid, mo := ts.signup("mo")
	xid, xav := ts.signup("xav")
	ts.deposits(fid, "USDT", "1000", f2, "BTC", "1", mid, "BTC", "10", xid, "USDT", "1000")
	ts.must(201, "POST", "/v1/orders", mo, `{"market":"BTC-USDT","side":"sell","price":"100","quantity":"1"}`)
	ts.must(201, "POST", "/v1/orders", xav, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"1"}`)
	ts.must(200, "PUT", "/v1/social/leader", lead, `{}`)
	ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"100"}`, lid))
	ts.must(201, "POST", "/v1/social/follows", fay, fmt.Sprintf(`{"leader_id":%d,"allocation":"1","asset":"BTC"}`, lid))
	row := ts.must(200, "GET", "/v1/social/leaders?window=all", "", "")["leaders"].([]any)[0].(map[string]any)
	if row["aum"] != "200" || row["valuation_asset"] != "USDT" {
		t.Errorf("aum %v in %v, want 200 USDT", row["aum"], row["valuation_asset"])
	}
	// fay's totals are in BTC, fred's in USDT.
	for _, tc := range []struct {
		tok, asset, alloc string
	}{{fol, "USDT", "100"}, {fay, "BTC", "1"}} {
		out := ts.must(200, "GET", "/v1/social/follows", tc.tok, "")
		tot := out["totals"].([]any)
		if len(tot) != 1 || fmt.Sprint(tot[0]) != fmt.Sprintf("map[allocation:%s asset:%s nav:%s pnl:0]", tc.alloc, tc.asset, tc.alloc) ||
			out["total_allocation"] != tc.alloc {
			t.Errorf("%s: totals %v, total_allocation %v", tc.asset, tot, out["total_allocation"])
		}
	}
}

// A follower's follows in two assets have totals per asset: no sum of
// both.
func TestSocialFollowTotalsPerAsset(t *testing.T) {
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"ETH-BTC","base":"ETH","quote":"BTC","tick_size":"0.0001","lot_size":"0.001","min_notional":"0.0001","maker_fee_bps":0,"taker_fee_bps":0}`)
	l2, leo := ts.signup("leo")
	ts.deposits(fid, "USDT", "1000", fid, "BTC", "2")
	ts.must(200, "PUT", "/v1/social/leader", lead, `{}`)
	ts.must(200, "PUT", "/v1/social/leader", leo, `{}`)
	ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"100"}`, lid))
	ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"1","asset":"BTC"}`, l2))
	out := ts.must(200, "GET", "/v1/social/follows", fol, "")
	if out["total_allocation"] != nil || out["total_nav"] != nil || out["total_pnl"] != nil {
		t.Errorf("totals over two assets: %v %v %v", out["total_allocation"], out["total_nav"], out["total_pnl"])
	}
	if got := fmt.Sprint(out["totals"]); got != "[map[allocation:1 asset:BTC nav:1 pnl:0] map[allocation:100 asset:USDT nav:100 pnl:0]]" { // BTC is created first {
		t.Errorf("totals %s", got)
	}
}

// Concurrent PUTs of different fields of a leader profile all take
// effect.
func TestSocialConcurrentPutLeader(t *testing.T) {
	ts, lid, lead, _, _ := startLeaderFollower(t)
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":0}`)
	lost := map[string]int{}
	for round := 1; round <= 30; round++ {
		bodies := []string{fmt.Sprintf(`{"profit_share_bps":%d}`, round), fmt.Sprintf(`{"bio":"bio %d"}`, round),
			fmt.Sprintf(`{"display_name":"name %d"}`, round)}
		var wg sync.WaitGroup
		for _, b := range bodies {
			wg.Go(func() { ts.req("PUT", "/v1/social/leader", lead, b) })
		}
		wg.Wait()
		pg := ts.must(200, "GET", fmt.Sprintf("/v1/social/leaders/%d", lid), "", "")
		if pg["profit_share_bps"] != float64(round) {
			lost["profit_share_bps"]++
		}
		if pg["bio"] != fmt.Sprintf("bio %d", round) {
			lost["bio"]++
		}
		if pg["display_name"] != fmt.Sprintf("name %d", round) {
			lost["display_name"]++
		}
	}
	if len(lost) > 0 {
		t.Errorf("updates lost: %v", lost)
	}
}

// A closed follow keeps its PnL: what its close gave back (the quote,
// and the base it kept at the last price) − allocation; total_pnl counts
// it.
func TestSocialClosedFollowPnL(t *testing.T) {
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	mid, mo := ts.signup("mo")
	xid, xav := ts.signup("xav")
	ts.deposits(lid, "USDT", "1000", fid, "USDT", "1000", mid, "BTC", "20", xid, "USDT", "1000")
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":0}`)
	rel := uint64(ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"1000"}`, lid))["id"].(float64))
	ts.must(201, "POST", "/v1/orders", mo, `{"market":"BTC-USDT","side":"sell","price":"100","quantity":"10"}`)
	ts.must(201, "POST", "/v1/orders", lead, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"5","time_in_force":"ioc"}`)
	ts.must(201, "POST", "/v1/orders", mo, `{"market":"BTC-USDT","side":"sell","price":"120","quantity":"0.1"}`)
	ts.must(201, "POST", "/v1/orders", xav, `{"market":"BTC-USDT","side":"buy","price":"120","quantity":"0.1"}`)
	del := ts.must(200, "DELETE", fmt.Sprintf("/v1/social/follows/%d?close=keep", rel), fol, "")
	if del["returned"] != "500" || del["pnl"] != "100" || del["roi"] != "0.100000" {
		t.Fatalf("DELETE: %v", del)
	}
	out := ts.must(200, "GET", "/v1/social/follows", fol, "")
	f := out["follows"].([]any)[0].(map[string]any)
	if f["status"] != "closed" || f["nav"] != nil || f["returned"] != "500" || f["pnl"] != "100" || f["roi"] != "0.100000" {
		t.Errorf("closed follow: %v", f)
	}
	if out["total_pnl"] != "100" || out["total_allocation"] != "0" || out["total_nav"] != "0" {
		t.Errorf("totals: allocation %v nav %v pnl %v", out["total_allocation"], out["total_nav"], out["total_pnl"])
	}
}

// display_name is counted in characters, as OpenAPI's maxLength is, and
// must read as a name.
func TestSocialDisplayName(t *testing.T) {
	ts, lid, lead, _, _ := startLeaderFollower(t)
	for _, dn := range []string{strings.Repeat("名", 30), strings.Repeat("名", 64), "Zoë", "a b"} {
		if p := ts.must(200, "PUT", "/v1/social/leader", lead, fmt.Sprintf(`{"display_name":%q}`, dn)); p["display_name"] != dn {
			t.Errorf("display_name %q: %v", dn, p["display_name"])
		}
	}
	for _, dn := range []string{`"` + strings.Repeat("名", 65) + `"`, `"\u202eecila"`, `"a\nb"`, `"a\u0000"`, `"\u200b"`,
		`"   "`, `"\t"`, `" lea"`, "\"\xff\"", `"a\u2028b"`} {
		if code, c := ts.errCode("PUT", "/v1/social/leader", lead, `{"display_name":`+dn+`}`); code != 400 || c != "invalid_argument" {
			t.Errorf("display_name %s: %d %s", dn, code, c)
		}
	}
	if p := ts.must(200, "GET", fmt.Sprintf("/v1/social/leaders/%d", lid), "", ""); p["display_name"] != "a b" {
		t.Errorf("display_name %v after the refused ones", p["display_name"])
	}
	bio := strings.Repeat("é", 1000) // 2000 bytes
	ts.must(200, "PUT", "/v1/social/leader", lead, fmt.Sprintf(`{"bio":%q}`, bio))
	if code, c := ts.errCode("PUT", "/v1/social/leader", lead, fmt.Sprintf(`{"bio":%q}`, bio+"é")); code != 400 || c != "invalid_argument" {
		t.Errorf("bio of 1001 characters: %d %s", code, c)
	}
}

func TestValidDisplayText(t *testing.T) {
	for _, c := range []struct {
		s  string
		ok bool
	}{
		{"a", true}, {"名前", true}, {"x\u0301", true}, {"abcd", true},
		{"", false}, {"abcde", false}, {"\xff", false}, {"a\x00", false}, {"a\tb", false}, {"\u202e", false},
		{"a\u200bb", false}, {"a\u2029", false}, {" ", false}, {"\u3000", false}, {" a", false}, {"a\u00a0", false},
	} {
		if err := validDisplayText(c.s, 4); (err == nil) != c.ok {
			t.Errorf("%q: %v, want ok %v", c.s, err, c.ok)
		}
	}
}
