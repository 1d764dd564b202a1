package server

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// copyEventsOf returns "id type role follow reason amount asset" of each
// event path lists (amount: returned, amount or quantity, by type).
func (ts *testServer) copyEventsOf(path, token string) []string {
	ts.t.Helper()
	var out []string
	for _, x := range ts.must(200, "GET", path, token, "")["events"].([]any) {
		m := x.(map[string]any)
		amt := m["amount"]
		switch m["type"] {
		case "closed":
			amt = m["returned"]
		case "skipped":
			amt = fmt.Sprintf("%v/%v@%v", m["side"], m["quantity"], m["price"])
		}
		out = append(out, fmt.Sprintf("%v %v %v %v %v %v %v", m["id"], m["type"], m["role"], m["follow_id"], m["reason"], amt, m["asset"]))
	}
	return out
}

// A follower's copy events (mirrors skipped, profit share paid, a close
// by its stop-loss) and its leader's (profit share received) are listed
// to them and the admin, filtered and paged; the newest are kept, as many
// as the fills, in memory and in the store; they survive a restart. The
// closed follow tells why and when it closed.
func TestCopyEvents(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{AdminToken: adminTok, HistoryFills: 2}
	ts := start(t, dir, opts)
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":0,"taker_fee_bps":0}`)
	lid, lead := ts.signup("lea")
	fid, fol := ts.signup("fred")
	maker, buyer := fundCopyParties(ts, lid, fid)
	gid, gus := ts.signup("gus")
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"100","ref":"g"}`, gid))
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":1000}`)
	follow := func(tok, body string) uint64 {
		return uint64(ts.must(201, "POST", "/v1/social/follows", tok, fmt.Sprintf(`{"leader_id":%d,%s}`, lid, body))["id"].(float64))
	}
	rf := follow(fol, `"allocation":"1000","stop_loss_bps":2000`)
	rg := follow(gus, `"allocation":"100"`)
	ts.must(200, "POST", fmt.Sprintf("/v1/social/follows/%d/pause", rg), gus, "")

	// lea buys three times: fred's wallet mirrors each, gus's (paused)
	// skips each.
	ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"100","quantity":"10"}`)
	for _, q := range []string{"2", "2", "1"} {
		ts.must(201, "POST", "/v1/orders", lead, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"`+q+`","time_in_force":"ioc"}`)
	}
	// The price doubles: fred pays 10% of NAV 1500 − HWM 1000.
	ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"200","quantity":"0.1"}`)
	ts.must(201, "POST", "/v1/orders", buyer, `{"market":"BTC-USDT","side":"buy","price":"200","quantity":"0.1"}`)
	ts.must(200, "POST", "/v1/admin/settle", adminTok, "")
	// It falls to 50: fred's NAV, 450 + 5 × 50, is below 80% of 1000,
	// and the next settlement closes the follow (nothing bids: the base
	// comes back as it is).
	ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"50","quantity":"0.1"}`)
	ts.must(201, "POST", "/v1/orders", buyer, `{"market":"BTC-USDT","side":"buy","price":"50","quantity":"0.1"}`)
	ts.must(200, "POST", "/v1/admin/settle", adminTok, "")

	check := func(ts *testServer, when string) {
		t.Helper()
		for _, c := range []struct {
			path, tok string
			want      []string
		}{
			{"/v1/social/events", fol, []string{
				fmt.Sprintf("1 profit_share follower %d <nil> 50 USDT", rf),
				fmt.Sprintf("2 closed follower %d stop_loss 450 USDT", rf)}},
			{"/v1/social/events", lead, []string{fmt.Sprintf("1 profit_share leader %d <nil> 50 USDT", rf)}},
			// Three skips, the oldest gone (HistoryFills 2).
			{"/v1/social/events", gus, []string{
				fmt.Sprintf("2 skipped follower %d paused buy/2@100 <nil>", rg),
				fmt.Sprintf("3 skipped follower %d paused buy/1@100 <nil>", rg)}},
			{"/v1/social/events?type=closed", fol, []string{fmt.Sprintf("2 closed follower %d stop_loss 450 USDT", rf)}},
			{fmt.Sprintf("/v1/social/events?follow_id=%d", rg), fol, nil},
			{"/v1/social/events?limit=1", fol, []string{fmt.Sprintf("1 profit_share follower %d <nil> 50 USDT", rf)}},
			{"/v1/social/events?after=1", fol, []string{fmt.Sprintf("2 closed follower %d stop_loss 450 USDT", rf)}},
			{fmt.Sprintf("/v1/admin/accounts/%d/social/events?type=profit_share", fid), adminTok,
				[]string{fmt.Sprintf("1 profit_share follower %d <nil> 50 USDT", rf)}},
			{"/v1/social/events", maker, nil},
		} {
			if got := ts.copyEventsOf(c.path, c.tok); !slices.Equal(got, c.want) {
				t.Fatalf("%s: GET %s: %q, want %q", when, c.path, got, c.want)
			}
		}
		if f := ts.follows(fol)[rf]; f["status"] != "closed" || f["profit_share_paid"] != "50" || f["returned"] != "450" ||
			f["close_reason"] != "stop_loss" || f["closed_at"] == nil {
			t.Fatalf("%s: the follow %v", when, f)
		}
		rows := ts.must(200, "GET", "/v1/social/followers?status=closed", lead, "")["followers"].([]any)
		if len(rows) != 1 || rows[0].(map[string]any)["close_reason"] != "stop_loss" || rows[0].(map[string]any)["closed_at"] == nil {
			t.Fatalf("%s: lea's closed followers %v", when, rows)
		}
		if f := ts.follows(gus)[rg]; f["close_reason"] != nil || f["closed_at"] != nil {
			t.Fatalf("%s: an open follow with a close reason: %v", when, f)
		}
	}
	check(ts, "live")
	ts.must(400, "GET", "/v1/social/events?type=nope", fol, "")
	ts.must(400, "GET", "/v1/social/events?follow_id=x", fol, "")
	ts.must(400, "GET", "/v1/social/events?limit=0", fol, "")
	ts.must(401, "GET", "/v1/social/events", "", "")
	ts.must(403, "GET", fmt.Sprintf("/v1/admin/accounts/%d/social/events", fid), fol, "")
	ts.must(404, "GET", "/v1/admin/accounts/99/social/events", adminTok, "")
	ts.must(404, "GET", "/v1/admin/accounts/0/social/events", adminTok, "")
	ts.must(405, "POST", "/v1/social/events", fol, "")

	ts.stop()
	ts = start(t, dir, opts)
	check(ts, "after a restart")
	if n := storedKeys(t, ts.s.store, prefixCopyEvent); n != 5 {
		t.Fatalf("%d copy events stored, want 5 (fred's 2, lea's 1, gus's 2)", n)
	}
	// Numbers go on after the newest kept.
	ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"100","quantity":"1"}`)
	ts.must(201, "POST", "/v1/orders", lead, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"1","time_in_force":"ioc"}`)
	if got := ts.copyEventsOf("/v1/social/events?after=3", gus); len(got) != 1 || !strings.HasPrefix(got[0], "4 skipped") {
		t.Fatalf("gus's next event: %q", got)
	}
}

// Copy events of results a server killed before it saved its history
// are replayed from the log, with the same numbers.
func TestCopyEventsCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd, ts := startChild(t, dir, freeAddr(t))
	defer cmd.Process.Kill()
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":0,"taker_fee_bps":0}`)
	lid, lead := ts.signup("lea")
	fid, fol := ts.signup("fred")
	maker, _ := fundCopyParties(ts, lid, fid)
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":0}`)
	rel := uint64(ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"100"}`, lid))["id"].(float64))
	ts.must(200, "POST", fmt.Sprintf("/v1/social/follows/%d/pause", rel), fol, "")
	ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"100","quantity":"1"}`)
	ts.must(201, "POST", "/v1/orders", lead, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"1"}`)
	ts.must(200, "DELETE", fmt.Sprintf("/v1/social/follows/%d", rel), fol, "")
	want := []string{fmt.Sprintf("1 skipped follower %d paused buy/1@100 <nil>", rel),
		fmt.Sprintf("2 closed follower %d unfollow 100 USDT", rel)}
	if got := ts.copyEventsOf("/v1/social/events", fol); !slices.Equal(got, want) {
		t.Fatalf("before the kill: %q, want %q", got, want)
	}
	killChild(t, cmd, ts)
	ts = start(t, dir, nil)
	if got := ts.copyEventsOf("/v1/social/events", fol); !slices.Equal(got, want) {
		t.Fatalf("after a kill: %q, want %q", got, want)
	}
}

// After a start with AcceptLogLoss, the events the history holds of
// commands the log lost leave when the engine gives their sequence
// numbers again, and their numbers are given again; events of one result
// are all kept.
func TestCopyEventsAfterLogLoss(t *testing.T) {
	save, load := historyStore(t)
	skip := func(m *readModel, seq uint64, qtys ...int64) {
		res := engine.Result{Seq: seq, Kind: engine.CmdPlace}
		for _, q := range qtys {
			res.Events = append(res.Events, engine.Event{Event: book.Event{Kind: engine.EvCopySkipped, Owner: 5, MakerOwner: 4,
				OrderID: seq, Qty: q, Price: 1}, Market: 1, Relation: 9, CopyReason: engine.CopyPaused})
		}
		m.apply(&res)
	}
	events := func(m *readModel) []string {
		var out []string
		for _, e := range m.copyEvents(nil, 5, copyEventFilter{limit: 100}) {
			out = append(out, fmt.Sprintf("%d:%d/%d", e.ID, e.Seq, e.Qty))
		}
		return out
	}
	m := load()
	skip(m, 10, 1, 2)
	skip(m, 12, 3) // then lost by the log, which ends at 10
	save(m)
	m = load()
	skip(m, 11, 4, 5) // the engine's next command after 10
	if got, want := events(m), []string{"1:10/1", "2:10/2", "3:11/4", "4:11/5"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	skip(m, 12, 6)
	save(m)
	if got, want := events(load()), []string{"1:10/1", "2:10/2", "3:11/4", "4:11/5", "5:12/6"}; !slices.Equal(got, want) {
		t.Fatalf("events read back %v, want %v", got, want)
	}
}

// FuzzDecodeCopyEventRec feeds arbitrary bytes to the decoder of a stored
// copy event: it must not panic, and what it accepts must encode to
// bytes that decode to the same event.
func FuzzDecodeCopyEventRec(f *testing.F) {
	f.Add(appendCopyEventRec(nil, &copyEventRec{ID: 7, Account: 3, Seq: 9, Time: 5, Kind: engine.EvCopySkipped,
		Relation: 2, LeaderID: 4, Follower: 3, Reason: engine.CopyInsufficientFunds, Market: 1, Side: book.Sell,
		LeaderOrder: 8, Price: 100, Qty: 3, Computed: 1}))
	f.Add(appendCopyEventRec(nil, &copyEventRec{ID: 7, Account: 3, Seq: 9, Time: -5, Kind: engine.EvCopyClosed,
		Relation: 2, LeaderID: 4, Follower: 3, Reason: engine.CopyStopLoss, Amount: 12}))
	f.Add(appendCopyEventRec(nil, &copyEventRec{ID: 7, Account: 3, Seq: 9, Kind: engine.EvProfitShare, Leader: true,
		Relation: 2, LeaderID: 3, Follower: 5, Amount: 1}))
	f.Add([]byte{copyEventVersion, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := decodeCopyEventRec(3, 7, b)
		if err != nil {
			return
		}
		if x.Kind < engine.EvCopySkipped || x.Kind > engine.EvProfitShare || x.Relation == 0 || x.Seq == 0 {
			t.Fatalf("accepted %+v", x)
		}
		if y, err := decodeCopyEventRec(3, 7, appendCopyEventRec(nil, &x)); err != nil || y != x {
			t.Fatalf("%+v re-decoded as %+v, %v", x, y, err)
		}
	})
}

// After a start with AcceptLogLoss, an account whose kept events were all
// of lost commands, and whose older ones retention dropped, numbers its
// next event after the last one that was not lost, not from 1 again: a
// client that paged past the dropped ones would miss it.
func TestCopyEventsAfterLogLossRetention(t *testing.T) {
	save, load := historyStore(t)
	skip := func(m *readModel, seq uint64, q int64) {
		m.apply(&engine.Result{Seq: seq, Kind: engine.CmdPlace, Events: []engine.Event{{Event: book.Event{Kind: engine.EvCopySkipped,
			Owner: 5, MakerOwner: 4, OrderID: seq, Qty: q, Price: 1}, Market: 1, Relation: 9, CopyReason: engine.CopyPaused}}})
	}
	ids := func(m *readModel) []string {
		var out []string
		for _, e := range m.copyEvents(nil, 5, copyEventFilter{limit: 100}) {
			out = append(out, fmt.Sprintf("%d:%d", e.ID, e.Seq))
		}
		return out
	}
	m := load()
	m.keepFills = 2
	for s := uint64(10); s < 14; s++ {
		skip(m, s, 1) // events 1..4; 3 and 4 kept, then lost by the log (which ends at 11)
	}
	save(m)
	m = load()
	m.keepFills = 2
	skip(m, 12, 2)
	if got, want := ids(m), []string{"3:12"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	save(m)
	if got, want := ids(load()), []string{"3:12"}; !slices.Equal(got, want) {
		t.Fatalf("events read back %v, want %v", got, want)
	}
}

// A mirror the follow's wallet cannot pay is skipped for
// insufficient_funds with the size the follow wanted as its
// computed_quantity, not the size shrunk to the wallet (rules version 6;
// 5 gave that one, here 0.0049, below the minimum notional): fred
// follows lea ×1 with 0.5 USDT, lea buys 1 BTC at 100.
func TestCopyEventSkippedSizeWanted(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":0,"taker_fee_bps":0}`)
	lid, lead := ts.signup("lea")
	fid, fol := ts.signup("fred")
	maker, _ := fundCopyParties(ts, lid, fid)
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":0}`)
	rf := uint64(ts.must(201, "POST", "/v1/social/follows", fol,
		fmt.Sprintf(`{"leader_id":%d,"allocation":"0.5","mode":"multiplier","value":"1"}`, lid))["id"].(float64))
	ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"100","quantity":"10"}`)
	ts.must(201, "POST", "/v1/orders", lead, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"1","time_in_force":"ioc"}`)
	evs := ts.must(200, "GET", "/v1/social/events?type=skipped", fol, "")["events"].([]any)
	if len(evs) != 1 {
		t.Fatalf("fred's skips: %v, want one", evs)
	}
	e := evs[0].(map[string]any)
	if e["reason"] != "insufficient_funds" || e["follow_id"] != float64(rf) || e["quantity"] != "1" || e["computed_quantity"] != "1" {
		t.Fatalf("fred's skip %v, want insufficient_funds of lea's 1 BTC, computed_quantity 1 (the size wanted)", e)
	}
}
