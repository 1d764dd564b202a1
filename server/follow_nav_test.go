package server

import (
	"fmt"
	"testing"
)

// An open follow is valued at the last trade prices when it is read:
// nav, pnl and roi of GET /v1/social/follows, the rows of GET
// /v1/social/followers and the totals move when other accounts' trades
// move the price, though nothing touches the relation, and agree with
// the leader's aum; also after a restart (the statistics' ledger saved
// on Shutdown). (Before, they showed engine.RelationView.NAV, valued
// when the relation last changed: a wallet of 500 USDT and 5 BTC bought
// at 100 still showed nav 1000 after BTC traded at 123.45.)
func TestSocialFollowNAVAtLastPrice(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	f := setupFollowNAV(ts)
	f.trade(ts, "123.45")
	f.check(ts, "BTC at 123.45", "1117.25", "117.25", "0.117250") // 500 + 5 × 123.45

	ts.stop()
	ts = start(t, ts.dir, nil)
	f.check(ts, "restarted", "1117.25", "117.25", "0.117250")
	f.trade(ts, "87.6")
	f.check(ts, "restarted, BTC at 87.6", "938", "-62", "-0.062000") // 500 + 5 × 87.6
}

// The same after a crash: the statistics replay the log.
func TestSocialFollowNAVAfterCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd, child := startChild(t, dir, freeAddr(t))
	defer cmd.Process.Kill()
	f := setupFollowNAV(child)
	f.trade(child, "123.45")
	f.check(child, "BTC at 123.45", "1117.25", "117.25", "0.117250")
	killChild(t, cmd, child)

	ts := start(t, dir, nil)
	f.check(ts, "after a crash", "1117.25", "117.25", "0.117250")
	f.trade(ts, "87.6")
	f.check(ts, "after a crash, BTC at 87.6", "938", "-62", "-0.062000")
}

// navScenario is the scenario of the follow NAV tests: lea leads, fred
// follows her with 1000 USDT (follow rel), mo and xavier trade apart.
type navScenario struct {
	t            *testing.T
	lid          uint64
	lead, fol    string
	maker, buyer string
	rel          uint64
}

// setupFollowNAV creates a fee-free BTC-USDT market and the accounts on
// ts; the leader buys 5 BTC at 100 with half its 1000 USDT, which fred's
// wallet mirrors: 500 USDT and 5 BTC, worth its allocation.
func setupFollowNAV(ts *testServer) *navScenario {
	t := ts.t
	t.Helper()
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":0,"taker_fee_bps":0}`)
	f := &navScenario{t: t}
	f.lid, f.lead = ts.signup("lea")
	fid, fol := ts.signup("fred")
	mid, maker := ts.signup("mo")
	xid, buyer := ts.signup("xavier")
	f.fol, f.maker, f.buyer = fol, maker, buyer
	ts.deposits(f.lid, "USDT", "1000", fid, "USDT", "1000", mid, "BTC", "20", xid, "USDT", "1000")
	ts.must(200, "PUT", "/v1/social/leader", f.lead, `{}`)
	out := ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"1000"}`, f.lid))
	f.rel = uint64(out["id"].(float64))
	ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"100","quantity":"10"}`)
	ts.must(201, "POST", "/v1/orders", f.lead, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"5","time_in_force":"ioc"}`)
	if w := ts.follows(fol)[f.rel]; walletBalance(w, "BTC") != "5" || walletBalance(w, "USDT") != "500" {
		t.Fatalf("mirror: %v", w)
	}
	f.check(ts, "BTC at 100", "1000", "0", "0.000000")
	return f
}

// trade makes BTC trade at price between mo and xavier: nothing of the
// follow moves but the price.
func (f *navScenario) trade(ts *testServer, price string) {
	f.t.Helper()
	ts.must(201, "POST", "/v1/orders", f.maker, `{"market":"BTC-USDT","side":"sell","price":"`+price+`","quantity":"0.1"}`)
	ts.must(201, "POST", "/v1/orders", f.buyer, `{"market":"BTC-USDT","side":"buy","price":"`+price+`","quantity":"0.1"}`)
}

// check checks the follow's nav, pnl (nav − 1000) and roi in GET
// /v1/social/follows, its row of GET /v1/social/followers, the totals,
// and the leader's aum (its only follower's nav, both in USDT).
func (f *navScenario) check(ts *testServer, when, nav, pnl, roi string) {
	t := f.t
	t.Helper()
	wantNAV, wantPnL := decAmt(t, nav), decAmt(t, pnl)
	amt := func(v any) int64 {
		t.Helper()
		s, ok := v.(string)
		if !ok {
			t.Fatalf("%s: amount %v (%T), want a string", when, v, v)
		}
		return decAmt(t, s)
	}
	out := ts.must(200, "GET", "/v1/social/follows", f.fol, "")
	fs := out["follows"].([]any)
	if len(fs) != 1 {
		t.Fatalf("%s: follows %v", when, fs)
	}
	fw := fs[0].(map[string]any)
	if uint64(fw["id"].(float64)) != f.rel || fw["status"] != "active" {
		t.Fatalf("%s: follow %v", when, fw)
	}
	if amt(fw["nav"]) != wantNAV || amt(fw["pnl"]) != wantPnL || fw["roi"] != roi {
		t.Errorf("%s: follow nav %v, pnl %v, roi %v; want %s, %s, %s", when, fw["nav"], fw["pnl"], fw["roi"], nav, pnl, roi)
	}
	if amt(out["total_allocation"]) != decAmt(t, "1000") || amt(out["total_nav"]) != wantNAV || amt(out["total_pnl"]) != wantPnL {
		t.Errorf("%s: totals: allocation %v, nav %v, pnl %v; want 1000, %s, %s", when,
			out["total_allocation"], out["total_nav"], out["total_pnl"], nav, pnl)
	}
	tot := out["totals"].([]any)
	if len(tot) != 1 {
		t.Fatalf("%s: totals %v", when, tot)
	}
	if tt := tot[0].(map[string]any); tt["asset"] != "USDT" || amt(tt["nav"]) != wantNAV || amt(tt["pnl"]) != wantPnL {
		t.Errorf("%s: totals[0] %v, want USDT nav %s pnl %s", when, tt, nav, pnl)
	}

	rows := ts.must(200, "GET", "/v1/social/followers", f.lead, "")["followers"].([]any)
	if len(rows) != 1 {
		t.Fatalf("%s: followers %v", when, rows)
	}
	if r := rows[0].(map[string]any); uint64(r["follow_id"].(float64)) != f.rel || amt(r["nav"]) != wantNAV || amt(r["pnl"]) != wantPnL {
		t.Errorf("%s: followers row %v, want nav %s, pnl %s", when, r, nav, pnl)
	}

	st := ts.must(200, "GET", fmt.Sprintf("/v1/social/leaders/%d", f.lid), "", "")["stats"].(map[string]any)["all"].(map[string]any)
	if st["valuation_asset"] != "USDT" || amt(st["aum"]) != wantNAV {
		t.Errorf("%s: leader stats: valuation_asset %v, aum %v, want USDT, %s", when, st["valuation_asset"], st["aum"], nav)
	}
}
