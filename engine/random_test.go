package engine

import (
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
	case k < 48:
		o.Type, o.Price = book.Market, 0
		if r.IntN(3) == 0 {
			o.Price = price
		}
		if side == book.Buy && r.IntN(2) == 0 {
			o.QuoteBudget = int64(1000 + r.IntN(50000))
			if r.IntN(2) == 0 {
				o.Qty = 0
			}
		}
	case k < 55:
		o.Type, o.StopPrice = book.StopLimit, price+int64(r.IntN(5)*2-4)
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
		c.Asset = uint32(1 + r.IntN(3))
		c.Amount = int64(r.IntN(200000))
	case k < 98:
		c.Kind = CmdResumeMarket
		if r.IntN(10) == 0 {
			c.Kind = CmdHaltMarket
		}
	default:
		c.Kind = CmdDeposit
		c.Asset = uint32(1 + r.IntN(3))
		c.Amount = int64(r.IntN(200000))
		c.Ref, _ = MakeRef(strconv.Itoa(r.IntN(50)))
	}
	if r.IntN(20) == 0 {
		c.Ref, _ = MakeRef(strconv.Itoa(r.IntN(100)))
	}
	c.Order = o
	return c
}

// run applies genesis and n random commands, checking invariants after
// each, and returns all events and the final hash.
func run(t *testing.T, seed uint64, n int, check bool) ([]Event, [32]byte) {
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
	for _, c := range genesis(6) {
		if out := apply(c); out.Err != nil {
			t.Fatalf("genesis %+v: %v", c, out.Err)
		}
	}
	accepted := 0
	for range n {
		c := randomCommand(r, s, 6)
		if out := apply(c); out.Err == nil {
			accepted++
		}
	}
	if accepted < n/3 {
		t.Fatalf("only %d of %d commands accepted: the stream is too invalid to test much", accepted, n)
	}
	return all, s.Hash()
}

func TestRandomStreamInvariants(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	seed := testSeed(t, 1)
	evs, _ := run(t, seed, n, true)
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
