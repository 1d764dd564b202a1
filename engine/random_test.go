package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// testSeed returns the seed from IST_SEED, or def.
func testSeed(t testing.TB, def uint64) uint64 {
	if v := os.Getenv("IST_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("IST_SEED: %v", err)
		}
		def = n
	}
	t.Logf("seed %d (set IST_SEED to repeat)", def)
	return def
}

// genesis returns commands that create two assets, two markets and n
// funded accounts.
func genesis(n int) []Command {
	var cmds []Command
	name := func(s string) Name { v, _ := MakeName(s); return v }
	cmds = append(cmds,
		Command{Kind: CmdCreateAsset, Name: name("BTC")},
		Command{Kind: CmdCreateAsset, Name: name("USDT")},
		Command{Kind: CmdCreateAsset, Name: name("ETH")},
		Command{Kind: CmdCreateMarket, Name: name("BTC-USDT"), Spec: MarketSpec{Base: 1, Quote: 2,
			BaseScale: 100, QuoteScale: 10, MakerFeeBps: 10, TakerFeeBps: 20,
			Rules: book.Rules{TickSize: 1, LotSize: 1, MaxPrice: 1 << 30, MaxQty: 1 << 20}}},
		Command{Kind: CmdCreateMarket, Name: name("ETH-BTC"), Spec: MarketSpec{Base: 3, Quote: 1,
			BaseScale: 1, QuoteScale: 1, MakerFeeBps: 0, TakerFeeBps: 7,
			Rules: book.Rules{TickSize: 2, LotSize: 3, MinNotional: 50, MaxPrice: 1 << 30, MaxQty: 1 << 20}}},
	)
	for a := 1; a <= n; a++ {
		cmds = append(cmds, Command{Kind: CmdCreateAccount, Name: name(fmt.Sprintf("acct%d", a))})
		for asset := uint32(1); asset <= 3; asset++ {
			ref, _ := MakeRef(fmt.Sprintf("g%d-%d", a, asset))
			cmds = append(cmds, Command{Kind: CmdDeposit, Account: uint64(a), Asset: asset, Amount: 5_000_000, Ref: ref})
		}
	}
	return cmds
}

// randomCommand returns a random trading command; about one in ten is
// invalid in some way.
func randomCommand(r *rand.Rand, s *State, accounts int) Command {
	lastOrder := s.nextOrder
	acct := uint64(1 + r.IntN(accounts))
	mkt := uint32(1 + r.IntN(2))
	price := int64(100 + r.IntN(21)*2)
	qty := int64(3 * (1 + r.IntN(20)))
	side := book.Side(r.IntN(2))
	c := Command{Kind: CmdPlace, Account: acct, Market: mkt}
	o := book.Order{Side: side, Price: price, Qty: qty, STP: book.STPMode(r.IntN(4))}
	switch k := r.IntN(100); {
	case k < 40:
		o.TIF = book.TimeInForce(r.IntN(3))
		o.PostOnly = o.TIF == book.GTC && r.IntN(8) == 0
		if o.TIF == book.GTC && r.IntN(10) == 0 {
			o.DisplayQty = 3
		}
		if r.IntN(16) == 0 {
			c.ExpireAt = randomExpiry(r, s) // an IOC or FOK is refused
		}
	case k < 48:
		o.Type, o.Price = book.Market, 0
		if r.IntN(3) == 0 {
			o.Price = price
		}
		if r.IntN(4) == 0 {
			o.TIF = book.FOK
		}
		if side == book.Buy && r.IntN(2) == 0 {
			o.QuoteBudget = int64(1000 + r.IntN(50000))
			if r.IntN(2) == 0 && o.TIF != book.FOK {
				o.Qty = 0
			}
		}
	case k < 55:
		o.Type, o.StopPrice = book.StopLimit, price+int64(r.IntN(5)*2-4)
		if r.IntN(8) == 0 {
			c.ExpireAt = randomExpiry(r, s)
		}
	case k < 60:
		o.Type, o.StopPrice, o.Price = book.StopMarket, price, 0
		if side == book.Buy {
			o.QuoteBudget = int64(1000 + r.IntN(50000))
			o.Qty = 0
		}
	case k < 80:
		c.Kind = CmdCancel
		c.OrderID = lastOrder - uint64(r.IntN(30))
		if rec := s.orders.get(c.OrderID); rec != nil && r.IntN(10) > 0 {
			c.Account = rec.account
		}
	case k < 92:
		c.Kind = CmdAmend
		c.OrderID = lastOrder - uint64(r.IntN(30))
		if rec := s.orders.get(c.OrderID); rec != nil && r.IntN(10) > 0 {
			c.Account = rec.account
		}
		o.Price, o.Qty = price, qty
		if r.IntN(2) == 0 {
			// By total quantity, at times keeping the price or the open
			// quantity.
			c.Kind = CmdAmendTotal
			switch r.IntN(4) {
			case 0:
				o.Price = 0
			case 1:
				o.Qty = 0
			}
		}
	case k < 94:
		c.Kind = CmdCancelAll
	case k < 97:
		c.Kind = CmdWithdraw
		c.Asset, c.Amount, c.Ref = randomTransfer(r)
		if r.IntN(4) == 0 {
			c.Account = FeeAccount // the exchange takes fees out
		}
	case k < 98:
		c.Kind = CmdResumeMarket
		if r.IntN(10) == 0 {
			c.Kind = CmdHaltMarket
		}
	case k == 98 && r.IntN(2) == 0:
		c = randomFees(r)
	case k == 98 && r.IntN(2) == 0:
		c = randomBand(r)
		if r.IntN(3) == 0 {
			c = randomOpenLimit(r)
		}
	case k == 99 && r.IntN(2) == 0:
		// An operator freezes an account now and then, and lifts
		// freezes more often, so that about a quarter of the accounts
		// are frozen at a time; at times an account that cannot be
		// frozen.
		c.Kind, c.Frozen = CmdSetAccountFrozen, r.IntN(4) == 0
		if r.IntN(20) == 0 {
			c.Account = []uint64{FeeAccount, uint64(accounts + 1)}[r.IntN(2)]
		}
	default:
		c.Kind = CmdDeposit
		c.Asset, c.Amount, c.Ref = randomTransfer(r)
		if r.IntN(10) == 0 {
			c.Account = FeeAccount // refused: fees come only from trades
		}
	}
	if r.IntN(20) == 0 {
		c.Ref, _ = MakeRef(strconv.Itoa(r.IntN(100)))
	}
	c.Order = o
	return c
}

// ownEvents returns the events of a command after the expiries of
// good-till-date orders that come first, and how many of those there
// were.
func ownEvents(evs []Event) ([]Event, int) {
	n := 0
	for n < len(evs) && evs[n].Kind == book.EvExpired && evs[n].Reason == book.ReasonExpired {
		n++
	}
	return evs[n:], n
}

// randomExpiry returns an expiry time for a good-till-date order placed
// after state s: runStats stamps command n at n × 1000, so a few are not
// in the future (refused) and the others expire within 36 commands.
func randomExpiry(r *rand.Rand, s *State) int64 {
	return int64(s.seq)*1000 + int64(r.IntN(40)-2)*1000
}

// randomFees returns a random CmdSetMarketFees: mostly low rates, at
// times the highest allowed, and now and then an unknown market or a rate
// out of range (refused).
func randomFees(r *rand.Rand) Command {
	c := Command{Kind: CmdSetMarketFees, Market: uint32(1 + r.IntN(2))}
	sp := &c.Spec
	sp.MakerFeeBps, sp.TakerFeeBps = int32(r.IntN(40)), int32(r.IntN(60))
	switch r.IntN(10) {
	case 0, 1:
		sp.TakerFeeBps = MaxFeeBps
	case 2:
		sp.MakerFeeBps = MaxFeeBps
	case 3:
		sp.MakerFeeBps = []int32{-1, MaxFeeBps + 1}[r.IntN(2)]
	case 4:
		c.Market = 3
	}
	return c
}

// randomBand returns a random CmdSetPriceBand: mostly a band of 5% to
// 30% (the stream's prices are 100 to 140), at times none, a narrow one,
// the widest, and now and then an unknown market or a band out of range
// (refused).
func randomBand(r *rand.Rand) Command {
	c := Command{Kind: CmdSetPriceBand, Market: uint32(1 + r.IntN(2))}
	c.Spec.PriceBandBps = int32(500 + r.IntN(2500))
	switch r.IntN(10) {
	case 0, 1:
		c.Spec.PriceBandBps = 0
	case 2:
		c.Spec.PriceBandBps = int32(1 + r.IntN(200))
	case 3:
		c.Spec.PriceBandBps = MaxPriceBandBps
	case 4:
		c.Spec.PriceBandBps = []int32{-1, MaxPriceBandBps + 1}[r.IntN(2)]
	case 5:
		c.Market = 3
	}
	return c
}

// randomOpenLimit returns a random CmdSetMaxOpenOrders: mostly a limit
// of 2 to 30 live orders an account (the stream's accounts have a few to
// a few dozen each), at times none, 1, the highest, and now and then an
// unknown market or a limit out of range (refused).
func randomOpenLimit(r *rand.Rand) Command {
	c := Command{Kind: CmdSetMaxOpenOrders, Market: uint32(1 + r.IntN(2))}
	c.Spec.MaxOpenOrders = int32(2 + r.IntN(29))
	switch r.IntN(10) {
	case 0, 1, 2:
		c.Spec.MaxOpenOrders = 0
	case 3:
		c.Spec.MaxOpenOrders = 1
	case 4:
		c.Spec.MaxOpenOrders = MaxOpenOrdersLimit
	case 5:
		c.Spec.MaxOpenOrders = []int32{-1, MaxOpenOrdersLimit + 1}[r.IntN(2)]
	case 6:
		c.Market = 3
	}
	return c
}

// randomGenesis is genesis(n) with market 2 (ETH-BTC) created with a
// price band of 10% and market 1 (BTC-USDT) with a limit of 12 open
// orders an account.
func randomGenesis(n int) []Command {
	cmds := genesis(n)
	for i := range cmds {
		switch {
		case cmds[i].Kind != CmdCreateMarket:
		case cmds[i].Name.String() == "ETH-BTC":
			cmds[i].Spec.PriceBandBps = 1000
		case cmds[i].Name.String() == "BTC-USDT":
			cmds[i].Spec.MaxOpenOrders = 12
		}
	}
	return cmds
}

// openOf returns how many live orders account has in market and the
// market's limit on them, counted from the book and the orders' records
// (not from the counts the limit keeps); limit 0 if there is none or no
// such market.
func openOf(s *State, market uint32, account uint64) (open, limit int32) {
	m, err := s.market(market)
	if err != nil || m.spec.MaxOpenOrders == 0 {
		return 0, 0
	}
	for o := range m.book.All() {
		if rec := s.orders.get(o.ID); rec != nil && rec.account == account {
			open++
		}
	}
	return open, m.spec.MaxOpenOrders
}

// checkOpenLimit checks a place against the limit on open orders its
// market had before it (open, limit from openOf): refused with
// ErrTooManyOpenOrders exactly when the order could rest and the account
// had the limit's number of live orders or more, unless refused before
// that for another reason (frozen, halted, a bad expiry) or a resend.
func checkOpenLimit(t *testing.T, c *Command, out Outcome, open, limit int32, st *streamStats) {
	t.Helper()
	over := limit != 0 && mayRest(&c.Order) && open >= limit
	switch {
	case errors.Is(out.Err, ErrTooManyOpenOrders):
		if !over {
			t.Fatalf("command %d %+v: ErrTooManyOpenOrders with %d open, limit %d", c.Seq, c, open, limit)
		}
		st.openRefused++
	case over && !out.Duplicate && (out.Err == nil || errors.Is(out.Err, ErrInsufficientFunds) || errors.Is(out.Err, ErrPriceOutOfBand)):
		t.Fatalf("command %d %+v: %+v with %d open, limit %d", c.Seq, c, out, open, limit)
	case limit != 0 && out.Err == nil && !out.Duplicate && mayRest(&c.Order):
		st.openPlaced++
	}
}

// randomTransfer returns the asset, amount and ref of a random deposit or
// withdrawal. Refs come from one small pool for both kinds and every
// account, and amounts often repeat, so that streams resend refs as they
// were, to other accounts, with the other kind and with other amounts.
func randomTransfer(r *rand.Rand) (asset uint32, amount int64, ref Ref) {
	asset = uint32(1 + r.IntN(3))
	amount = int64(r.IntN(200000))
	if r.IntN(4) > 0 {
		amount = 1000
	}
	if r.IntN(4) > 0 {
		ref, _ = MakeRef(strconv.Itoa(r.IntN(50)))
	}
	return asset, amount, ref
}

// refModel is a reference model of the transfer refs: every deposit ref
// ever made, and the last WithdrawalRefWindow withdrawal refs of each
// account, kept in plain slices.
type refModel struct {
	deposits    []Command            // deposits made with a ref
	withdrawals map[uint64][]Command // by account, oldest first
}

// find returns the transfer that made c's ref (a deposit's among all
// deposits, a withdrawal's among its account's last), or nil.
func (m *refModel) find(c *Command) *Command {
	list := m.deposits
	if c.Kind == CmdWithdraw {
		list = m.withdrawals[c.Account]
	}
	for i := range list {
		if list[i].Ref == c.Ref {
			return &list[i]
		}
	}
	return nil
}

// check fails t unless out is the outcome the model gives transfer c
// with a ref, and records c if it was made.
func (m *refModel) check(t *testing.T, c *Command, out Outcome, st *streamStats) {
	t.Helper()
	if errors.Is(out.Err, ErrUnknownAccount) || errors.Is(out.Err, ErrUnknownAsset) || errors.Is(out.Err, ErrInvalidAmount) {
		return // refused before its ref is looked at
	}
	was := m.find(c)
	switch {
	case was != nil && was.Account == c.Account && was.Asset == c.Asset && was.Amount == c.Amount:
		st.refDuplicates++
		if out.Err != nil || !out.Duplicate {
			t.Fatalf("command %d %s %+v resends transfer %d: %+v, want a duplicate", c.Seq, c.Kind, c, was.Seq, out)
		}
	case was != nil:
		st.refConflicts++
		if !errors.Is(out.Err, ErrRefConflict) {
			t.Fatalf("command %d %s %+v reuses the ref of transfer %d %+v: %+v, want ErrRefConflict", c.Seq, c.Kind, c, was.Seq, was, out)
		}
	case out.Duplicate || errors.Is(out.Err, ErrRefConflict):
		t.Fatalf("command %d %s %+v has a new ref: %+v", c.Seq, c.Kind, c, out)
	case out.Err == nil && c.Kind == CmdDeposit:
		m.deposits = append(m.deposits, *c)
	case out.Err == nil:
		w := append(m.withdrawals[c.Account], *c)
		if len(w) > WithdrawalRefWindow {
			w = w[1:]
		}
		m.withdrawals[c.Account] = w
	}
}

// hashEvery is how often, in commands, runStats takes the state hash
// before a command.
const hashEvery = 16

// hashNoSeq is the state hash with the sequence number left out: a failed
// command changes that and nothing else.
func hashNoSeq(s *State) [32]byte {
	seq := s.seq
	s.seq = 0
	h := s.Hash()
	s.seq = seq
	return h
}

// streamStats counts what runStats' per-command checks saw.
type streamStats struct {
	rejectsHashed                 int // failed commands whose state hash was compared
	gtdExpired, gtdRefused        int // good-till-date orders that expired at their time; refused expiries
	fokFilled, fokKilled          int
	postOnly, postOnlyAmended     int // accepted post-only places, and amends of post-only orders
	iocTraded, iocExpired, market int // IOC limits that traded, expired; market orders
	refDuplicates, refConflicts   int // transfers that resent a known ref as it was, or otherwise
	feeWithdrawals, feeRefs       int // withdrawals from the fee account made; with a ref made, resent or reused
	feeChanges, feeCancels        int // markets' fees changed; orders cancelled as their owners could not pay a raise
	freezes, freezeCancels        int // accounts frozen (not already); orders their freezes cancelled
	frozenRefused                 int // commands refused as their account was frozen
	bandChanges, bandRefused      int // price bands set; places and amends refused beyond a band
	bandExpired                   int // market orders whose rest expired price_band
	openRefused, openPlaced       int // places refused over a limit on open orders; placed under one
	openChanges                   int // limits on open orders set
}

// run is runStats without the statistics.
func run(t *testing.T, seed uint64, n int, check bool) ([]Event, [32]byte) {
	_, all, h := runStats(t, seed, n, check)
	return all, h
}

// runStats applies genesis and n random commands and returns what its
// checks saw, all events and the final hash. With check it verifies after
// each command the invariants (State.Check) and the rules of the command
// itself:
//   - a failed or duplicate command leaves the state hash as it was (but
//     for the sequence number). The hash is taken before a command every
//     hashEvery commands and, while commands fail, kept: so every failure
//     that follows a hashed state is compared;
//   - a FOK order (not a stop) fills all of its quantity or nothing;
//   - a post-only order never trades as taker, placed or amended;
//   - an IOC, FOK or market order (not a stop) is not live once its command
//     is done;
//   - a deposit or withdrawal with a ref is a duplicate, a conflict or
//     new as a reference model of the refs (refModel) says.
func runStats(t *testing.T, seed uint64, n int, check bool) (streamStats, []Event, [32]byte) {
	r := rand.New(rand.NewPCG(seed, 0))
	s := NewState()
	var all, evs []Event
	var seq uint64
	apply := func(c Command) Outcome {
		seq++
		c.Seq, c.Time = seq, int64(seq)*1000
		var out Outcome
		out, evs = s.Apply(&c, evs[:0])
		all = append(all, evs...)
		if check {
			if err := s.Check(); err != nil {
				t.Fatalf("after command %d %+v -> %+v: %v", seq, c, out, err)
			}
		}
		return out
	}
	for _, c := range randomGenesis(6) {
		if out := apply(c); out.Err != nil {
			t.Fatalf("genesis %+v: %v", c, out.Err)
		}
	}
	accepted := 0
	var st streamStats
	refs := refModel{withdrawals: map[uint64][]Command{}}
	for _, c := range genesis(6) {
		if c.Kind == CmdDeposit {
			refs.deposits = append(refs.deposits, c)
		}
	}
	var before [32]byte
	hashed := false // before is the hash of the state now
	for i := range n {
		c := randomCommand(r, s, 6)
		if check && !hashed && i%hashEvery == 0 {
			before, hashed = hashNoSeq(s), true
		}
		postOnly := false
		if check && (c.Kind == CmdAmend || c.Kind == CmdAmendTotal) {
			if rec := s.orders.get(c.OrderID); rec != nil {
				o, _ := s.bookOrder(s.markets[rec.market-1], c.OrderID)
				postOnly = o.PostOnly
			}
		}
		var band bandAt
		var open, openLimit int32
		if check && c.Kind == CmdPlace {
			band = bandOf(s, c.Market)
			open, openLimit = openOf(s, c.Market, c.Account)
		}
		from := len(all)
		out := apply(c)
		c.Seq = seq
		if out.Err == nil {
			accepted++
		}
		if !check {
			continue
		}
		// Good-till-date orders due expire first, whatever the command:
		// then only those events, each of an order due, none of which
		// is live any more.
		expiredHere := 0
		for _, e := range all[from:] {
			if e.Kind != book.EvExpired || e.Reason != book.ReasonExpired {
				break
			}
			expiredHere++
			if c.Kind == CmdPlace && e.Market == c.Market && e.Owner == c.Account {
				open-- // before the place: its slot is free for it
			}
			if s.orders.get(e.OrderID) != nil {
				t.Fatalf("command %d: order %d expired, still live", c.Seq, e.OrderID)
			}
			st.gtdExpired++
			from++
		}
		for _, e := range all[from:] {
			if e.Reason == book.ReasonExpired {
				t.Fatalf("command %d: an expiry after its own events: %+v", c.Seq, all[from:])
			}
		}
		if next, ok := s.NextExpiry(); ok && next <= int64(seq)*1000 {
			t.Fatalf("command %d: an expiry at %d left", c.Seq, next)
		}
		if errors.Is(out.Err, ErrInvalidExpiry) || c.ExpireAt != 0 && errors.Is(out.Err, book.ErrInvalidTIF) {
			st.gtdRefused++
		}
		if (c.Kind == CmdDeposit || c.Kind == CmdWithdraw) && !c.Ref.IsZero() {
			refs.check(t, &c, out, &st)
		}
		if c.Kind == CmdDeposit && c.Account == FeeAccount && !errors.Is(out.Err, ErrUnknownAccount) {
			t.Fatalf("command %d: deposit to the fee account: %+v", c.Seq, out)
		}
		if c.Kind == CmdWithdraw && c.Account == FeeAccount {
			if out.Err == nil && !out.Duplicate {
				st.feeWithdrawals++
			}
			if !c.Ref.IsZero() && (out.Err == nil || errors.Is(out.Err, ErrRefConflict)) {
				st.feeRefs++
			}
		}
		if errors.Is(out.Err, ErrAccountFrozen) {
			if !s.isFrozen(c.Account) {
				t.Fatalf("command %d %+v: ErrAccountFrozen, account not frozen", c.Seq, c)
			}
			st.frozenRefused++
		}
		if c.Kind == CmdSetAccountFrozen {
			checkFreeze(t, s, &c, out, all[from:], &st)
		}
		if errors.Is(out.Err, ErrPriceOutOfBand) {
			if m, err := s.market(c.Market); c.Kind == CmdPlace && (err != nil || m.spec.PriceBandBps == 0) {
				t.Fatalf("command %d %+v: ErrPriceOutOfBand without a band", c.Seq, c)
			}
			st.bandRefused++
		}
		if c.Kind == CmdPlace {
			checkOpenLimit(t, &c, out, open, openLimit, &st)
		}
		if c.Kind == CmdSetMaxOpenOrders && out.Err == nil {
			if s.markets[c.Market-1].spec.MaxOpenOrders != c.Spec.MaxOpenOrders || len(all) != from {
				t.Fatalf("command %d %+v: limit %d, events %+v", c.Seq, c, s.markets[c.Market-1].spec.MaxOpenOrders, all[from:])
			}
			st.openChanges++
		}
		if c.Kind == CmdSetPriceBand && out.Err == nil {
			if s.markets[c.Market-1].spec.PriceBandBps != c.Spec.PriceBandBps || len(all) != from {
				t.Fatalf("command %d %+v: band %d, events %+v", c.Seq, c, s.markets[c.Market-1].spec.PriceBandBps, all[from:])
			}
			st.bandChanges++
		}
		failed := out.Err != nil || out.Duplicate
		if failed && expiredHere > 0 {
			hashed = false // the expiries changed the state, not the command
		}
		if hashed && failed {
			if hashNoSeq(s) != before {
				t.Fatalf("command %d %+v -> %+v failed but changed the state", c.Seq, c, out)
			}
			st.rejectsHashed++
		}
		hashed = hashed && failed
		if failed {
			continue
		}
		if postOnly && c.OrderID != 0 {
			st.postOnlyAmended++
			if traded(all[from:], c.OrderID) != 0 {
				t.Fatalf("command %d: amended post-only order %d traded: %+v", c.Seq, c.OrderID, all[from:])
			}
		}
		if c.Kind == CmdPlace {
			checkPlaced(t, s, &c, out.ID, all[from:], &st)
			checkBand(t, &c, out.ID, band, all[from:], &st)
		}
		if c.Kind == CmdSetMarketFees {
			checkFeeChange(t, s, &c, all[from:], &st)
		}
	}
	if accepted < n/3 {
		t.Fatalf("only %d of %d commands accepted: the stream is too invalid to test much", accepted, n)
	}
	return st, all, s.Hash()
}

// traded returns the quantity order id bought or sold as taker in evs.
func traded(evs []Event, id uint64) int64 {
	var q int64
	for i := range evs {
		if evs[i].Kind == book.EvTrade && evs[i].OrderID == id {
			q += evs[i].Qty
		}
	}
	return q
}

// checkPlaced checks the time-in-force rules of order id, placed by c with
// events evs: FOK fills whole or not at all, post-only never trades as
// taker, IOC, FOK and market orders never stay live.
func checkPlaced(t *testing.T, s *State, c *Command, id uint64, evs []Event, st *streamStats) {
	t.Helper()
	o := &c.Order
	if o.Type == book.StopMarket || o.Type == book.StopLimit {
		return // they take their time in force when released
	}
	q := traded(evs, id)
	switch {
	case o.TIF == book.FOK && q == o.Qty:
		st.fokFilled++
	case o.TIF == book.FOK && q == 0:
		st.fokKilled++
	case o.TIF == book.FOK:
		t.Fatalf("command %d: FOK order %d of %d filled %d: %+v", c.Seq, id, o.Qty, q, evs)
	}
	if o.PostOnly {
		st.postOnly++
		if q != 0 {
			t.Fatalf("command %d: post-only order %d traded %d: %+v", c.Seq, id, q, evs)
		}
	}
	if o.Type == book.Market || o.TIF != book.GTC {
		switch {
		case o.Type == book.Market:
			st.market++
		case o.TIF == book.IOC && q > 0:
			st.iocTraded++
		case o.TIF == book.IOC:
			st.iocExpired++
		}
		if s.bookLive(s.markets[c.Market-1], id) || s.orders.get(id) != nil {
			t.Fatalf("command %d: %s %s order %d stays live: %+v", c.Seq, o.Type, o.TIF, id, evs)
		}
	}
}

// bandAt is a market's price band and its bounds when a command came.
type bandAt struct {
	bps, lo, hi int64 // bps 0: none (no band, or no last price)
}

// bandOf returns the band of market id (none if there is no such
// market, or no last price).
func bandOf(s *State, id uint32) bandAt {
	m, err := s.market(id)
	if err != nil || m.spec.PriceBandBps == 0 || m.book.LastPrice() == 0 {
		return bandAt{}
	}
	lo, hi := bandBounds(m, m.book.LastPrice())
	return bandAt{int64(m.spec.PriceBandBps), lo, hi}
}

// checkBand checks order id, placed by c with events evs under band b: a
// limit order accepted is within the band on its aggressive side; a
// market order trades within it likewise, and its rest expires price_band
// only if the band was tighter than its own protection price.
func checkBand(t *testing.T, c *Command, id uint64, b bandAt, evs []Event, st *streamStats) {
	t.Helper()
	o := &c.Order
	if b.bps == 0 {
		for _, e := range evs {
			if e.Reason == book.ReasonPriceBand {
				t.Fatalf("command %d: price_band without a band: %+v", c.Seq, evs)
			}
		}
		return
	}
	switch o.Type {
	case book.Limit:
		if o.Side == book.Buy && o.Price > b.hi || o.Side == book.Sell && o.Price < b.lo {
			t.Fatalf("command %d: %+v accepted beyond the band [%d, %d]", c.Seq, o, b.lo, b.hi)
		}
	case book.Market:
		for _, e := range evs {
			if e.OrderID != id {
				continue
			}
			// Only the aggressive side is bounded: a buy may take an ask
			// below the band's lower bound.
			if e.Kind == book.EvTrade && (o.Side == book.Buy && e.Price > b.hi || o.Side == book.Sell && e.Price < b.lo) {
				t.Fatalf("command %d: market order %d traded at %d beyond the band [%d, %d]", c.Seq, id, e.Price, b.lo, b.hi)
			}
			if e.Reason == book.ReasonPriceBand {
				if o.Price != 0 && (o.Side == book.Buy && o.Price <= b.hi || o.Side == book.Sell && o.Price >= b.lo) {
					t.Fatalf("command %d: %+v expired price_band within its own protection: %+v", c.Seq, o, evs)
				}
				st.bandExpired++
			}
		}
	}
}

// checkFreeze checks CmdSetAccountFrozen c, which gave out and events
// evs: an account that cannot be frozen is refused; else the account's
// flag is c.Frozen, and the only events are cancels, with reason
// account_frozen, of its orders, as many as out.ID, none left live.
func checkFreeze(t *testing.T, s *State, c *Command, out Outcome, evs []Event, st *streamStats) {
	t.Helper()
	if !s.userAccount(c.Account) {
		if !errors.Is(out.Err, ErrUnknownAccount) {
			t.Fatalf("command %d: freeze of account %d: %+v", c.Seq, c.Account, out)
		}
		return
	}
	if out.Err != nil || s.accounts.at(c.Account).frozen != c.Frozen || uint64(len(evs)) != out.ID {
		t.Fatalf("command %d %+v: %+v, %d events, frozen %v", c.Seq, c, out, len(evs), s.accounts.at(c.Account).frozen)
	}
	for _, e := range evs {
		if e.Kind != book.EvCancelled || e.Reason != book.ReasonAccountFrozen || e.Owner != c.Account {
			t.Fatalf("command %d: freeze gave %+v", c.Seq, e)
		}
	}
	if c.Frozen && len(s.liveOrdersOf(c.Account)) != 0 {
		t.Fatalf("command %d: frozen account %d has live orders", c.Seq, c.Account)
	}
	if c.Frozen && len(evs) > 0 {
		st.freezes++
	}
	st.freezeCancels += len(evs)
}

// checkFeeChange checks fee change c, made with events evs: the market
// has the new fees, and the only events are cancels, with reason
// fee_change, of buys of that market.
func checkFeeChange(t *testing.T, s *State, c *Command, evs []Event, st *streamStats) {
	t.Helper()
	st.feeChanges++
	m := s.markets[c.Market-1]
	if m.spec.MakerFeeBps != c.Spec.MakerFeeBps || m.spec.TakerFeeBps != c.Spec.TakerFeeBps ||
		m.maxFee != max(c.Spec.MakerFeeBps, c.Spec.TakerFeeBps) {
		t.Fatalf("command %d %+v: market %+v, max fee %d", c.Seq, c.Spec, m.spec, m.maxFee)
	}
	for _, e := range evs {
		if e.Kind != book.EvCancelled || e.Reason != book.ReasonFeeChange || e.Side != book.Buy || e.Market != c.Market {
			t.Fatalf("command %d: fee change gave %+v", c.Seq, e)
		}
		st.feeCancels++
	}
}

// shortRun reports whether a long test of the state machine runs its
// short length: with -short, and under the race detector, which slows
// these single-goroutine tests some ten times and has no race to find in
// them (scripts/test.sh runs the package whole without it too).
func shortRun() bool { return testing.Short() || raceEnabled }

func TestRandomStreamInvariants(t *testing.T) {
	n := 100_000
	if shortRun() {
		n = 20_000
	}
	seed := testSeed(t, 1)
	st, evs, _ := runStats(t, seed, n, true)
	t.Logf("%+v", st)
	for name, v := range map[string]int{"failures hashed": st.rejectsHashed, "FOK filled": st.fokFilled,
		"FOK killed": st.fokKilled, "post-only": st.postOnly, "post-only amended": st.postOnlyAmended,
		"IOC traded": st.iocTraded, "IOC expired": st.iocExpired, "market": st.market,
		"transfer ref resent": st.refDuplicates, "transfer ref reused": st.refConflicts,
		"fee withdrawals": st.feeWithdrawals, "fee withdrawal refs": st.feeRefs, "fee changes": st.feeChanges,
		"freezes that cancelled": st.freezes, "refused as frozen": st.frozenRefused,
		"good-till-date expired": st.gtdExpired, "good-till-date refused": st.gtdRefused,
		"band changes": st.bandChanges, "refused beyond a band": st.bandRefused, "expired price_band": st.bandExpired,
		"open order limits set": st.openChanges, "refused over the open order limit": st.openRefused,
		"placed under an open order limit": st.openPlaced} {
		if v < n/2000 {
			t.Errorf("%s: only %d of %d commands", name, v, n)
		}
	}
	trades := 0
	for _, e := range evs {
		if e.Kind == book.EvTrade {
			trades++
		}
	}
	t.Logf("%d events, %d trades", len(evs), trades)
	if trades < n/20 {
		t.Fatalf("only %d trades", trades)
	}
}

func TestDeterminism(t *testing.T) {
	seed := testSeed(t, 7)
	e1, h1 := run(t, seed, 50_000, false)
	e2, h2 := run(t, seed, 50_000, false)
	if h1 != h2 {
		t.Fatalf("state hash differs across runs: %x vs %x", h1, h2)
	}
	if len(e1) != len(e2) {
		t.Fatalf("event counts differ: %d vs %d", len(e1), len(e2))
	}
	for i := range e1 {
		if e1[i] != e2[i] {
			t.Fatalf("event %d differs: %+v vs %+v", i, e1[i], e2[i])
		}
	}
	_, h3 := run(t, seed+1, 50_000, false)
	if h3 == h1 {
		t.Fatal("different streams gave the same hash")
	}
}
