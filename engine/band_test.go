package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// Price bands (MarketSpec.PriceBandBps, CmdSetPriceBand). The scenario's
// market 1 is BTC-USDT with tick 1; each command is followed by
// State.Check (sc.do).

// setBand returns the command that sets market's price band.
func setBand(market uint32, bps int32) Command {
	return Command{Kind: CmdSetPriceBand, Market: market, Spec: MarketSpec{PriceBandBps: bps}}
}

// bandScenario is a scenario whose market 1 has a band of bps and a last
// trade price of 100 (account 2 sold 1 to account 1), its book empty.
func bandScenario(t *testing.T, bps int32) *scenario {
	t.Helper()
	sc := newScenario(t)
	if out := sc.do(setBand(1, bps)); out.Err != nil || out.ID != 1 {
		t.Fatalf("set band: %+v", out)
	}
	sc.place(2, book.Order{Side: book.Sell, Price: 100, Qty: 1})
	sc.place(1, book.Order{Side: book.Buy, Price: 100, Qty: 1})
	if last := sc.s.markets[0].book.LastPrice(); last != 100 {
		t.Fatalf("last price %d", last)
	}
	return sc
}

// refused places o for account 1 and wants ErrPriceOutOfBand with no
// event and no change of the state.
func (sc *scenario) refused(o book.Order) {
	sc.t.Helper()
	before := sc.s.Hash()
	next := sc.s.nextOrder
	out := sc.place(1, o)
	if !errors.Is(out.Err, ErrPriceOutOfBand) || len(sc.evs) != 0 {
		sc.t.Fatalf("%+v: %v, %d events; want price out of band and none", o, out.Err, len(sc.evs))
	}
	// The sequence number is the only change.
	sc.s.seq--
	if sc.s.Hash() != before || sc.s.nextOrder != next {
		sc.t.Fatalf("%+v: refused order changed the state", o)
	}
	sc.s.seq++
}

// expiryOf returns the EvExpired of order id among the last command's
// events.
func (sc *scenario) expiryOf(id uint64) Event {
	sc.t.Helper()
	for _, ev := range sc.evs {
		if ev.Kind == book.EvExpired && ev.OrderID == id {
			return ev
		}
	}
	sc.t.Fatalf("no expiry of order %d in %+v", id, sc.evs)
	return Event{}
}

func TestBandBounds(t *testing.T) {
	m := &market{spec: MarketSpec{PriceBandBps: 1000}}
	for _, c := range []struct {
		tick, bps, ref int64
		lo, hi         int64
	}{
		{1, 1000, 100, 90, 110},
		{1, 1000, 105, 95, 115},                                   // 94.5 up, 115.5 down
		{5, 1000, 105, 95, 115},                                   // on the tick of 5
		{10, 1000, 100, 90, 110},                                  // exact
		{10, 1, 100, 100, 100},                                    // 99.99 up to 100, 100.01 down to 100
		{1, 10000, 100, 1, 200},                                   // the widest: down to one tick
		{7, 10000, 70, 7, 140},                                    // never below one tick
		{1, 1, 1<<63 - 1, 1<<63 - 1 - (1<<63-1)/10000, 1<<63 - 1}, // no overflow
	} {
		b, _ := book.New(book.Rules{TickSize: c.tick}, nil)
		m.book, m.spec.PriceBandBps = b, int32(c.bps)
		if lo, hi := bandBounds(m, c.ref); lo != c.lo || hi != c.hi {
			t.Errorf("tick %d band %d ref %d: [%d, %d], want [%d, %d]", c.tick, c.bps, c.ref, lo, hi, c.lo, c.hi)
		}
	}
}

func TestBandSpecRange(t *testing.T) {
	sc := newScenario(t)
	for _, bps := range []int32{-1, MaxPriceBandBps + 1} {
		c := genesis(0)[3] // BTC-USDT
		c.Name, _ = MakeName("BAND")
		c.Spec.PriceBandBps = bps
		if out := sc.do(c); !errors.Is(out.Err, ErrInvalidSpec) {
			t.Fatalf("create with band %d: %v", bps, out.Err)
		}
		if out := sc.do(setBand(1, bps)); !errors.Is(out.Err, ErrInvalidSpec) {
			t.Fatalf("set band %d: %v", bps, out.Err)
		}
	}
	if out := sc.do(setBand(9, 10)); !errors.Is(out.Err, ErrUnknownMarket) {
		t.Fatalf("set band of unknown market: %v", out.Err)
	}
	c := genesis(0)[3]
	c.Name, _ = MakeName("BAND")
	c.Spec.PriceBandBps = MaxPriceBandBps
	out := sc.do(c)
	if out.Err != nil || sc.s.markets[out.ID-1].spec.PriceBandBps != MaxPriceBandBps {
		t.Fatalf("create with the widest band: %+v", out)
	}
}

func TestBandNoneBeforeFirstTrade(t *testing.T) {
	sc := newScenario(t)
	sc.do(setBand(1, 100))
	// No last price: nothing is out of band, however far.
	sell := sc.place(2, book.Order{Side: book.Sell, Price: 1000, Qty: 1})
	if sell.Err != nil {
		t.Fatal(sell.Err)
	}
	buy := sc.place(1, book.Order{Side: book.Buy, Type: book.Market, Qty: 1})
	if buy.Err != nil || sc.s.markets[0].book.LastPrice() != 1000 {
		t.Fatalf("market buy before the first trade: %v, last %d", buy.Err, sc.s.markets[0].book.LastPrice())
	}
	// Now there is one: 1% around 1,000.
	sc.refused(book.Order{Side: book.Buy, Price: 1011, Qty: 1})
}

func TestBandLimitOrders(t *testing.T) {
	sc := bandScenario(t, 1000) // [90, 110]
	for _, o := range []book.Order{
		{Side: book.Buy, Price: 111, Qty: 1},
		{Side: book.Buy, Price: 111, Qty: 1, TIF: book.IOC},
		{Side: book.Buy, Price: 111, Qty: 1, TIF: book.FOK},
		{Side: book.Buy, Price: 111, Qty: 1, PostOnly: true},
		{Side: book.Buy, Price: 111, Qty: 10, DisplayQty: 2},
		{Side: book.Sell, Price: 89, Qty: 1},
		{Side: book.Sell, Price: 89, Qty: 1, TIF: book.IOC},
		{Side: book.Sell, Price: 1, Qty: 10, DisplayQty: 2},
	} {
		sc.refused(o)
	}
	// The bounds themselves, and passive prices however far, are allowed.
	for _, o := range []book.Order{
		{Side: book.Buy, Price: 110, Qty: 1},
		{Side: book.Buy, Price: 1, Qty: 1},
		{Side: book.Sell, Price: 200, Qty: 1},
	} {
		if out := sc.place(1, o); out.Err != nil {
			t.Fatalf("%+v: %v", o, out.Err)
		}
	}
	if out := sc.place(2, book.Order{Side: book.Sell, Price: 90, Qty: 1, TIF: book.IOC}); out.Err != nil {
		t.Fatal(out.Err)
	}
	// A band of 0 lifts it.
	sc.do(setBand(1, 0))
	if out := sc.place(1, book.Order{Side: book.Buy, Price: 150, Qty: 1}); out.Err != nil {
		t.Fatal(out.Err)
	}
}

func TestBandMarketOrders(t *testing.T) {
	sc := bandScenario(t, 1000) // [90, 110]
	sc.place(2, book.Order{Side: book.Sell, Price: 105, Qty: 2})
	sc.place(2, book.Order{Side: book.Sell, Price: 115, Qty: 5})
	// Stopped by the band at 110: 2 bought at 105, the rest expires
	// price_band; the ask at 115 stays.
	o := sc.place(1, book.Order{Side: book.Buy, Type: book.Market, Qty: 5})
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	if ev := sc.expiryOf(o.ID); ev.Reason != book.ReasonPriceBand || ev.Qty != 3 {
		t.Fatalf("expiry %+v, want 3 with price_band", ev)
	}
	if p, q, _ := sc.s.markets[0].book.BestAsk(); p != 115 || q != 5 {
		t.Fatalf("best ask %d × %d", p, q)
	}
	// Its own protection price, tighter than the band, stops it: unfilled.
	sc.place(2, book.Order{Side: book.Sell, Price: 108, Qty: 1})
	o = sc.place(1, book.Order{Side: book.Buy, Type: book.Market, Qty: 5, Price: 107})
	if ev := sc.expiryOf(o.ID); ev.Reason != book.ReasonUnfilled || ev.Qty != 5 {
		t.Fatalf("expiry %+v, want 5 unfilled", ev)
	}
	// The last price is 105: the band is now [95, 115], and takes the
	// ask at 108 and the one at 115.
	o = sc.place(1, book.Order{Side: book.Buy, Type: book.Market, Qty: 10})
	if ev := sc.expiryOf(o.ID); ev.Reason != book.ReasonUnfilled || ev.Qty != 4 {
		t.Fatalf("expiry %+v, want 4 unfilled (no liquidity left)", ev)
	}
	// Sells by quantity, and a buy by budget, stopped by the band.
	sc.place(1, book.Order{Side: book.Buy, Price: 110, Qty: 1}) // last 115: [104, 126]
	sc.place(1, book.Order{Side: book.Buy, Price: 100, Qty: 3})
	o = sc.place(2, book.Order{Side: book.Sell, Type: book.Market, Qty: 4})
	if ev := sc.expiryOf(o.ID); ev.Reason != book.ReasonPriceBand || ev.Qty != 3 {
		t.Fatalf("sell expiry %+v, want 3 with price_band", ev)
	}
	sc.place(2, book.Order{Side: book.Sell, Price: 112, Qty: 1}) // last 110: [99, 121]
	sc.place(2, book.Order{Side: book.Sell, Price: 130, Qty: 5})
	o = sc.place(1, book.Order{Side: book.Buy, Type: book.Market, QuoteBudget: 100_000})
	if ev := sc.expiryOf(o.ID); ev.Reason != book.ReasonPriceBand {
		t.Fatalf("budget buy expiry %+v, want price_band", ev)
	}
	// A budget that cannot buy a lot beyond the band expires unfilled:
	// the band is not what stopped it. The asks: 130 × 5.
	sc.place(2, book.Order{Side: book.Sell, Price: 120, Qty: 1}) // last 112: [101, 123]
	o = sc.place(1, book.Order{Side: book.Buy, Type: book.Market, QuoteBudget: 2_000})
	if ev := sc.expiryOf(o.ID); ev.Reason != book.ReasonUnfilled {
		t.Fatalf("small budget buy expiry %+v, want unfilled", ev)
	}
	// A FOK that cannot fill within the band expires whole, fok. The
	// band is [108, 132]: 5 at 130 within it, 5 at 140 beyond.
	sc.place(2, book.Order{Side: book.Sell, Price: 140, Qty: 5})
	o = sc.place(1, book.Order{Side: book.Buy, Type: book.Market, Qty: 7, TIF: book.FOK})
	if ev := sc.expiryOf(o.ID); ev.Reason != book.ReasonFOK {
		t.Fatalf("FOK expiry %+v, want fok", ev)
	}
}

// A market order that stays within the band trades, and reserves, as
// without one: the same events on two states that differ only by the
// band, and the same balances.
func TestBandMarketWithinUnchanged(t *testing.T) {
	run := func(bps int32) ([]Event, [2]int64) {
		sc := bandScenario(t, bps)
		sc.place(2, book.Order{Side: book.Sell, Price: 101, Qty: 2})
		sc.place(2, book.Order{Side: book.Sell, Price: 103, Qty: 2})
		sc.place(2, book.Order{Side: book.Sell, Price: 104, Qty: 9})
		var evs []Event
		for _, o := range []book.Order{
			{Side: book.Buy, Type: book.Market, Qty: 3},
			{Side: book.Buy, Type: book.Market, Qty: 2, Price: 105},
			{Side: book.Buy, Type: book.Market, QuoteBudget: 3_000},
		} {
			if out := sc.place(1, o); out.Err != nil {
				t.Fatal(out.Err)
			}
			for _, ev := range sc.evs {
				if ev.Kind == book.EvAccepted || ev.Kind == book.EvExpired {
					ev.Price = 0 // the protection price the book got
				}
				evs = append(evs, ev)
			}
		}
		a, l := sc.bal(1, 2)
		return evs, [2]int64{a, l}
	}
	e0, b0 := run(0)
	e1, b1 := run(1000)
	if len(e0) < 2 || !slices.Equal(e0, e1) || b0 != b1 {
		t.Fatalf("with the band: %+v %v\nwithout: %+v %v", e1, b1, e0, b0)
	}
}

func TestBandAmend(t *testing.T) {
	sc := bandScenario(t, 1000) // [90, 110]
	buy := sc.place(1, book.Order{Side: book.Buy, Price: 95, Qty: 2})
	sell := sc.place(2, book.Order{Side: book.Sell, Price: 120, Qty: 2})
	for _, c := range []Command{
		{Kind: CmdAmend, Account: 1, OrderID: buy.ID, Order: book.Order{Price: 111, Qty: 2}},
		{Kind: CmdAmendTotal, Account: 1, OrderID: buy.ID, Order: book.Order{Price: 111}},
		{Kind: CmdAmend, Account: 2, OrderID: sell.ID, Order: book.Order{Price: 89, Qty: 2}},
	} {
		if out := sc.do(c); !errors.Is(out.Err, ErrPriceOutOfBand) || len(sc.evs) != 0 {
			t.Fatalf("%+v: %v", c, out.Err)
		}
	}
	if o, _ := sc.s.bookOrder(sc.s.markets[0], buy.ID); o.Price != 95 {
		t.Fatalf("refused amend moved the order to %d", o.Price)
	}
	// Within the band, or keeping a price now beyond it, an amend works.
	if out := sc.do(Command{Kind: CmdAmend, Account: 1, OrderID: buy.ID, Order: book.Order{Price: 110, Qty: 2}}); out.Err != nil {
		t.Fatal(out.Err)
	}
	sc.do(setBand(1, 100)) // [99, 101]: the sell at 120 is passive, the buy at 110 beyond
	if out := sc.do(Command{Kind: CmdAmend, Account: 1, OrderID: buy.ID, Order: book.Order{Price: 110, Qty: 1}}); out.Err != nil {
		t.Fatalf("amend keeping the price: %v", out.Err)
	}
	if out := sc.do(Command{Kind: CmdAmend, Account: 2, OrderID: sell.ID, Order: book.Order{Price: 150, Qty: 2}}); out.Err != nil {
		t.Fatal(out.Err)
	}
	// Moved back towards the passive side, though still beyond the band,
	// it may be (a buy lower); further into it not (a buy higher).
	if out := sc.do(Command{Kind: CmdAmend, Account: 1, OrderID: buy.ID, Order: book.Order{Price: 105, Qty: 1}}); out.Err != nil {
		t.Fatalf("amend of a buy beyond the band from 110 to 105: %v", out.Err)
	}
	if out := sc.do(Command{Kind: CmdAmend, Account: 1, OrderID: buy.ID, Order: book.Order{Price: 106, Qty: 1}}); !errors.Is(out.Err, ErrPriceOutOfBand) {
		t.Fatalf("amend of a buy beyond the band from 105 to 106: %v", out.Err)
	}
	// A sell moved down below the band is refused.
	sc.do(setBand(1, 0))
	low := sc.place(2, book.Order{Side: book.Sell, Price: 130, Qty: 1})
	sc.do(setBand(1, 100))
	if out := sc.do(Command{Kind: CmdAmend, Account: 2, OrderID: low.ID, Order: book.Order{Price: 98, Qty: 1}}); !errors.Is(out.Err, ErrPriceOutOfBand) {
		t.Fatalf("amend of a sell from 130 to 98, below the band: %v", out.Err)
	}
}

func TestBandStops(t *testing.T) {
	sc := bandScenario(t, 1000) // [90, 110] around the last price
	// A stop-limit's limit is held to the band around its stop price.
	sc.refused(book.Order{Side: book.Buy, Type: book.StopLimit, StopPrice: 200, Price: 221, Qty: 1})
	sc.refused(book.Order{Side: book.Sell, Type: book.StopLimit, StopPrice: 50, Price: 44, Qty: 1})
	for _, o := range []book.Order{
		{Side: book.Buy, Type: book.StopLimit, StopPrice: 200, Price: 220, Qty: 1},
		{Side: book.Sell, Type: book.StopLimit, StopPrice: 50, Price: 45, Qty: 1},
	} {
		if out := sc.place(1, o); out.Err != nil {
			t.Fatalf("%+v: %v", o, out.Err)
		}
	}
	// A stop-market gets the band around its stop price as protection
	// where it is tighter than its own, and a buy reserves at it.
	for _, c := range []struct {
		o    book.Order
		want int64
	}{
		{book.Order{Side: book.Buy, Type: book.StopMarket, StopPrice: 120, Price: 200, Qty: 1}, 132},
		{book.Order{Side: book.Buy, Type: book.StopMarket, StopPrice: 120, Price: 125, Qty: 1}, 125},
		{book.Order{Side: book.Buy, Type: book.StopMarket, StopPrice: 120, QuoteBudget: 10_000}, 132},
		{book.Order{Side: book.Sell, Type: book.StopMarket, StopPrice: 80, Qty: 1}, 72},
		{book.Order{Side: book.Sell, Type: book.StopMarket, StopPrice: 80, Price: 75, Qty: 1}, 75},
	} {
		out := sc.place(1, c.o)
		if out.Err != nil {
			t.Fatalf("%+v: %v", c.o, out.Err)
		}
		if o, _ := sc.s.bookOrder(sc.s.markets[0], out.ID); o.Price != c.want {
			t.Fatalf("%+v: protection %d, want %d", c.o, o.Price, c.want)
		}
		if rec := sc.s.orders.get(out.ID); c.o.Side == book.Buy && c.o.QuoteBudget == 0 && rec.limit != c.want {
			t.Fatalf("%+v: reserved at %d", c.o, rec.limit)
		}
	}
	// A stop-market buy by quantity still needs its own protection.
	if out := sc.place(1, book.Order{Side: book.Buy, Type: book.StopMarket, StopPrice: 120, Qty: 1}); !errors.Is(out.Err, ErrStopNeedsLimit) {
		t.Fatalf("stop-market buy without protection: %v", out.Err)
	}
	// Triggered, the first stop-market buy trades up to 132 only.
	sc.place(2, book.Order{Side: book.Sell, Price: 120, Qty: 1})
	sc.place(2, book.Order{Side: book.Sell, Price: 140, Qty: 5})
	sc.do(setBand(1, 0)) // changes no live order
	trig := sc.place(1, book.Order{Side: book.Buy, Price: 120, Qty: 1, TIF: book.IOC})
	if trig.Err != nil {
		t.Fatal(trig.Err)
	}
	for _, ev := range sc.evs {
		if ev.Kind == book.EvTrade && ev.Price > 132 {
			t.Fatalf("a stop traded at %d beyond its band: %+v", ev.Price, sc.evs)
		}
	}
}

func TestBandCopyMirrors(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 4)
	wide := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne, SlippageBps: 300})
	narrow := sc.follow(4, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne, SlippageBps: 100})
	sc.trade(px(2000))
	sc.ok(setBand(1, 200)) // 2%: [1960, 2040]
	sc.lim(maker, book.Sell, px(2000), 250)
	sc.lim(maker, book.Sell, px(2030), 10)
	sc.lim(maker, book.Sell, px(2050), 300)
	sc.lim(leader1, book.Buy, px(2000), 250)
	// Each mirror wants 25 lots. The one with 3% slippage (limit 2,060)
	// is held to the band's 2,040: it buys the 10 at 2,030 and not those
	// at 2,050; the one with 1% (2,020) finds nothing. Neither is
	// skipped.
	if sk := sc.events(EvCopySkipped); len(sk) != 0 {
		t.Fatalf("skips %+v", sk)
	}
	for _, ev := range sc.evs {
		if ev.Kind == book.EvTrade && ev.Price > px(2040) {
			t.Fatalf("a mirror traded at %d beyond the band: %+v", ev.Price, sc.evs)
		}
	}
	sc.wantWallet(wide, 797*usdt, 10*ethLot)
	sc.wantWallet(narrow, 1000*usdt, 0)
	// Closing at market sells within the band only (around the last
	// price, 2,030: from 1,990): 4 lots at 1,995, none at 1,950; the
	// other 6 come back as base.
	sc.lim(maker, book.Buy, px(1950), 1000)
	sc.lim(maker, book.Buy, px(1995), 4)
	sc.ok(Command{Kind: CmdUnfollow, Account: 3, Copy: CopySpec{Relation: wide, Close: CloseMarket}})
	sc.wantBal(3, ethID, 6*ethLot, 0)
	sc.wantBal(3, usdtID, 99_000*usdt+797*usdt+798*usdt/10, 0)
	sc.ok(Command{Kind: CmdUnfollow, Account: 4, Copy: CopySpec{Relation: narrow, Close: CloseMarket}})
	sc.wantBal(4, usdtID, 100_000*usdt, 0)
}

// The band survives a snapshot, which is of version 9 only while some
// market has one.
func TestBandSnapshot(t *testing.T) {
	sc := bandScenario(t, 250)
	snap := sc.s.AppendSnapshot(nil)
	if v := binary.LittleEndian.Uint16(snap[4:]); v != 9 {
		t.Fatalf("snapshot version %d with a band, want 9", v)
	}
	s2, err := DecodeState(snap)
	if err != nil {
		t.Fatal(err)
	}
	if s2.markets[0].spec.PriceBandBps != 250 || s2.Hash() != sc.s.Hash() {
		t.Fatalf("restored band %d", s2.markets[0].spec.PriceBandBps)
	}
	sc.do(setBand(1, 0))
	snap = sc.s.AppendSnapshot(nil)
	if v := binary.LittleEndian.Uint16(snap[4:]); v != 6 {
		t.Fatalf("snapshot version %d without a band, want 6", v)
	}
	// Version 9 with no band (the list empty) is refused.
	body := append([]byte(nil), snap[:len(snap)-4]...)
	body[4] = 9
	body = append(body, make([]byte, 4+4+4)...) // no frozen, no expiry, no band
	if _, err := DecodeState(sealSnapshot(body, 0)); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("version 9 without a band: %v", err)
	}
	// With one it is read.
	body = append(body[:len(body)-4], 1, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0)
	s3, err := DecodeState(sealSnapshot(body, 0))
	if err != nil || s3.markets[0].spec.PriceBandBps != 7 {
		t.Fatalf("version 9 with a band: %v", err)
	}
	// Out of range, on an unknown market, or twice: refused.
	for _, tail := range [][]byte{
		{1, 0, 0, 0, 1, 0, 0, 0, 0x11, 0x27, 0, 0}, // 10001
		{1, 0, 0, 0, 9, 0, 0, 0, 7, 0, 0, 0},
		{2, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0},
	} {
		b := append(append([]byte(nil), body[:len(body)-12]...), tail...)
		if _, err := DecodeState(sealSnapshot(b, 0)); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("tail %v: %v", tail, err)
		}
	}
}

// Through the engine: a band change is journaled and republishes the
// directory, whose market spec carries the band.
func TestEngineSetPriceBand(t *testing.T) {
	e, j := openGenesis(t, 3)
	defer e.Close()
	d0 := e.Directory()
	res := mustDo(t, e, setBand(2, 1500))
	set := res.Seq
	if res.Err != nil || res.ID != 2 || len(res.Events) != 0 {
		t.Fatalf("result %+v", res)
	}
	if err := e.WaitViews(context.Background(), res.Seq); err != nil {
		t.Fatal(err)
	}
	d := e.Directory()
	if d == d0 || d.Markets[1].Spec.PriceBandBps != 1500 || d.Markets[0].Spec.PriceBandBps != 0 {
		t.Fatalf("directory not republished: %+v", d.Markets)
	}
	if res := mustDo(t, e, setBand(2, MaxPriceBandBps+1)); !errors.Is(res.Err, ErrInvalidSpec) {
		t.Fatalf("out of range: %+v", res)
	}
	// Found by its sequence number: the engine's ticker may journal
	// ticks between the commands on a slow machine.
	if c := journaledAt(t, j.Commands(), set); c.Kind != CmdSetPriceBand || c.Spec.PriceBandBps != 1500 {
		t.Fatalf("journaled %+v", c)
	}
}

// An order the book rejects anyway (a price above MaxPrice or off the
// tick, a stop price likewise) fails as it would without a band (the
// book's error, or the reservation's before it), not with
// ErrPriceOutOfBand; the state does not change.
func TestBandBookErrorsFirst(t *testing.T) {
	sc := bandScenario(t, 1000) // [90, 110]; market 1, tick 1
	sc.do(setBand(2, 1000))
	sc.do(Command{Kind: CmdPlace, Account: 2, Market: 2, Order: book.Order{Side: book.Sell, Price: 100, Qty: 3}})
	if out := sc.do(Command{Kind: CmdPlace, Account: 1, Market: 2, Order: book.Order{Side: book.Buy, Price: 100, Qty: 3}}); out.Err != nil {
		t.Fatal(out.Err)
	}
	max := int64(1 << 30)
	for _, c := range []struct {
		market uint32
		o      book.Order
		want   error
	}{
		{1, book.Order{Side: book.Buy, Price: max + 1, Qty: 1}, ErrInsufficientFunds},
		{1, book.Order{Side: book.Buy, Price: max + 2, Qty: 1, QuoteBudget: 0}, ErrInsufficientFunds},
		{2, book.Order{Side: book.Buy, Price: 121, Qty: 3}, book.ErrPriceNotOnTick},
		{2, book.Order{Side: book.Sell, Price: 79, Qty: 3}, book.ErrPriceNotOnTick},
		{1, book.Order{Side: book.Sell, Type: book.StopLimit, StopPrice: max + 1, Price: 1, Qty: 1}, book.ErrInvalidStop},
		{2, book.Order{Side: book.Buy, Type: book.StopLimit, StopPrice: 101, Price: 200, Qty: 3}, book.ErrInvalidStop},
	} {
		before := sc.s.Hash()
		out := sc.do(Command{Kind: CmdPlace, Account: 1, Market: c.market, Order: c.o})
		if !errors.Is(out.Err, c.want) {
			t.Errorf("market %d %+v: %v, want %v", c.market, c.o, out.Err, c.want)
		}
		sc.s.seq--
		if sc.s.Hash() != before {
			t.Errorf("market %d %+v changed the state", c.market, c.o)
		}
		sc.s.seq++
		// The same error without the band.
		sc.do(setBand(c.market, 0))
		if out2 := sc.do(Command{Kind: CmdPlace, Account: 1, Market: c.market, Order: c.o}); fmt.Sprint(out2.Err) != fmt.Sprint(out.Err) {
			t.Errorf("market %d %+v: %v with the band, %v without", c.market, c.o, out.Err, out2.Err)
		}
		sc.do(setBand(c.market, 1000))
	}
	// Within the book's rules, beyond the band is still refused.
	if out := sc.do(Command{Kind: CmdPlace, Account: 1, Market: 2, Order: book.Order{Side: book.Buy, Price: 112, Qty: 3}}); !errors.Is(out.Err, ErrPriceOutOfBand) {
		t.Fatalf("buy at 112 on [90, 110]: %v", out.Err)
	}
}
