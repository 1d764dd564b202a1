package server

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
)

// follows returns the caller's follows by id.
func (ts *testServer) follows(token string) map[uint64]map[string]any {
	ts.t.Helper()
	out := ts.must(200, "GET", "/v1/social/follows", token, "")
	m := map[uint64]map[string]any{}
	for _, f := range out["follows"].([]any) {
		f := f.(map[string]any)
		m[uint64(f["id"].(float64))] = f
	}
	return m
}

// walletBalance returns the available balance of asset in a follow's
// wallet ("0" if none).
func walletBalance(f map[string]any, asset string) string {
	for _, b := range f["balances"].([]any) {
		b := b.(map[string]any)
		if b["asset"] == asset {
			return b["available"].(string)
		}
	}
	return "0"
}

// available returns the available balance of asset of the token's account.
func (ts *testServer) available(token, asset string) string {
	ts.t.Helper()
	bal := ts.balances(token)[asset]
	if bal == "" {
		return "0"
	}
	a, _, _ := strings.Cut(bal, "/")
	return a
}

func TestSocialCopyTrading(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, nil)
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`)
	deposit := func(acct uint64, asset, amt string) {
		ts.must(201, "POST", "/v1/admin/deposits", adminTok,
			fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":"d-%d-%s"}`, acct, asset, amt, acct, asset))
	}
	lid, lead := ts.signup("lea")
	l2id, lead2 := ts.signup("leo")
	fid, fol := ts.signup("fred")
	_, fol2 := ts.signup("fay")
	_, fol3 := ts.signup("finn")
	mid, maker := ts.signup("mo")
	deposit(lid, "USDT", "10000")
	deposit(l2id, "USDT", "1000")
	deposit(fid, "USDT", "5000")
	for _, tok := range []string{fol2, fol3} {
		out := ts.must(200, "GET", "/v1/account", tok, "")
		deposit(uint64(out["id"].(float64)), "USDT", "5000")
	}
	deposit(mid, "USDT", "100000")
	deposit(mid, "BTC", "100")

	// Leader profiles.
	p := ts.must(200, "PUT", "/v1/social/leader", lead, `{"display_name":"Lea the Leader","bio":"trend follower","profit_share_bps":1000}`)
	if p["display_name"] != "Lea the Leader" || p["profit_share_bps"] != 1000.0 {
		t.Fatalf("profile %v", p)
	}
	ts.must(200, "PUT", "/v1/social/leader", lead2, `{"profit_share_bps":0}`)
	if c, code := ts.errCode("PUT", "/v1/social/leader", lead, `{"profit_share_bps":5001}`); c != 400 || code != "invalid_argument" {
		t.Fatalf("share 5001: %d %s", c, code)
	}

	// The follower's copy stream.
	ws := ts.dial()
	ws.send(`{"op":"subscribe","channels":["copy"]}`)
	if m := ws.next(); m.Type != "error" || m.Error.Code != "unauthenticated" {
		t.Fatalf("copy without auth: %+v", m)
	}
	ws.send(`{"op":"auth","token":"` + fol + `"}`)
	ws.next()
	ws.send(`{"op":"subscribe","channels":["copy"]}`)
	if m := ws.next(); m.Type != "subscribed" {
		t.Fatalf("subscribe copy: %+v", m)
	}

	// Follows: fred proportionally, fay by a multiplier.
	f := ts.must(201, "POST", "/v1/social/follows", fol,
		fmt.Sprintf(`{"leader_id":%d,"allocation":"1000","mode":"proportional","value":"1","slippage_bps":200,"stop_loss_bps":9000}`, lid))
	rel := uint64(f["id"].(float64))
	if f["status"] != "active" || f["allocation"] != "1000" || f["asset"] != "USDT" || f["mode"] != "proportional" || f["value"] != "1" || f["nav"] != "1000" {
		t.Fatalf("follow %v", f)
	}
	f2 := ts.must(201, "POST", "/v1/social/follows", fol2,
		fmt.Sprintf(`{"leader_id":%d,"allocation":"500","mode":"multiplier","value":"0.1","slippage_bps":200}`, lid))
	rel2 := uint64(f2["id"].(float64))
	if got := ts.available(fol, "USDT"); got != "4000" {
		t.Fatalf("fred's main USDT after follow: %s", got)
	}

	// Rejections: a leader cannot follow, a follower cannot lead, no
	// double follow, no unknown leader.
	if c, code := ts.errCode("POST", "/v1/social/follows", lead, fmt.Sprintf(`{"leader_id":%d,"allocation":"10"}`, l2id)); c != 409 || code != "leader_cannot_follow" {
		t.Fatalf("leader follows: %d %s", c, code)
	}
	if c, code := ts.errCode("PUT", "/v1/social/leader", fol, `{"display_name":"me"}`); c != 409 || code != "follower_cannot_lead" {
		t.Fatalf("follower leads: %d %s", c, code)
	}
	if c, code := ts.errCode("POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"10"}`, lid)); c != 409 || code != "already_following" {
		t.Fatalf("double follow: %d %s", c, code)
	}
	if c, code := ts.errCode("POST", "/v1/social/follows", fol3, fmt.Sprintf(`{"leader_id":%d,"allocation":"10"}`, mid)); c != 404 || code != "not_found" {
		t.Fatalf("follow a non-leader: %d %s", c, code)
	}
	if c, code := ts.errCode("POST", "/v1/social/follows", fol3, fmt.Sprintf(`{"leader_id":%d,"allocation":"1000000"}`, lid)); c != 400 || code != "insufficient_funds" {
		t.Fatalf("follow beyond means: %d %s", c, code)
	}
	// Someone else's relation is not found.
	for _, r := range [][3]string{{"POST", "/pause", ""}, {"POST", "/resume", ""}, {"DELETE", "", ""}, {"DELETE", "?close=market", ""}, {"PATCH", "", `{"top_up":"1"}`}} {
		path := fmt.Sprintf("/v1/social/follows/%d%s", rel, r[1])
		if c, code := ts.errCode(r[0], path, fol2, r[2]); c != 404 || code != "not_found" {
			t.Fatalf("%s %s by another account: %d %s", r[0], path, c, code)
		}
	}

	// The maker's book: asks at 100, bids at 99.
	ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"100","quantity":"20"}`)
	ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"buy","price":"99","quantity":"30"}`)
	trade := func(side, price, qty string) map[string]any {
		t.Helper()
		out := ts.must(201, "POST", "/v1/orders", lead, fmt.Sprintf(`{"market":"BTC-USDT","side":%q,"price":%q,"quantity":%q,"time_in_force":"ioc"}`, side, price, qty))
		// Only the leader's own fills are in its answer.
		for _, fl := range out["fills"].([]any) {
			if fl.(map[string]any)["order_id"] != out["order"].(map[string]any)["id"] {
				t.Fatalf("foreign fill in the answer: %v", out)
			}
		}
		return out
	}

	// 1. The leader spends a tenth of its quote: fred buys with a tenth of
	// his wallet (1 BTC), fay 0.1 × 10.
	out := trade("buy", "100", "10")
	if n := len(out["fills"].([]any)); n != 1 {
		t.Fatalf("leader's fills: %v", out)
	}
	fs := ts.follows(fol)
	if got := walletBalance(fs[rel], "BTC"); got != "1" {
		t.Fatalf("fred's wallet BTC %s: %v", got, fs[rel])
	}
	if fs[rel]["nav"] != "999.8" || fs[rel]["pnl"] != "-0.2" || walletBalance(fs[rel], "USDT") != "899.8" {
		t.Fatalf("fred's follow after the buy: %v", fs[rel])
	}
	if fl := fs[rel]["fills"].([]any); len(fl) != 1 || fl[0].(map[string]any)["quantity"] != "1" {
		t.Fatalf("fred's wallet fills: %v", fs[rel]["fills"])
	}
	if got := walletBalance(ts.follows(fol2)[rel2], "BTC"); got != "1" {
		t.Fatalf("fay's wallet BTC %s", got)
	}
	m := ws.expect("copy fill", func(m wsMsg) bool { return m.Channel == "copy" && m.Type == "fill" })
	var cf struct {
		RelationID uint64 `json:"relation_id"`
		LeaderID   uint64 `json:"leader_id"`
		Market     string
		Side       string
		Price      string
		Quantity   string
		Fee        string
	}
	if err := json.Unmarshal(m.Data, &cf); err != nil || cf.RelationID != rel || cf.LeaderID != lid || cf.Market != "BTC-USDT" ||
		cf.Side != "buy" || cf.Price != "100" || cf.Quantity != "1" || cf.Fee != "0.2" {
		t.Fatalf("copy fill %s", m.Data)
	}
	// Public trades count the mirrors too.
	if tr := ts.must(200, "GET", "/v1/markets/BTC-USDT/trades", "", "")["trades"].([]any); len(tr) != 3 {
		t.Fatalf("public trades: %d", len(tr))
	}

	// 2. The leader sells half: so do the followers.
	trade("sell", "99", "5")
	if got := walletBalance(ts.follows(fol)[rel], "BTC"); got != "0.5" {
		t.Fatalf("fred's BTC after the half sell: %s", got)
	}
	ws.expect("copy sell", func(m wsMsg) bool {
		return m.Channel == "copy" && m.Type == "fill" && json.Valid(m.Data) && jsonField(m.Data, "side") == "sell"
	})

	// 3. Paused: buys are not mirrored, sells are.
	if f := ts.must(200, "POST", fmt.Sprintf("/v1/social/follows/%d/pause", rel), fol, ""); f["status"] != "paused" {
		t.Fatalf("pause: %v", f)
	}
	trade("buy", "100", "2")
	if got := walletBalance(ts.follows(fol)[rel], "BTC"); got != "0.5" {
		t.Fatalf("paused follow bought: %s", got)
	}
	m = ws.expect("skipped", func(m wsMsg) bool { return m.Channel == "copy" && m.Type == "skipped" })
	if jsonField(m.Data, "reason") != "paused" || jsonField(m.Data, "quantity") != "2" {
		t.Fatalf("skipped %s", m.Data)
	}
	if got := walletBalance(ts.follows(fol2)[rel2], "BTC"); got != "0.7" {
		t.Fatalf("fay (active) after the paused buy: %s", got)
	}
	trade("sell", "99", "7") // the leader is flat: so are its followers
	if got := walletBalance(ts.follows(fol)[rel], "BTC"); got != "0" {
		t.Fatalf("paused follow did not sell: %s", got)
	}
	if got := walletBalance(ts.follows(fol2)[rel2], "BTC"); got != "0" {
		t.Fatalf("fay did not sell out: %s", got)
	}

	// 4. Resumed: buys again; then unfollow with close=market.
	ts.must(200, "POST", fmt.Sprintf("/v1/social/follows/%d/resume", rel), fol, "")
	trade("buy", "100", "1")
	fs = ts.follows(fol)
	if got := walletBalance(fs[rel], "BTC"); got == "0" {
		t.Fatalf("resumed follow did not buy: %v", fs[rel])
	}
	// PATCH: a top-up and a new cap.
	pf := ts.must(200, "PATCH", fmt.Sprintf("/v1/social/follows/%d", rel), fol, `{"top_up":"100","max_order_quote":"50"}`)
	if pf["max_order_quote"] != "50" || pf["allocation"] != "1100" || pf["mode"] != "proportional" {
		t.Fatalf("amend: %v", pf)
	}
	before := ts.available(fol, "USDT")
	u := ts.must(200, "DELETE", fmt.Sprintf("/v1/social/follows/%d?close=market", rel), fol, "")
	if u["status"] != "closed" || u["returned"] == "0" {
		t.Fatalf("unfollow market: %v", u)
	}
	if got := walletBalance(u, "BTC"); got != "0" {
		t.Fatalf("wallet after close=market: %v", u)
	}
	if ts.available(fol, "BTC") != "0" {
		t.Fatalf("close=market returned BTC: %v", ts.balances(fol))
	}
	after := ts.available(fol, "USDT")
	if decAmt(t, after)-decAmt(t, before) != decAmt(t, u["returned"].(string)) {
		t.Fatalf("main USDT %s → %s, returned %s", before, after, u["returned"])
	}
	m = ws.expect("closed", func(m wsMsg) bool { return m.Channel == "copy" && m.Type == "closed" })
	if jsonField(m.Data, "reason") != "unfollow" || jsonField(m.Data, "returned") != u["returned"] {
		t.Fatalf("closed %s", m.Data)
	}
	if c, code := ts.errCode("POST", fmt.Sprintf("/v1/social/follows/%d/pause", rel), fol, ""); c != 409 || code != "relation_closed" {
		t.Fatalf("pause a closed follow: %d %s", c, code)
	}

	// close=keep: fay gets her BTC as it is.
	u2 := ts.must(200, "DELETE", fmt.Sprintf("/v1/social/follows/%d", rel2), fol2, "")
	if u2["status"] != "closed" || ts.available(fol2, "BTC") != "0.1" {
		t.Fatalf("unfollow keep: %v %v", u2, ts.balances(fol2))
	}

	// Now fred may lead; finn follows lea and stays.
	ts.must(201, "POST", "/v1/social/follows", fol3, fmt.Sprintf(`{"leader_id":%d,"allocation":"300","mode":"fixed_quote","value":"25"}`, lid))
	ts.must(200, "POST", "/v1/admin/settle", adminTok, "")
	fw := ts.must(200, "GET", "/v1/social/followers", lead, "")["followers"].([]any)
	if len(fw) != 1 || fw[0].(map[string]any)["follower_name"] != "finn" {
		t.Fatalf("followers %v", fw)
	}
	lb := ts.must(200, "GET", "/v1/social/leaders?sort=followers&window=all&limit=10", "", "")
	if ls := lb["leaders"].([]any); len(ls) != 2 {
		t.Fatalf("leaderboard %v", lb)
	}
	ts.errCode("GET", "/v1/social/leaders?sort=luck", "", "")
	ts.errCode("GET", "/v1/social/leaders?window=1y", "", "")
	pg := ts.must(200, "GET", fmt.Sprintf("/v1/social/leaders/%d", lid), "", "")
	if pg["display_name"] != "Lea the Leader" || pg["bio"] != "trend follower" || len(pg["recent_trades"].([]any)) != 5 {
		t.Fatalf("leader page %v", pg)
	}
	if _, ok := pg["stats"].(map[string]any)["30d"].(map[string]any)["roi"]; !ok {
		t.Fatalf("leader page stats %v", pg["stats"])
	}
	if c, _ := ts.errCode("GET", fmt.Sprintf("/v1/social/leaders/%d", mid), "", ""); c != 404 {
		t.Fatalf("non-leader page: %d", c)
	}

	// The copy-trading metrics saw it all.
	resp, err := ts.c.Get(ts.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metricsText := string(raw)
	for _, want := range []string{`copy_mirrored_fills_total{market="BTC-USDT"}`, `copy_skipped_total{reason="paused"}`,
		`copy_relations_closed_total{reason="unfollow"}`, "copy_relations_open 1", "copy_profit_share_total"} {
		if !strings.Contains(metricsText, want) {
			t.Fatalf("/metrics lacks %s:\n%s", want, metricsText[strings.Index(metricsText, "copy_"):])
		}
	}

	// Restart: profiles and relations survive.
	ts.stop()
	ts = start(t, dir, nil)
	pg = ts.must(200, "GET", fmt.Sprintf("/v1/social/leaders/%d", lid), "", "")
	if pg["display_name"] != "Lea the Leader" || pg["profit_share_bps"] != 1000.0 || pg["followers"] != 1.0 {
		t.Fatalf("leader page after restart %v", pg)
	}
	if fs := ts.follows(fol); fs[rel]["status"] != "closed" {
		t.Fatalf("fred's follows after restart %v", fs)
	}
	fs3 := ts.follows(fol3)
	if len(fs3) != 1 {
		t.Fatalf("finn's follows after restart %v", fs3)
	}
	for _, f := range fs3 {
		if f["status"] != "active" || f["mode"] != "fixed_quote" || f["value"] != "25" || f["allocation"] != "300" {
			t.Fatalf("finn's follow after restart %v", f)
		}
	}
	ts.must(200, "PUT", "/v1/social/leader", fol, `{"display_name":"Fred"}`) // no longer follows
}

// jsonField returns the string field key of a JSON object.
func jsonField(data []byte, key string) string {
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	s, _ := m[key].(string)
	return s
}

// decAmt parses a decimal string into 10^-8 units.
func decAmt(t *testing.T, s string) int64 {
	t.Helper()
	v, err := ParseDecimal([]byte(s), Scale, true)
	if err != nil {
		t.Fatalf("decimal %q: %v", s, err)
	}
	return v
}

// startLeaderFollower starts a server with a fee-free BTC-USDT market and
// two accounts, a leader (lea) and a follower (fred).
func startLeaderFollower(t *testing.T) (ts *testServer, lid uint64, lead string, fid uint64, fol string) {
	ts = start(t, t.TempDir(), nil)
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":0,"taker_fee_bps":0}`)
	lid, lead = ts.signup("lea")
	fid, fol = ts.signup("fred")
	return ts, lid, lead, fid, fol
}

// fundCopyParties gives the leader and the follower of startLeaderFollower
// 1000 USDT each, and signs up a maker (mo, 20 BTC) and a buyer (xavier,
// 1000 USDT).
func fundCopyParties(ts *testServer, lid, fid uint64) (maker, buyer string) {
	mid, maker := ts.signup("mo")
	xid, buyer := ts.signup("xavier")
	for _, d := range []struct {
		id          uint64
		asset, amnt string
	}{{lid, "USDT", "1000"}, {fid, "USDT", "1000"}, {mid, "BTC", "20"}, {xid, "USDT", "1000"}} {
		ts.must(201, "POST", "/v1/admin/deposits", adminTok,
			fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":"d-%d"}`, d.id, d.asset, d.amnt, d.id))
	}
	return maker, buyer
}

// Profit share at settle reaches both sides' copy streams.
func TestSocialCopyProfitShareStream(t *testing.T) {
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	maker, buyer := fundCopyParties(ts, lid, fid)
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":1000}`)
	rel := uint64(ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"1000"}`, lid))["id"].(float64))
	streams := map[string]*wsClient{}
	for name, tok := range map[string]string{"leader": lead, "follower": fol} {
		c := ts.dial()
		c.send(`{"op":"auth","token":"` + tok + `"}`)
		c.next()
		c.send(`{"op":"subscribe","channels":["copy"]}`)
		c.next()
		streams[name] = c
	}
	ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"100","quantity":"10"}`)
	// The leader spends half its quote: so does fred's wallet.
	ts.must(201, "POST", "/v1/orders", lead, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"5","time_in_force":"ioc"}`)
	f := ts.follows(fol)[rel]
	if walletBalance(f, "BTC") != "5" {
		t.Fatalf("mirror: %v", f)
	}
	// The price doubles: fred's wallet is above its high-water mark.
	ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"200","quantity":"0.1"}`)
	ts.must(201, "POST", "/v1/orders", buyer, `{"market":"BTC-USDT","side":"buy","price":"200","quantity":"0.1"}`)
	out := ts.must(200, "POST", "/v1/admin/settle", adminTok, "")
	if out["profit_share_payments"] != 1.0 || out["profit_share_amount"] != "50" { // 10% of NAV 1500 (500 + 5 × 200) − HWM 1000
		t.Fatalf("settle: %v (follow %v)", out, ts.follows(fol)[rel])
	}
	for name, c := range streams {
		m := c.expect("profit share", func(m wsMsg) bool { return m.Channel == "copy" && m.Type == "profit_share" })
		if jsonField(m.Data, "amount") != out["profit_share_amount"] || jsonField(m.Data, "asset") != "USDT" {
			t.Fatalf("%s: profit share %s, settle %v", name, m.Data, out)
		}
	}
	if f := ts.follows(fol)[rel]; f["profit_share_paid"] != out["profit_share_amount"] {
		t.Fatalf("follow after settle %v", f)
	}
}

// Concurrent PATCHes of different fields of one follow all take effect:
// each request changes only its own field, whatever runs beside it.
func TestSocialConcurrentAmendFollow(t *testing.T) {
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"1000","ref":"d"}`, fid))
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":0}`)
	rel := uint64(ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"1000"}`, lid))["id"].(float64))
	path := fmt.Sprintf("/v1/social/follows/%d", rel)
	for round := 1; round <= 20; round++ {
		bodies := []string{
			fmt.Sprintf(`{"slippage_bps":%d}`, 10+round),
			fmt.Sprintf(`{"stop_loss_bps":%d}`, 100+round),
			fmt.Sprintf(`{"max_order_quote":"%d"}`, 200+round),
			fmt.Sprintf(`{"mode":"multiplier","value":"%d"}`, 1+round%3),
		}
		var wg sync.WaitGroup
		codes := make([]int, len(bodies))
		for i, b := range bodies {
			wg.Go(func() { codes[i], _ = ts.req("PATCH", path, fol, b) })
		}
		wg.Wait()
		for i, c := range codes {
			if c != 200 {
				t.Fatalf("round %d: PATCH %s: %d", round, bodies[i], c)
			}
		}
		f := ts.follows(fol)[rel]
		want := map[string]any{"slippage_bps": float64(10 + round), "stop_loss_bps": float64(100 + round),
			"max_order_quote": fmt.Sprint(200 + round), "mode": "multiplier", "value": fmt.Sprint(1 + round%3)}
		for k, v := range want {
			if f[k] != v {
				t.Fatalf("round %d: %s = %v, want %v (an amendment was lost): %v", round, k, f[k], v, f)
			}
		}
	}
}

// GET /v1/social/follows lists the caller's relations, open and closed,
// and no one else's, from the statistics' index by follower, before and
// after a restart (which rebuilds the index from the saved statistics).
func TestFollowsByFollower(t *testing.T) {
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	fundCopyParties(ts, lid, fid)
	gid, gus := ts.signup("gus")
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"1000","ref":"g"}`, gid))
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"display_name":"Lea"}`)
	follow := func(tok string) uint64 {
		f := ts.must(201, "POST", "/v1/social/follows", tok,
			fmt.Sprintf(`{"leader_id":%d,"allocation":"100","mode":"proportional","value":"1"}`, lid))
		return uint64(f["id"].(float64))
	}
	r1 := follow(fol)
	ts.must(200, "DELETE", fmt.Sprintf("/v1/social/follows/%d", r1), fol, "")
	r3 := follow(gus)
	r2 := follow(fol)
	check := func(ts *testServer) {
		t.Helper()
		for _, c := range []struct {
			tok  string
			want []uint64
		}{{fol, []uint64{r1, r2}}, {gus, []uint64{r3}}, {lead, nil}} {
			out := ts.must(200, "GET", "/v1/social/follows", c.tok, "")
			var got []uint64
			for _, f := range out["follows"].([]any) {
				got = append(got, uint64(f.(map[string]any)["id"].(float64)))
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("follows %v, want %v", got, c.want)
			}
		}
	}
	check(ts)
	ts.stop()
	check(start(t, ts.dir, nil))
}

// GET /v1/social/follows/{id}/fills pages the fills of the follow's
// wallet, for the follower only, and keeps them once the follow closed.
func TestFollowFills(t *testing.T) {
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	maker, buyer := fundCopyParties(ts, lid, fid)
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"display_name":"Lea"}`)
	rel := uint64(ts.must(201, "POST", "/v1/social/follows", fol,
		fmt.Sprintf(`{"leader_id":%d,"allocation":"500","mode":"proportional","value":"1"}`, lid))["id"].(float64))
	path := fmt.Sprintf("/v1/social/follows/%d/fills", rel)
	for i := range 3 { // the leader buys three times; the wallet mirrors each
		ts.must(201, "POST", "/v1/orders", maker, fmt.Sprintf(`{"market":"BTC-USDT","side":"sell","price":"%d","quantity":"0.5"}`, 100+i))
		ts.must(201, "POST", "/v1/orders", lead, fmt.Sprintf(`{"market":"BTC-USDT","side":"buy","price":"%d","quantity":"0.1","time_in_force":"ioc"}`, 100+i))
	}
	fills := func(tok, query string) []map[string]any {
		t.Helper()
		var out []map[string]any
		for _, f := range ts.must(200, "GET", path+query, tok, "")["fills"].([]any) {
			out = append(out, f.(map[string]any))
		}
		return out
	}
	all := fills(fol, "")
	if len(all) != 3 {
		t.Fatalf("%d wallet fills, want 3: %v", len(all), all)
	}
	for _, f := range all {
		if f["side"] != "buy" || f["liquidity"] != "taker" {
			t.Fatalf("wallet fill %v", f)
		}
	}
	// Paging as GET /v1/fills.
	first := fills(fol, "?limit=2")
	next := fills(fol, fmt.Sprintf("?limit=2&after=%d", int64(first[1]["trade_id"].(float64))))
	if len(first) != 2 || len(next) != 1 || next[0]["trade_id"] != all[2]["trade_id"] {
		t.Fatalf("pages %v then %v, all %v", first, next, all)
	}
	// The follower's own fills do not hold the wallet's.
	if own := ts.must(200, "GET", "/v1/fills", fol, "")["fills"].([]any); len(own) != 0 {
		t.Fatalf("the follower's own fills: %v", own)
	}
	// Someone else's follow, or none, is not found; a bad id is refused.
	for _, tok := range []string{lead, buyer} {
		ts.must(404, "GET", path, tok, "")
	}
	ts.must(404, "GET", "/v1/social/follows/999/fills", fol, "")
	ts.must(400, "GET", "/v1/social/follows/x/fills", fol, "")
	ts.must(400, "GET", path+"?limit=0", fol, "")
	ts.must(401, "GET", path, "", "")
	ts.must(405, "POST", path, fol, "")
	// Closed with a sale of what the wallet holds: that fill too.
	ts.must(201, "POST", "/v1/orders", buyer, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"1"}`)
	ts.must(200, "DELETE", fmt.Sprintf("/v1/social/follows/%d?close=market", rel), fol, "")
	if got := fills(fol, ""); len(got) != 4 || got[3]["side"] != "sell" {
		t.Fatalf("after close=market: %v", got)
	}
}

// A closed follow shows everything its wallet returned to the main
// balance (returned_balances): with close=keep, the base it bought too.
func TestReturnedBalances(t *testing.T) {
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	maker, _ := fundCopyParties(ts, lid, fid)
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"display_name":"Lea"}`)
	rel := uint64(ts.must(201, "POST", "/v1/social/follows", fol,
		fmt.Sprintf(`{"leader_id":%d,"allocation":"500","mode":"proportional","value":"1"}`, lid))["id"].(float64))
	ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"100","quantity":"1"}`)
	ts.must(201, "POST", "/v1/orders", lead, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"0.2","time_in_force":"ioc"}`)
	before := ts.balances(fol)
	out := ts.must(200, "DELETE", fmt.Sprintf("/v1/social/follows/%d?close=keep", rel), fol, "")
	after := ts.balances(fol)
	check := func(f map[string]any, when string) {
		t.Helper()
		rb, ok := f["returned_balances"].([]any)
		if !ok || len(rb) != 2 {
			t.Fatalf("%s: returned_balances %v", when, f["returned_balances"])
		}
		got := map[string]string{}
		for _, x := range rb {
			m := x.(map[string]any)
			got[m["asset"].(string)] = m["amount"].(string)
		}
		// The wallet bought 0.1 BTC (half the leader's 1000 USDT went
		// into 0.2 BTC: proportional) with 10 of its 500 USDT.
		if got["BTC"] != "0.1" || got["USDT"] != "490" || got["USDT"] != f["returned"] {
			t.Fatalf("%s: returned %v, returned_balances %v", when, f["returned"], got)
		}
	}
	check(out, "the unfollow's answer")
	for _, f := range ts.must(200, "GET", "/v1/social/follows", fol, "")["follows"].([]any) {
		check(f.(map[string]any), "GET /v1/social/follows")
	}
	if before["BTC"] != "" || after["BTC"] != "0.1/0" {
		t.Fatalf("the follower's BTC: %q before, %q after", before["BTC"], after["BTC"])
	}
	// After a restart, from the saved statistics.
	ts.stop()
	ts = start(t, ts.dir, nil)
	for _, f := range ts.must(200, "GET", "/v1/social/follows", fol, "")["follows"].([]any) {
		check(f.(map[string]any), "after a restart")
	}
}

// GET /v1/social/followers lists open relations by default, and with
// status=closed or all the closed ones too, paged by follow id, with what
// they returned: a leader sees what every follow paid it.
func TestFollowersStatus(t *testing.T) {
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	fundCopyParties(ts, lid, fid)
	gid, gus := ts.signup("gus")
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"1000","ref":"g"}`, gid))
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"display_name":"Lea"}`)
	follow := func(tok, amount string) uint64 {
		return uint64(ts.must(201, "POST", "/v1/social/follows", tok,
			fmt.Sprintf(`{"leader_id":%d,"allocation":%q}`, lid, amount))["id"].(float64))
	}
	r1 := follow(fol, "100")
	r2 := follow(gus, "200")
	ts.must(200, "DELETE", fmt.Sprintf("/v1/social/follows/%d", r1), fol, "")
	r3 := follow(fol, "300")
	list := func(ts *testServer, query string) []string {
		t.Helper()
		var out []string
		for _, x := range ts.must(200, "GET", "/v1/social/followers"+query, lead, "")["followers"].([]any) {
			m := x.(map[string]any)
			out = append(out, fmt.Sprintf("%v %v %v %v", m["follow_id"], m["status"], m["nav"], m["returned"]))
		}
		return out
	}
	open2, open3 := fmt.Sprintf("%d active 200 <nil>", r2), fmt.Sprintf("%d active 300 <nil>", r3)
	closed1 := fmt.Sprintf("%d closed <nil> 100", r1)
	check := func(ts *testServer) {
		t.Helper()
		for query, want := range map[string][]string{
			"":                                      {open2, open3},
			"?status=open":                          {open2, open3},
			"?status=closed":                        {closed1},
			"?status=all":                           {closed1, open2, open3},
			"?status=all&limit=2":                   {closed1, open2},
			fmt.Sprintf("?status=all&after=%d", r2): {open3},
		} {
			if got := list(ts, query); !slices.Equal(got, want) {
				t.Fatalf("followers%s: %q, want %q", query, got, want)
			}
		}
	}
	check(ts)
	ts.must(400, "GET", "/v1/social/followers?status=gone", lead, "")
	ts.must(400, "GET", "/v1/social/followers?status=all&limit=0", lead, "")
	if got := ts.must(200, "GET", "/v1/social/followers?status=all", fol, "")["followers"].([]any); len(got) != 0 {
		t.Fatalf("a follower who leads nobody: %v", got)
	}
	ts.stop()
	check(start(t, ts.dir, nil))
}
