package server

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// This file reconciles, as a client and an operator would, every balance
// the API shows with the history the API gives: deposits and withdrawals
// the test made, the fills of GET /v1/fills, the copy-trading movements
// of the social endpoints. Everything is read over HTTP and every decimal
// is parsed with math/big.Rat, never with the server's own units, so the
// checks do not share the code they check.

// reconMarket is one market of the reconciliation: its rules as decimal
// strings (to create it) and as rationals (to check it), and the middle
// of the prices the driver quotes, in ticks.
type reconMarket struct {
	sym, base, quote   string
	tick, lot, minNot  string
	makerBps, takerBps int64
	initMaker, initTak int64    // the rates it was created with
	mid                int64    // in ticks, walks randomly
	minLots, maxLots   int64    // the quantities the driver trades, in lots
	tickR, lotR        *big.Rat // tick and lot as rationals
	tickDP, lotDP      int      // their decimal places, to format prices and quantities
	// fees are the fee changes made (PATCH /v1/admin/markets/{symbol}),
	// oldest first; makerBps and takerBps are the rates in force.
	fees []reconFees
}

// reconFees is a change of a market's fees: sent at t0, answered at t1.
// The driver sends one request at a time, so a fill stamped before t0
// paid the rates before it, one stamped after t1 these.
type reconFees struct {
	t0, t1             time.Time
	makerBps, takerBps int64
}

// rates returns the maker and taker fees m charged a fill stamped at, as
// its changes say (ok false if at falls between a change's request and
// answer).
func (m *reconMarket) rates(at time.Time, makerBps, takerBps int64) (maker, taker int64, ok bool) {
	maker, taker = makerBps, takerBps
	for _, c := range m.fees {
		switch {
		case !at.Before(c.t1):
			maker, taker = c.makerBps, c.takerBps
		case at.After(c.t0):
			return 0, 0, false
		}
	}
	return maker, taker, true
}

// reconMarkets returns the markets of TestReconcile: two quoted in USDT
// (one with a zero maker fee) and one quoted in BTC, so that fees are
// charged in two assets and BTC is both a base and a quote.
func reconMarkets() []*reconMarket {
	ms := []*reconMarket{
		{sym: "BTC-USDT", base: "BTC", quote: "USDT", tick: "0.01", lot: "0.0001", minNot: "1", makerBps: 10, takerBps: 20, mid: 10000, minLots: 100, maxLots: 2000},
		{sym: "ETH-USDT", base: "ETH", quote: "USDT", tick: "0.01", lot: "0.001", minNot: "1", makerBps: 0, takerBps: 15, mid: 1000, minLots: 100, maxLots: 3000},
		{sym: "ETH-BTC", base: "ETH", quote: "BTC", tick: "0.00001", lot: "0.001", minNot: "0.001", makerBps: 5, takerBps: 25, mid: 10000, minLots: 10, maxLots: 500},
	}
	for _, m := range ms {
		m.tickR, m.lotR = mustRat(m.tick), mustRat(m.lot)
		m.initMaker, m.initTak = m.makerBps, m.takerBps
		m.tickDP, m.lotDP = len(m.tick)-strings.IndexByte(m.tick, '.')-1, len(m.lot)-strings.IndexByte(m.lot, '.')-1
	}
	return ms
}

// mustRat parses a plain decimal string ("-12.5"), panicking on anything
// else: the API's decimals have no exponent and no fraction bar, which
// big.Rat would accept.
func mustRat(s string) *big.Rat {
	r, ok := parseDec(s)
	if !ok {
		panic("not a decimal: " + s)
	}
	return r
}

// parseDec parses a plain decimal string: an optional minus, digits, and
// an optional point with digits.
func parseDec(s string) (*big.Rat, bool) {
	t := strings.TrimPrefix(s, "-")
	ip, fp, dot := strings.Cut(t, ".")
	if ip == "" || (dot && fp == "") || strings.Trim(ip+fp, "0123456789") != "" {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// reconAcct is a user account of the reconciliation and what the test
// itself moved in and out of it.
type reconAcct struct {
	id     uint64
	tok    string
	ext    map[string]*big.Rat // deposits − withdrawals acknowledged, by asset
	oids   []uint64            // orders placed, to amend and cancel
	frozen bool                // the operator froze it
}

// reconRel is a follow (copy relation) the driver made, and the quote it
// moved into the wallet.
type reconRel struct {
	id, wallet       uint64
	follower, leader *reconAcct
	in               *big.Rat // allocation + top-ups
	closed           bool
	returned         *big.Rat // the quote its unfollow returned (the answer's "returned")
}

// reconFill is a fill as GET /v1/fills (or a follow's fills) shows it,
// parsed.
type reconFill struct {
	acct                 uint64
	trade, order         uint64
	market, side, liq    string
	price, qty, fee      *big.Rat
	feeAsset, raw, rtime string
}

// reconDriver sends a seeded random stream of requests to a server and
// keeps what the reconciliation needs to know of it.
type reconDriver struct {
	t          *testing.T
	r          *rand.Rand
	ts         *testServer
	mk         []*reconMarket
	accts      []*reconAcct
	leader     *reconAcct   // publishes a leader profile
	fols       []*reconAcct // follow leader
	rels       map[uint64]*reconRel
	feeExt     map[string]*big.Rat // fee withdrawals, as negative amounts
	wfills     map[string]reconFill
	sent       map[string]string    // client_order_id → body, to resend
	cids       []string             // the keys of sent, in the order sent
	orderOf    map[string]uint64    // client_order_id → order id
	refs       []string             // deposit bodies, to resend
	n          int                  // request counter, for unique ids
	amended    map[uint64]bool      // orders amended: their price may not be the one they filled at
	pending    *inflight            // the transfer being sent
	mayDie     bool                 // the server may be killed: see req
	crashed    bool                 // a crash cut off an answer: follows may be unknown
	answered   map[string]reconFill // the fills that answers to POST /v1/orders and batches had, by fillKey
	feeChanges int                  // fee changes made
	freezes    int                  // accounts frozen
	frozenOut  map[uint64]bool      // orders a freeze cancelled
}

func (d *reconDriver) add(m map[string]*big.Rat, asset string, v *big.Rat) {
	if m[asset] == nil {
		m[asset] = new(big.Rat)
	}
	m[asset].Add(m[asset], v)
}

func (d *reconDriver) mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		d.t.Fatal(err)
	}
	return string(b)
}

// setup creates the markets, the accounts (with their first deposits)
// and the leader profile.
func (d *reconDriver) setup(nAccts int) {
	for _, m := range d.mk {
		d.ts.must(201, "POST", "/v1/admin/markets", adminTok, d.mustJSON(map[string]any{
			"symbol": m.sym, "base": m.base, "quote": m.quote, "tick_size": m.tick, "lot_size": m.lot,
			"min_notional": m.minNot, "maker_fee_bps": m.makerBps, "taker_fee_bps": m.takerBps}))
	}
	for i := range nAccts {
		id, tok := d.ts.signup(fmt.Sprintf("trader%d", i))
		a := &reconAcct{id: id, tok: tok, ext: map[string]*big.Rat{}}
		d.accts = append(d.accts, a)
		d.deposit(a, "USDT", "5000")
		d.deposit(a, "BTC", "20")
		d.deposit(a, "ETH", "500")
	}
	d.leader = d.accts[0]
	d.ts.must(200, "PUT", "/v1/social/leader", d.leader.tok, `{"display_name":"lead","bio":"","profit_share_bps":1000}`)
	d.fols = d.accts[len(d.accts)-2:]
}

// deposit credits amt of asset to a with a new ref.
func (d *reconDriver) deposit(a *reconAcct, asset, amt string) {
	d.n++
	body := d.mustJSON(map[string]any{"account_id": a.id, "asset": asset, "amount": amt, "ref": fmt.Sprintf("dep-%d", d.n)})
	d.transfer(&inflight{path: "/v1/admin/deposits", tok: adminTok, body: body, ext: a.ext, asset: asset, amount: mustRat(amt)})
	d.refs = append(d.refs, body)
}

// price returns a price near m's mid, in ticks, formatted.
func (d *reconDriver) price(m *reconMarket, spread int64) (string, int64) {
	p := max(m.mid+d.r.Int64N(2*spread+1)-spread, 1)
	return new(big.Rat).Mul(m.tickR, big.NewRat(p, 1)).FloatString(m.tickDP), p
}

func (d *reconDriver) qty(m *reconMarket) string {
	l := m.minLots + d.r.Int64N(m.maxLots-m.minLots+1)
	return new(big.Rat).Mul(m.lotR, big.NewRat(l, 1)).FloatString(m.lotDP)
}

// randOrder returns the body of a random order of every type, time in
// force and STP mode.
func (d *reconDriver) randOrder() map[string]any {
	m := d.mk[d.r.IntN(len(d.mk))]
	m.mid = max(m.mid+d.r.Int64N(7)-3, 50)
	side := []string{"buy", "sell"}[d.r.IntN(2)]
	o := map[string]any{"market": m.sym, "side": side}
	p, _ := d.price(m, 6)
	switch k := d.r.IntN(20); {
	case k < 10:
		o["type"], o["price"], o["quantity"] = "limit", p, d.qty(m)
		if d.r.IntN(6) == 0 {
			o["post_only"] = true
		}
		if d.r.IntN(3) == 0 {
			o["time_in_force"] = "gtc"
		}
	case k < 12:
		o["type"], o["price"], o["quantity"], o["time_in_force"] = "limit", p, d.qty(m), "ioc"
	case k < 13:
		o["type"], o["price"], o["quantity"], o["time_in_force"] = "limit", p, d.qty(m), "fok"
	case k < 15:
		o["type"], o["quantity"] = "market", d.qty(m)
	case k < 16:
		o["type"] = "market"
		if side == "buy" {
			o["quote_quantity"] = fmt.Sprintf("%d", 2+d.r.IntN(20))
			if m.quote == "BTC" {
				o["quote_quantity"] = fmt.Sprintf("0.0%d", 1+d.r.IntN(9))
			}
		} else {
			o["quantity"] = d.qty(m)
		}
	case k < 18:
		sp, _ := d.price(m, 8)
		o["type"], o["price"], o["stop_price"], o["quantity"] = "stop_limit", p, sp, d.qty(m)
	default:
		sp, _ := d.price(m, 8)
		o["type"], o["stop_price"] = "stop_market", sp
		if side == "buy" {
			o["quote_quantity"] = fmt.Sprintf("%d", 2+d.r.IntN(20))
			if m.quote == "BTC" {
				o["quote_quantity"] = fmt.Sprintf("0.0%d", 1+d.r.IntN(9))
			}
		} else {
			o["quantity"] = d.qty(m)
		}
	}
	if d.r.IntN(2) == 0 {
		o["stp"] = []string{"cancel_taker", "cancel_maker", "cancel_both", "none"}[d.r.IntN(4)]
	}
	if d.r.IntN(3) == 0 {
		d.n++
		o["client_order_id"] = fmt.Sprintf("c-%d", d.n)
	}
	return o
}

// noteOrder records an order of a that the server answered, and the
// fills the answer had, if any.
func (d *reconDriver) noteOrder(a *reconAcct, body map[string]any, o map[string]any, fills any) {
	fs, _ := fills.([]any)
	for _, f := range fs {
		rf := d.parseFill(a.id, f.(map[string]any))
		d.answered[fillKey(rf)] = rf
	}
	id := uint64(o["id"].(float64))
	a.oids = append(a.oids, id)
	if c, ok := body["client_order_id"].(string); ok {
		if _, ok := d.sent[c]; !ok {
			d.cids = append(d.cids, c)
		}
		d.sent[c] = d.mustJSON(body)
		d.orderOf[a.tok+"/"+c] = id
	}
}

// step sends one random request.
func (d *reconDriver) step() {
	a := d.accts[d.r.IntN(len(d.accts))]
	switch k := d.r.IntN(100); {
	case k < 45:
		body := d.randOrder()
		code, out := d.req("POST", "/v1/orders", a.tok, d.mustJSON(body))
		if code == 201 {
			d.noteOrder(a, body, out["order"].(map[string]any), out["fills"])
		}
		if os.Getenv("IST_RECON_DEBUG") != "" {
			d.t.Logf("%v -> %d %v", body, code, out)
		}
	case k < 52:
		var os []map[string]any
		for range 2 + d.r.IntN(7) {
			os = append(os, d.randOrder())
		}
		out := d.must(200, "POST", "/v1/orders/batch", a.tok, d.mustJSON(map[string]any{"orders": os}))
		for i, res := range out["results"].([]any) {
			if o, ok := res.(map[string]any)["order"].(map[string]any); ok {
				d.noteOrder(a, os[i], o, res.(map[string]any)["fills"])
			}
		}
	case k < 62 && len(a.oids) > 0:
		oid := a.oids[len(a.oids)-1-d.r.IntN(min(len(a.oids), 20))]
		cur := d.must(200, "GET", fmt.Sprintf("/v1/orders/%d", oid), a.tok, "")
		m := d.market(cur["market"].(string))
		body := map[string]any{}
		if d.r.IntN(2) == 0 {
			body["quantity"] = d.qty(m)
		}
		if len(body) == 0 || d.r.IntN(2) == 0 {
			body["price"], _ = d.price(m, 6)
		}
		if code, _ := d.req("PATCH", fmt.Sprintf("/v1/orders/%d", oid), a.tok, d.mustJSON(body)); code == 200 {
			d.amended[oid] = true
		}
	case k < 72 && len(a.oids) > 0:
		oid := a.oids[len(a.oids)-1-d.r.IntN(min(len(a.oids), 20))]
		d.req("DELETE", fmt.Sprintf("/v1/orders/%d", oid), a.tok, "")
	case k < 74:
		d.must(200, "DELETE", "/v1/orders?market="+d.mk[d.r.IntN(len(d.mk))].sym, a.tok, "")
	case k < 77 && len(d.cids) > 0:
		// Resend a client order id: the original order, not a second one.
		c := d.cids[d.r.IntN(len(d.cids))]
		for _, b := range d.accts {
			if id, ok := d.orderOf[b.tok+"/"+c]; ok {
				code, out := d.req("POST", "/v1/orders", b.tok, d.sent[c])
				if o, _ := out["order"].(map[string]any); code != 200 || o == nil || uint64(o["id"].(float64)) != id {
					d.t.Errorf("resend of %s: %d %v, want 200 with order %d", c, code, out, id)
				}
			}
		}
	case k < 80:
		asset := []string{"USDT", "BTC", "ETH"}[d.r.IntN(3)]
		d.deposit(a, asset, fmt.Sprintf("%d.%08d", d.r.IntN(100), d.r.IntN(1e8)))
	case k < 81 && len(d.refs) > 0:
		body := d.refs[d.r.IntN(len(d.refs))]
		if out := d.must(200, "POST", "/v1/admin/deposits", adminTok, body); out["duplicate"] != true {
			d.t.Errorf("deposit resent: %v", out)
		}
	case k < 85:
		asset := []string{"USDT", "BTC", "ETH"}[d.r.IntN(3)]
		amt := fmt.Sprintf("%d.%06d", d.r.IntN(50), d.r.IntN(1e6))
		d.n++
		ref := fmt.Sprintf("wd-%d", d.n)
		body := d.mustJSON(map[string]any{"asset": asset, "amount": amt, "ref": ref})
		if d.transfer(&inflight{path: "/v1/withdrawals", tok: a.tok, body: body, ext: a.ext, asset: asset,
			amount: new(big.Rat).Neg(mustRat(amt))}) {
			d.must(200, "POST", "/v1/withdrawals", a.tok, body) // idempotent: no second withdrawal
		}
	case k < 86:
		asset := []string{"USDT", "BTC"}[d.r.IntN(2)]
		amt := fmt.Sprintf("0.%04d", d.r.IntN(1e4))
		d.n++
		body := d.mustJSON(map[string]any{"asset": asset, "amount": amt, "ref": fmt.Sprintf("fw-%d", d.n)})
		d.transfer(&inflight{path: "/v1/admin/fees/withdrawals", tok: adminTok, body: body, ext: d.feeExt, asset: asset,
			amount: new(big.Rat).Neg(mustRat(amt))})
	case k < 92:
		d.copyStep()
	case k < 94:
		d.must(200, "POST", "/v1/admin/settle", adminTok, "")
	case k < 95 && !d.mayDie:
		// The operator changes a market's fees: open buys lock the new
		// highest rate (or are cancelled), fills pay the new rates.
		m := d.mk[d.r.IntN(len(d.mk))]
		maker, taker := d.r.Int64N(30), d.r.Int64N(40)
		t0 := time.Now()
		out := d.must(200, "PATCH", "/v1/admin/markets/"+m.sym, adminTok,
			d.mustJSON(map[string]any{"maker_fee_bps": maker, "taker_fee_bps": taker}))
		m.fees = append(m.fees, reconFees{t0: t0, t1: time.Now(), makerBps: maker, takerBps: taker})
		d.feeChanges++
		m.makerBps, m.takerBps = maker, taker
		if out["maker_fee_bps"] != float64(maker) || out["taker_fee_bps"] != float64(taker) {
			d.t.Errorf("fee change of %s: %v, want %d and %d", m.sym, out, maker, taker)
		}
	case k < 96 && !d.mayDie:
		// The operator freezes an account (one at a time), or lifts the
		// freeze: its orders are cancelled (account_frozen), and while
		// frozen its orders, withdrawals and follow changes are refused.
		for _, b := range d.accts {
			if b.frozen {
				a = b
			}
		}
		op := "freeze"
		if a.frozen {
			op = "unfreeze"
		}
		out := d.must(200, "POST", fmt.Sprintf("/v1/admin/accounts/%d/%s", a.id, op), adminTok, "")
		a.frozen = !a.frozen
		if out["frozen"] != a.frozen || !a.frozen && len(out["cancelled"].([]any)) != 0 {
			d.t.Errorf("%s of account %d: %v", op, a.id, out)
		}
		if a.frozen {
			d.freezes++
			for _, id := range out["cancelled"].([]any) {
				d.frozenOut[uint64(id.(float64))] = true
			}
		}
	default:
		// The leader trades more than the others, so that its followers do.
		body := d.randOrder()
		if code, out := d.req("POST", "/v1/orders", d.leader.tok, d.mustJSON(body)); code == 201 {
			d.noteOrder(d.leader, body, out["order"].(map[string]any), out["fills"])
		}
	}
	d.pollWallets()
}

// copyStep follows, tops up, pauses, resumes or unfollows.
func (d *reconDriver) copyStep() {
	f := d.fols[d.r.IntN(len(d.fols))]
	var open *reconRel
	for _, rel := range d.rels {
		if rel.follower == f && !rel.closed {
			open = rel
		}
	}
	if open == nil {
		alloc := fmt.Sprintf("%d", 100+d.r.IntN(900))
		body := map[string]any{"leader_id": d.leader.id, "allocation": alloc,
			"mode": []string{"proportional", "multiplier", "fixed_quote"}[d.r.IntN(3)], "stop_loss_bps": 5000}
		switch body["mode"] {
		case "multiplier":
			body["value"] = "0.5"
		case "fixed_quote":
			body["value"] = "20"
		}
		code, out := d.req("POST", "/v1/social/follows", f.tok, d.mustJSON(body))
		if code == 201 {
			id := uint64(out["id"].(float64))
			d.rels[id] = &reconRel{id: id, wallet: uint64(out["wallet_account_id"].(float64)), follower: f,
				leader: d.leader, in: mustRat(alloc)}
		}
		return
	}
	path := fmt.Sprintf("/v1/social/follows/%d", open.id)
	switch d.r.IntN(5) {
	case 0:
		amt := fmt.Sprintf("%d.5", d.r.IntN(100))
		if code, _ := d.req("PATCH", path, f.tok, `{"top_up":"`+amt+`"}`); code == 200 {
			open.in.Add(open.in, mustRat(amt))
		}
	case 1:
		d.req("POST", path+"/pause", f.tok, "")
	case 2:
		d.req("POST", path+"/resume", f.tok, "")
	default:
		close := []string{"market", "keep"}[d.r.IntN(2)]
		code, out := d.req("DELETE", path+"?close="+close, f.tok, "")
		if code == 200 {
			open.closed = true
			open.returned = mustRat(out["returned"].(string))
		}
	}
}

// pollWallets collects the copy wallets' fills: the API shows them only
// as the latest few of each follow (GET /v1/social/follows), so the
// driver reads them after every request.
func (d *reconDriver) pollWallets() {
	if len(d.rels) == 0 {
		return
	}
	for _, f := range d.fols {
		out := d.must(200, "GET", "/v1/social/follows", f.tok, "")
		for _, fo := range out["follows"].([]any) {
			fo := fo.(map[string]any)
			w := uint64(fo["wallet_account_id"].(float64))
			rel := d.rels[uint64(fo["id"].(float64))]
			alloc := d.dec(fo["allocation"], "allocation")
			if rel == nil || rel.in.Cmp(alloc) != 0 {
				if !d.crashed {
					d.t.Fatalf("follow %v: not as the driver made it: %v", fo["id"], fo)
				}
				// A crash cut off its answer: a follow or a top-up
				// happened, and its allocation says how much went in.
				if rel == nil {
					rel = &reconRel{id: uint64(fo["id"].(float64)), wallet: w, follower: f, leader: d.leader}
					d.rels[rel.id] = rel
				}
				rel.in = alloc
			}
			if s := fo["status"].(string); s == "closed" && !rel.closed {
				// A stop-loss closed it: its return is the answer's.
				rel.closed = true
				if fo["returned"] == nil {
					d.t.Fatalf("closed follow without returned: %v", fo)
				}
				rel.returned = mustRat(fo["returned"].(string))
			}
			for _, x := range fo["fills"].([]any) {
				f := d.parseFill(w, x.(map[string]any))
				d.wfills[fillKey(f)] = f
			}
		}
	}
}

// inflight is a deposit or withdrawal sent and not yet answered: after a
// crash, resending it with its ref tells whether it happened.
type inflight struct {
	path, tok, body string
	ext             map[string]*big.Rat // the ledger it moves
	asset           string
	amount          *big.Rat // signed: a withdrawal's is negative
}

// transfer sends a deposit or withdrawal and, once it is answered 201,
// books it; it reports whether it was. A request that a crash cuts off
// stays in d.pending for resolve.
func (d *reconDriver) transfer(x *inflight) bool {
	d.pending = x
	code, _ := d.req("POST", x.path, x.tok, x.body)
	d.pending = nil
	if code == 201 {
		d.add(x.ext, x.asset, x.amount)
	}
	return code == 201
}

// resolve settles, after a crash, the transfer it cut off: resent with
// the same ref, it is done now (201) or was done before (200 duplicate);
// either way it is booked once. Follows, which have no ref, are learned
// from GET /v1/social/follows (pollWallets).
func (d *reconDriver) resolve() {
	if x := d.pending; x != nil {
		d.pending = nil
		switch code, out := d.req("POST", x.path, x.tok, x.body); code {
		case 200, 201:
			d.add(x.ext, x.asset, x.amount)
		default:
			d.t.Logf("in-flight %s %s: %d %v", x.path, x.body, code, out)
		}
	}
	d.pollWallets()
}

// reconKilled is the panic of a request to a server killed under it
// (reconDriver.mayDie), which ends the stream of requests.
type reconKilled struct{}

// req sends a request: a transport error fails the test, or, while the
// server may be killed, panics with reconKilled.
func (d *reconDriver) req(method, path, tok, body string) (int, map[string]any) {
	d.t.Helper()
	if !d.mayDie {
		return d.ts.req(method, path, tok, body)
	}
	code, out, err := d.ts.send(method, path, tok, body)
	if err != nil {
		panic(reconKilled{})
	}
	return code, out
}

// must is req that fails unless the status is want.
func (d *reconDriver) must(want int, method, path, tok, body string) map[string]any {
	d.t.Helper()
	code, out := d.req(method, path, tok, body)
	if code != want {
		d.t.Fatalf("%s %s %s: status %d, want %d: %v", method, path, body, code, want, out)
	}
	return out
}

func (d *reconDriver) market(sym string) *reconMarket {
	for _, m := range d.mk {
		if m.sym == sym {
			return m
		}
	}
	d.t.Fatalf("unknown market %q", sym)
	return nil
}

// dec parses a decimal field of an answer, failing the test if it is not
// one.
func (d *reconDriver) dec(v any, what string) *big.Rat {
	s, _ := v.(string)
	r, ok := parseDec(s)
	if !ok {
		d.t.Fatalf("%s: %v is not a decimal string", what, v)
	}
	return r
}

func (d *reconDriver) parseFill(acct uint64, f map[string]any) reconFill {
	return reconFill{acct: acct, trade: uint64(f["trade_id"].(float64)), order: uint64(f["order_id"].(float64)),
		market: f["market"].(string), side: f["side"].(string), liq: f["liquidity"].(string),
		price: d.dec(f["price"], "fill price"), qty: d.dec(f["quantity"], "fill quantity"), fee: d.dec(f["fee"], "fee"),
		feeAsset: f["fee_asset"].(string), raw: fmt.Sprint(f), rtime: f["time"].(string)}
}

// fillKey identifies a fill: its account, trade, order and liquidity
// (a self-trade has two fills of one trade in one account).
func fillKey(f reconFill) string { return fmt.Sprint(f.acct, f.trade, f.order, f.liq) }

// pages reads every page of a list endpoint (after= the last id).
func (d *reconDriver) pages(path, tok, key, idKey string) []map[string]any {
	var all []map[string]any
	after := uint64(0)
	for {
		out := d.ts.must(200, "GET", fmt.Sprintf("%s?limit=%d&after=%d", path, 97, after), tok, "")
		page := out[key].([]any)
		if len(page) == 0 {
			return all
		}
		for _, x := range page {
			all = append(all, x.(map[string]any))
		}
		next := uint64(page[len(page)-1].(map[string]any)[idKey].(float64))
		if next <= after {
			d.t.Fatalf("%s: page after %d ends at %d", path, after, next)
		}
		after = next
	}
}

// reconState is what the reconciliation read, to compare across
// restarts.
type reconState struct {
	balances map[uint64]map[string][2]string // account → asset → available, locked
	orders   map[uint64][]string
	fills    map[uint64][]string
}

// bps returns a fee rate as a rational.
func bpsRat(b int64) *big.Rat { return big.NewRat(b, 10000) }

// floor8 rounds r down to 10^-8.
func floor8(r *big.Rat) *big.Rat {
	n := new(big.Int).Mul(r.Num(), big.NewInt(1e8))
	n.Div(n, r.Denom()) // Euclidean: floor for a positive denominator
	return new(big.Rat).SetFrac(n, big.NewInt(1e8))
}

// reconcile checks every balance against the history and returns what it
// read.
func (d *reconDriver) reconcile(label string) reconState {
	t := d.t
	t.Helper()
	errorf := func(format string, args ...any) { t.Errorf(label+": "+format, args...) }
	st := reconState{balances: map[uint64]map[string][2]string{}, orders: map[uint64][]string{}, fills: map[uint64][]string{}}

	// The operator's view: every account, users and copy wallets, and
	// the fee account.
	total := map[string]*big.Rat{}
	admin := d.pages("/v1/admin/accounts", adminTok, "accounts", "id")
	adminBal := map[uint64]map[string]*big.Rat{}
	for _, a := range admin {
		id := uint64(a["id"].(float64))
		adminBal[id] = map[string]*big.Rat{}
		for _, b := range a["balances"].([]any) {
			b := b.(map[string]any)
			v := new(big.Rat).Add(d.dec(b["available"], "available"), d.dec(b["locked"], "locked"))
			adminBal[id][b["asset"].(string)] = v
			d.add(total, b["asset"].(string), v)
		}
	}
	fee := d.ts.must(200, "GET", "/v1/admin/fees", adminTok, "")
	feeBal := map[string]*big.Rat{}
	for _, b := range fee["balances"].([]any) {
		b := b.(map[string]any)
		v := new(big.Rat).Add(d.dec(b["available"], "available"), d.dec(b["locked"], "locked"))
		feeBal[b["asset"].(string)] = v
		d.add(total, b["asset"].(string), v)
		st.balances[0] = map[string][2]string{}
		st.balances[0][b["asset"].(string)] = [2]string{b["available"].(string), b["locked"].(string)}
	}
	// Money conservation: all balances = deposits − withdrawals.
	ext := map[string]*big.Rat{}
	for _, a := range d.accts {
		for asset, v := range a.ext {
			d.add(ext, asset, v)
		}
	}
	for asset, v := range d.feeExt {
		d.add(ext, asset, v)
	}
	for _, asset := range []string{"USDT", "BTC", "ETH"} {
		got, want := cmpOr(total[asset]), cmpOr(ext[asset])
		if got.Cmp(want) != 0 {
			errorf("%s: all balances %s, deposits − withdrawals %s", asset, got.FloatString(8), want.FloatString(8))
		}
	}

	// Every fill of every account: users through GET /v1/fills, copy
	// wallets through GET /v1/social/follows/{id}/fills, in full. The
	// latest ones each follow shows (polled by the driver after every
	// request) must be among them, as they are: one request can make
	// more wallet fills than a follow shows (a leader's sweep mirrored),
	// so the polled ones alone may miss some.
	d.pollWallets()
	var all []reconFill
	wallet := map[string]reconFill{}
	for _, id := range slices.Sorted(maps.Keys(d.rels)) {
		rel := d.rels[id]
		for _, f := range d.pages(fmt.Sprintf("/v1/social/follows/%d/fills", id), rel.follower.tok, "fills", "trade_id") {
			rf := d.parseFill(rel.wallet, f)
			wallet[fillKey(rf)] = rf
			all = append(all, rf)
		}
	}
	for k, f := range d.wfills {
		if g, ok := wallet[k]; !ok || g.raw != f.raw {
			errorf("a follow showed wallet fill %s, its fills have %s", f.raw, g.raw)
		}
	}
	nWallet := len(all)
	for _, a := range d.accts {
		for _, f := range d.pages("/v1/fills", a.tok, "fills", "trade_id") {
			rf := d.parseFill(a.id, f)
			all = append(all, rf)
			st.fills[a.id] = append(st.fills[a.id], rf.raw)
		}
	}

	// The fills that order answers had are the history's, as they were.
	listed := map[string]reconFill{}
	for _, f := range all {
		listed[fillKey(f)] = f
	}
	for k, f := range d.answered {
		if g, ok := listed[k]; !ok || g.raw != f.raw {
			errorf("answered fill %s, GET /v1/fills has %s", f.raw, g.raw)
		}
	}

	// GET /v1/admin/fees/withdrawals lists the fee withdrawals made.
	feeOut := map[string]*big.Rat{}
	for _, x := range d.pages("/v1/admin/fees/withdrawals", adminTok, "transfers", "id") {
		d.add(feeOut, x["asset"].(string), new(big.Rat).Neg(d.dec(x["amount"], "fee withdrawal")))
	}
	for _, asset := range []string{"USDT", "BTC", "ETH"} {
		if got, want := cmpOr(feeOut[asset]), cmpOr(d.feeExt[asset]); got.Cmp(want) != 0 {
			errorf("fee withdrawals of %s listed %s, made %s", asset, got.FloatString(8), want.FloatString(8))
		}
	}

	// Fees: each fill's fee is its rate of its notional rounded down,
	// in the quote; the fee account holds them all, less its
	// withdrawals.
	fees := map[string]*big.Rat{}
	byTrade := map[uint64][]reconFill{}
	flows := map[uint64]map[string]*big.Rat{} // account → asset → net of its fills
	for _, f := range all {
		m := d.market(f.market)
		at, err := time.Parse(time.RFC3339Nano, f.rtime)
		maker, taker, ok := m.rates(at, m.initMaker, m.initTak)
		if err != nil || !ok {
			errorf("fill %s: time %q during a fee change of its market (%v)", f.raw, f.rtime, err)
		}
		bps := taker
		if f.liq == "maker" {
			bps = maker
		}
		n := new(big.Rat).Mul(f.price, f.qty)
		if want := floor8(new(big.Rat).Mul(n, bpsRat(bps))); want.Cmp(f.fee) != 0 || f.feeAsset != m.quote {
			errorf("fill %s: fee %s %s, want %s %s", f.raw, f.fee.FloatString(8), f.feeAsset, want.FloatString(8), m.quote)
		}
		d.add(fees, m.quote, f.fee)
		byTrade[f.trade] = append(byTrade[f.trade], f)
		if flows[f.acct] == nil {
			flows[f.acct] = map[string]*big.Rat{}
		}
		q := new(big.Rat).Set(f.qty)
		if f.side == "sell" {
			q.Neg(q)
			n.Neg(n)
		}
		d.add(flows[f.acct], m.base, q)
		d.add(flows[f.acct], m.quote, new(big.Rat).Neg(n))
		d.add(flows[f.acct], m.quote, new(big.Rat).Neg(f.fee))
	}
	for _, asset := range []string{"USDT", "BTC", "ETH"} {
		want := new(big.Rat).Add(cmpOr(fees[asset]), cmpOr(d.feeExt[asset]))
		if got := cmpOr(feeBal[asset]); got.Cmp(want) != 0 {
			errorf("fee account %s: %s, fees charged − withdrawn %s", asset, got.FloatString(8), want.FloatString(8))
		}
	}
	// Trades pair up: one maker and one taker fill, opposite sides, same
	// market, price and quantity, different orders.
	for id, fs := range byTrade {
		if len(fs) != 2 {
			errorf("trade %d has %d fills: %v", id, len(fs), fs)
			continue
		}
		a, b := fs[0], fs[1]
		if a.liq == b.liq || a.side == b.side || a.market != b.market || a.price.Cmp(b.price) != 0 ||
			a.qty.Cmp(b.qty) != 0 || a.order == b.order || a.rtime != b.rtime {
			errorf("trade %d: fills do not pair: %s / %s", id, a.raw, b.raw)
		}
	}

	// Copy relations: the wallet holds what went in, its fills, less the
	// profit share it paid; a closed one returned its quote that way and
	// its base (what its fills bought and did not sell) to the follower.
	paid := map[uint64]*big.Rat{}              // relation → profit share paid
	copyIn := map[uint64]map[string]*big.Rat{} // follower → asset → net copy movements into its main balance
	for _, f := range d.fols {
		copyIn[f.id] = map[string]*big.Rat{}
		for _, fo := range d.ts.must(200, "GET", "/v1/social/follows", f.tok, "")["follows"].([]any) {
			fo := fo.(map[string]any)
			paid[uint64(fo["id"].(float64))] = d.dec(fo["profit_share_paid"], "profit_share_paid")
		}
	}
	leaderIn := new(big.Rat)
	// What the leader itself can see of its profit share: every
	// relation's, closed ones included (GET /v1/social/followers?status=all).
	leaderSees := new(big.Rat)
	for _, fo := range d.ts.must(200, "GET", "/v1/social/followers?status=all&limit=1000", d.leader.tok, "")["followers"].([]any) {
		leaderSees.Add(leaderSees, d.dec(fo.(map[string]any)["profit_share_paid"], "profit_share_paid"))
	}
	defer func() {
		if leaderSees.Cmp(leaderIn) != 0 {
			errorf("the leader received %s USDT of profit share, GET /v1/social/followers shows it %s",
				leaderIn.FloatString(8), leaderSees.FloatString(8))
		}
	}()
	// The copy-event history explains the same: each follower's profit
	// share events add up to what each follow paid, its close events give
	// what each returned, and the leader's received events to the total.
	evPaid, evReturned, evReceived := map[uint64]*big.Rat{}, map[uint64]*big.Rat{}, new(big.Rat)
	for _, f := range d.fols {
		for _, e := range d.pages("/v1/social/events", f.tok, "events", "id") {
			rel := uint64(e["follow_id"].(float64))
			switch e["type"] {
			case "profit_share":
				evPaid[rel] = new(big.Rat).Add(cmpOr(evPaid[rel]), d.dec(e["amount"], "amount"))
			case "closed":
				if evReturned[rel] != nil {
					errorf("follow %d closed twice in its events", rel)
				}
				evReturned[rel] = d.dec(e["returned"], "returned")
			}
		}
	}
	for _, e := range d.pages("/v1/social/events", d.leader.tok, "events", "id") {
		if e["type"] != "profit_share" || e["role"] != "leader" {
			errorf("the leader's copy event %v", e)
			continue
		}
		evReceived.Add(evReceived, d.dec(e["amount"], "amount"))
	}
	for _, rel := range d.rels {
		if cmpOr(evPaid[rel.id]).Cmp(paid[rel.id]) != 0 {
			errorf("follow %d paid %s profit share, its events say %s", rel.id, paid[rel.id].FloatString(8), cmpOr(evPaid[rel.id]).FloatString(8))
		}
		if rel.closed && (evReturned[rel.id] == nil || evReturned[rel.id].Cmp(rel.returned) != 0) {
			errorf("follow %d returned %s, its close event says %v", rel.id, rel.returned.FloatString(8), evReturned[rel.id])
		}
		if !rel.closed && evReturned[rel.id] != nil {
			errorf("open follow %d has a close event", rel.id)
		}
	}
	defer func() {
		if evReceived.Cmp(leaderIn) != 0 {
			errorf("the leader received %s profit share, its events say %s", leaderIn.FloatString(8), evReceived.FloatString(8))
		}
	}()
	for _, rel := range d.rels {
		w := map[string]*big.Rat{"USDT": new(big.Rat).Set(rel.in)}
		d.add(w, "USDT", new(big.Rat).Neg(paid[rel.id]))
		leaderIn.Add(leaderIn, paid[rel.id])
		for asset, v := range flows[rel.wallet] {
			d.add(w, asset, v)
		}
		d.add(copyIn[rel.follower.id], "USDT", new(big.Rat).Neg(rel.in))
		if rel.closed {
			if rel.returned.Cmp(w["USDT"]) != 0 {
				errorf("follow %d returned %s USDT, its history explains %s", rel.id, rel.returned.FloatString(8), w["USDT"].FloatString(8))
			}
			for asset, v := range w {
				d.add(copyIn[rel.follower.id], asset, v)
			}
			w = map[string]*big.Rat{}
		}
		for _, asset := range []string{"USDT", "BTC", "ETH"} {
			if got := cmpOr(adminBal[rel.wallet][asset]); got.Cmp(cmpOr(w[asset])) != 0 {
				errorf("copy wallet %d (follow %d) %s: %s, its history explains %s", rel.wallet, rel.id, asset,
					got.FloatString(8), cmpOr(w[asset]).FloatString(8))
			}
		}
	}

	// Each user: balance = deposits − withdrawals + fills ± copy
	// movements; locked = what its open orders reserve; its orders agree
	// with its fills.
	for _, a := range d.accts {
		acct := d.ts.must(200, "GET", "/v1/account", a.tok, "")
		st.balances[a.id] = map[string][2]string{}
		locked := map[string]*big.Rat{}
		for _, b := range acct["balances"].([]any) {
			b := b.(map[string]any)
			asset := b["asset"].(string)
			st.balances[a.id][asset] = [2]string{b["available"].(string), b["locked"].(string)}
			locked[asset] = d.dec(b["locked"], "locked")
			got := new(big.Rat).Add(d.dec(b["available"], "available"), locked[asset])
			if got.Cmp(cmpOr(adminBal[a.id][asset])) != 0 {
				errorf("account %d %s: %s, the admin list says %s", a.id, asset, got.FloatString(8), cmpOr(adminBal[a.id][asset]).FloatString(8))
			}
		}
		// GET /v1/transfers lists exactly the deposits and withdrawals
		// acknowledged (or settled by a resend after a crash).
		xfers := map[string]*big.Rat{}
		for _, x := range d.pages("/v1/transfers", a.tok, "transfers", "id") {
			v := d.dec(x["amount"], "transfer amount")
			if x["type"] == "withdrawal" {
				v.Neg(v)
			}
			d.add(xfers, x["asset"].(string), v)
		}
		for _, asset := range []string{"USDT", "BTC", "ETH"} {
			if got, want := cmpOr(xfers[asset]), cmpOr(a.ext[asset]); got.Cmp(want) != 0 {
				errorf("account %d %s: GET /v1/transfers adds up to %s, deposits − withdrawals acknowledged %s",
					a.id, asset, got.FloatString(8), want.FloatString(8))
			}
		}
		for _, asset := range []string{"USDT", "BTC", "ETH"} {
			want := new(big.Rat).Add(cmpOr(a.ext[asset]), cmpOr(flows[a.id][asset]))
			want.Add(want, cmpOr(copyIn[a.id][asset]))
			if a == d.leader && asset == "USDT" {
				want.Add(want, leaderIn)
			}
			got := cmpOr(adminBal[a.id][asset])
			if got.Cmp(want) != 0 {
				errorf("account %d %s: balance %s, history explains %s (deposits − withdrawals %s, fills %s, copy %s)",
					a.id, asset, got.FloatString(8), want.FloatString(8), cmpOr(a.ext[asset]).FloatString(8),
					cmpOr(flows[a.id][asset]).FloatString(8), cmpOr(copyIn[a.id][asset]).FloatString(8))
			}
		}
		d.checkOrders(a, all, locked, &st, errorf)
	}
	t.Logf("%s: %d fills (%d of copy wallets), %d trades, %d follows, %d fee changes, %d freezes (%d orders cancelled)", label,
		len(all), nWallet, len(byTrade), len(d.rels), d.feeChanges, d.freezes, len(d.frozenOut))
	return st
}

// cmpOr returns r, or 0 for nil.
func cmpOr(r *big.Rat) *big.Rat {
	if r == nil {
		return new(big.Rat)
	}
	return r
}

// checkOrders checks a's orders against its fills, and its locked
// balances against its open orders.
func (d *reconDriver) checkOrders(a *reconAcct, all []reconFill, locked map[string]*big.Rat, st *reconState, errorf func(string, ...any)) {
	orders := d.pages("/v1/orders", a.tok, "orders", "id")
	byID := map[uint64]map[string]any{}
	for i, o := range orders {
		id := uint64(o["id"].(float64))
		byID[id] = o
		st.orders[a.id] = append(st.orders[a.id], fmt.Sprint(o))
		// GET /v1/orders/{id} shows what the list does (a sample).
		if i%13 == 0 {
			if one := d.ts.must(200, "GET", fmt.Sprintf("/v1/orders/%d", id), a.tok, ""); fmt.Sprint(one) != fmt.Sprint(o) {
				errorf("GET /v1/orders/%d: %v, the list has %v", id, one, o)
			}
		}
	}
	fillsOf := map[uint64][]reconFill{}
	for _, f := range all {
		if f.acct != a.id {
			continue
		}
		o := byID[f.order]
		if o == nil {
			errorf("account %d: fill %s of an order it does not have", a.id, f.raw)
			continue
		}
		if o["side"] != f.side || o["market"] != f.market {
			errorf("fill %s of order %v", f.raw, o)
		}
		fillsOf[f.order] = append(fillsOf[f.order], f)
	}
	parseTime := func(v any, what string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, fmt.Sprint(v))
		if err != nil || tm.Before(time.Now().Add(-time.Hour)) || tm.After(time.Now().Add(time.Minute)) {
			errorf("%s: bad time %v", what, v)
		}
		return tm
	}
	reserve := map[string]*big.Rat{}
	slack := map[string]*big.Rat{} // rounding of fees a partly filled buy may keep locked: 10^-8 per fill
	for id, o := range byID {
		m := d.market(o["market"].(string))
		fs := fillsOf[id]
		filled, notional := new(big.Rat), new(big.Rat)
		created, updated := parseTime(o["created_at"], "created_at"), parseTime(o["updated_at"], "updated_at")
		if updated.Before(created) {
			errorf("order %d updated before created: %v", id, o)
		}
		for _, f := range fs {
			filled.Add(filled, f.qty)
			notional.Add(notional, new(big.Rat).Mul(f.price, f.qty))
			if ft := parseTime(f.rtime, "fill time"); ft.Before(created) || ft.After(updated) {
				errorf("fill %s outside its order's times %v", f.raw, o)
			}
			if p, ok := o["price"].(string); ok && o["type"] != "market" && o["type"] != "stop_market" && !d.amended[id] {
				lim := mustRat(p)
				if (f.side == "buy" && f.price.Cmp(lim) > 0) || (f.side == "sell" && f.price.Cmp(lim) < 0) {
					errorf("fill %s beyond its order's limit %v", f.raw, o)
				}
			}
		}
		if of := d.dec(o["filled"], "filled"); of.Cmp(filled) != 0 {
			errorf("order %d: filled %s, its fills add to %s: %v", id, of.FloatString(8), filled.FloatString(8), o)
		}
		switch {
		case filled.Sign() == 0 && o["avg_price"] != nil:
			errorf("order %d: avg_price %v without fills", id, o["avg_price"])
		case filled.Sign() > 0:
			want := floor8(new(big.Rat).Quo(notional, filled))
			if o["avg_price"] == nil || d.dec(o["avg_price"], "avg_price").Cmp(want) != 0 {
				errorf("order %d: avg_price %v, its fills give %s", id, o["avg_price"], want.FloatString(8))
			}
		}
		qty, rem := d.dec(o["quantity"], "quantity"), d.dec(o["remaining"], "remaining")
		open := new(big.Rat).Sub(qty, filled)
		switch s := o["status"].(string); s {
		case "open":
			if filled.Sign() != 0 || rem.Cmp(qty) != 0 {
				errorf("open order %d: %v", id, o)
			}
		case "partially_filled":
			if filled.Sign() <= 0 || open.Sign() <= 0 || rem.Cmp(open) != 0 {
				errorf("partially filled order %d: %v", id, o)
			}
		case "filled":
			if rem.Sign() != 0 || (qty.Sign() > 0 && open.Sign() != 0) || filled.Sign() == 0 {
				errorf("filled order %d: %v", id, o)
			}
		case "cancelled", "expired", "rejected":
			if rem.Sign() != 0 || (qty.Sign() > 0 && open.Sign() <= 0 && s != "rejected") {
				errorf("%s order %d: %v", s, id, o)
			}
		default:
			errorf("order %d: status %q", id, s)
		}
		// Why it ended: only cancelled and expired orders say, and a
		// freeze's cancels say so.
		reasons := map[string]string{"cancelled": "cancelled self_trade_prevented fee_change account_frozen cancel_all_after disconnected",
			"expired": "unfilled fill_or_kill"}[o["status"].(string)]
		r, has := o["cancel_reason"].(string)
		switch {
		case reasons == "" && o["cancel_reason"] != nil,
			reasons != "" && (!has || !slices.Contains(strings.Fields(reasons), r)),
			d.frozenOut[id] && r != "account_frozen",
			!d.frozenOut[id] && r == "account_frozen":
			errorf("order %d: %v with cancel_reason %v", id, o["status"], o["cancel_reason"])
		}
		if s := o["status"]; s != "open" && s != "partially_filled" {
			continue
		}
		if a.frozen {
			errorf("account %d is frozen, and its order %d is %v", a.id, id, o["status"])
		}
		// What it reserves (engine/doc.go, "Money"): a sell its open
		// base; a buy with a price its open notional plus the market's
		// highest fee; a stop market buy its quote budget.
		switch {
		case o["side"] == "sell":
			d.add(reserve, m.base, rem)
		case o["type"] == "stop_market":
			d.add(reserve, m.quote, d.dec(o["quote_quantity"], "quote_quantity"))
		default:
			n := new(big.Rat).Mul(mustRat(o["price"].(string)), rem)
			d.add(reserve, m.quote, n)
			d.add(reserve, m.quote, floor8(n.Mul(n, bpsRat(max(m.makerBps, m.takerBps)))))
			d.add(slack, m.quote, big.NewRat(int64(len(fs)), 1e8))
		}
	}
	for _, asset := range []string{"USDT", "BTC", "ETH"} {
		got, want := cmpOr(locked[asset]), cmpOr(reserve[asset])
		diff := new(big.Rat).Sub(got, want)
		if diff.Sign() > 0 && os.Getenv("IST_RECON_DEBUG") != "" {
			d.t.Logf("account %d %s: locked %s above the rule's %s", a.id, asset, got.FloatString(8), want.FloatString(8))
		}
		if diff.Sign() < 0 || diff.Cmp(cmpOr(slack[asset])) > 0 {
			errorf("account %d %s: locked %s, its open orders reserve %s (+ at most %s of rounding)", a.id, asset,
				got.FloatString(8), want.FloatString(8), cmpOr(slack[asset]).FloatString(8))
		}
	}
}

// reconOptions are the server options of TestReconcile: no rate limits
// and the whole history kept, so that every balance can be explained.
func reconOptions(dir string) *Options {
	return &Options{DataDir: dir, AdminToken: adminTok, RateLimit: -1, AnonRateLimit: -1, SignupRate: 1000,
		SignupBurst: 1000, HistoryOrders: -1, HistoryFills: -1}
}

// TestReconcileChild is the server process of TestReconcile's crashes:
// it serves $IST_RECON_DIR on $IST_RECON_ADDR until killed, saving the
// order history every $IST_RECON_HISTORY (a duration; none: only at a
// shutdown that never comes) and snapshotting every 50 commands.
func TestReconcileChild(t *testing.T) {
	dir := os.Getenv("IST_RECON_DIR")
	if dir == "" {
		t.Skip("run by TestReconcile")
	}
	o := reconOptions(dir)
	o.HistoryInterval, o.SnapshotEvery = -1, 50
	if h := os.Getenv("IST_RECON_HISTORY"); h != "" {
		var err error
		if o.HistoryInterval, err = time.ParseDuration(h); err != nil {
			t.Fatal(err)
		}
	}
	nop := zerolog.Nop()
	o.Logger = &nop
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", os.Getenv("IST_RECON_ADDR"))
	if err != nil {
		t.Fatal(err)
	}
	s.Serve(ln) // until SIGKILL
}

// TestReconcile drives a server over HTTP with a seeded random stream of
// orders of every kind, amends, cancels, batches, deposits, withdrawals
// and copy-trading, and reconciles every balance with the history the API
// shows (reconcile): after the stream, after a clean restart, and after
// two crashes (SIGKILL), one whose process never saved the order history
// and one that saved it every few milliseconds; then after three crashes
// at random moments in the middle of the stream. $IST_RECON_SEED replays
// a seed (logged), $IST_RECON_STEPS sets the requests of each phase
// (600), $IST_RECON_DEBUG logs every order and any lock above the rule.
func TestReconcile(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("IST_RECON_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (IST_RECON_SEED)", seed)
	steps := 600
	if s := os.Getenv("IST_RECON_STEPS"); s != "" {
		steps, _ = strconv.Atoi(s)
	}
	dir := t.TempDir()
	d := &reconDriver{t: t, r: rand.New(rand.NewPCG(seed, 1)), mk: reconMarkets(), rels: map[uint64]*reconRel{},
		feeExt: map[string]*big.Rat{}, wfills: map[string]reconFill{}, sent: map[string]string{}, orderOf: map[string]uint64{},
		amended: map[uint64]bool{}, answered: map[string]reconFill{}, frozenOut: map[uint64]bool{}}
	d.ts = start(t, dir, reconOptions(dir))
	d.setup(6)
	run := func() {
		for range steps {
			d.step()
			if t.Failed() {
				t.FailNow()
			}
		}
	}
	run()
	before := d.reconcile("after the stream")

	// A clean restart shows the same balances, orders and fills.
	d.ts.stop()
	d.ts = start(t, dir, reconOptions(dir))
	same(t, "clean restart", before, d.reconcile("after a clean restart"))

	// Crashes: a child process trades, then is killed.
	for _, hist := range []string{"", "5ms"} {
		d.ts.stop()
		addr := freeAddr(t)
		cmd, ts := startChildTest(t, "TestReconcileChild", dir, addr, "IST_RECON_DIR="+dir, "IST_RECON_ADDR="+addr, "IST_RECON_HISTORY="+hist)
		d.ts = ts
		run()
		label := "crash, history saved every " + hist
		if hist == "" {
			label = "crash, history never saved"
		}
		before := d.reconcile("before the " + label)
		time.Sleep(20 * time.Millisecond) // a history save or two in flight, when there are any
		cmd.Process.Kill()
		cmd.Wait()
		ts.c.CloseIdleConnections()
		d.ts = start(t, dir, reconOptions(dir))
		same(t, label, before, d.reconcile("after the "+label))
	}

	// Crashes in the middle of the stream, at a random moment: what was
	// acknowledged is there, what was cut off is learned by resending
	// it with its ref (resolve), and everything still reconciles.
	for i := range 3 {
		d.ts.stop()
		addr := freeAddr(t)
		cmd, ts := startChildTest(t, "TestReconcileChild", dir, addr, "IST_RECON_DIR="+dir, "IST_RECON_ADDR="+addr, "IST_RECON_HISTORY=5ms")
		d.ts, d.mayDie, d.crashed = ts, true, true
		killAt := time.Duration(100+d.r.IntN(500)) * time.Millisecond
		timer := time.AfterFunc(killAt, func() { cmd.Process.Kill() })
		func() {
			defer func() {
				if p := recover(); p != nil {
					if _, ok := p.(reconKilled); !ok {
						panic(p)
					}
				}
			}()
			for {
				d.step()
				if t.Failed() {
					t.FailNow()
				}
			}
		}()
		timer.Stop()
		cmd.Wait()
		ts.c.CloseIdleConnections()
		d.mayDie = false
		d.ts = start(t, dir, reconOptions(dir))
		d.resolve()
		d.reconcile(fmt.Sprintf("after crash %d in the middle of the stream (%v)", i+1, killAt))
	}
}

// same fails unless two reconciliations read the same.
func same(t *testing.T, label string, a, b reconState) {
	t.Helper()
	if fmt.Sprint(a.balances) != fmt.Sprint(b.balances) {
		t.Errorf("%s: balances\n%v\nthen\n%v", label, a.balances, b.balances)
	}
	for id, os := range a.orders {
		if fmt.Sprint(os) != fmt.Sprint(b.orders[id]) {
			t.Errorf("%s: orders of %d differ", label, id)
			for i := range max(len(os), len(b.orders[id])) {
				var x, y string
				if i < len(os) {
					x = os[i]
				}
				if i < len(b.orders[id]) {
					y = b.orders[id][i]
				}
				if x != y {
					t.Errorf("  %s\n  %s", x, y)
					break
				}
			}
		}
	}
	for id, fs := range a.fills {
		if fmt.Sprint(fs) != fmt.Sprint(b.fills[id]) {
			t.Errorf("%s: fills of %d differ: %d then %d", label, id, len(fs), len(b.fills[id]))
		}
	}
}
