package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// Limits on open orders (MarketSpec.MaxOpenOrders, CmdSetMaxOpenOrders).
// The scenario's market 1 is BTC-USDT with tick 1; each command is
// followed by State.Check (sc.do), which compares the counts the limit
// keeps with the book.

// setOpenLimit returns the command that sets market's limit on open
// orders.
func setOpenLimit(market uint32, n int32) Command {
	return Command{Kind: CmdSetMaxOpenOrders, Market: market, Spec: MarketSpec{MaxOpenOrders: n}}
}

// tooMany places o for acct on market 1 and wants ErrTooManyOpenOrders
// with no event and no change of the state but its sequence number.
func (sc *scenario) tooMany(acct uint64, o book.Order) {
	sc.t.Helper()
	before := hashNoSeq(sc.s)
	next := sc.s.nextOrder
	out := sc.place(acct, o)
	if !errors.Is(out.Err, ErrTooManyOpenOrders) || len(sc.evs) != 0 {
		sc.t.Fatalf("%+v: %v, %d events; want too many open orders and none", o, out.Err, len(sc.evs))
	}
	if hashNoSeq(sc.s) != before || sc.s.nextOrder != next {
		sc.t.Fatalf("%+v: refused order changed the state", o)
	}
}

// placed places o for acct on market 1, wants it accepted and returns
// its id.
func (sc *scenario) placed(acct uint64, o book.Order) uint64 {
	sc.t.Helper()
	out := sc.place(acct, o)
	if out.Err != nil {
		sc.t.Fatalf("place %+v: %v", o, out.Err)
	}
	return out.ID
}

func TestOpenLimitSpecRange(t *testing.T) {
	sc := newScenario(t)
	for _, n := range []int32{-1, MaxOpenOrdersLimit + 1, -1 << 31} {
		if out := sc.do(setOpenLimit(1, n)); !errors.Is(out.Err, ErrInvalidSpec) {
			t.Fatalf("limit %d: %v", n, out.Err)
		}
		c := genesis(0)[3] // BTC-USDT
		c.Name, _ = MakeName("BTC-USDT2")
		c.Spec.MaxOpenOrders = n
		if out := sc.do(c); !errors.Is(out.Err, ErrInvalidSpec) {
			t.Fatalf("create market with limit %d: %v", n, out.Err)
		}
	}
	if out := sc.do(setOpenLimit(9, 5)); !errors.Is(out.Err, ErrUnknownMarket) {
		t.Fatalf("unknown market: %v", out.Err)
	}
	for _, n := range []int32{1, MaxOpenOrdersLimit, 0} {
		if out := sc.do(setOpenLimit(2, n)); out.Err != nil || out.ID != 2 || len(sc.evs) != 0 {
			t.Fatalf("limit %d: %+v, %d events", n, out, len(sc.evs))
		}
		if got := sc.s.markets[1].spec.MaxOpenOrders; got != n {
			t.Fatalf("limit %d set, market has %d", n, got)
		}
	}
	// A market created with a limit counts from its first order.
	c := genesis(0)[3]
	c.Name, _ = MakeName("BTC-USDT3")
	c.Spec.MaxOpenOrders = 1
	out := sc.do(c)
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	o := book.Order{Side: book.Buy, Price: 100, Qty: 1}
	if out := sc.do(Command{Kind: CmdPlace, Account: 1, Market: uint32(out.ID), Order: o}); out.Err != nil {
		t.Fatal(out.Err)
	}
	if out := sc.do(Command{Kind: CmdPlace, Account: 1, Market: uint32(out.ID), Order: o}); !errors.Is(out.Err, ErrTooManyOpenOrders) {
		t.Fatalf("second order: %v", out.Err)
	}
}

func TestOpenLimitPlaces(t *testing.T) {
	sc := newScenario(t)
	sc.do(setOpenLimit(1, 3))
	buy := book.Order{Side: book.Buy, Price: 100, Qty: 1}
	a := sc.placed(1, buy)
	sc.placed(1, book.Order{Side: book.Buy, Price: 99, Qty: 5, DisplayQty: 1}) // an iceberg counts once
	stop := sc.placed(1, book.Order{Side: book.Sell, Type: book.StopLimit, StopPrice: 90, Price: 90, Qty: 1})
	// Three live: every order that could rest is refused, whatever
	// else is wrong with it (here a price off the book's bounds).
	for _, o := range []book.Order{
		buy,
		{Side: book.Sell, Price: 200, Qty: 1, PostOnly: true},
		{Side: book.Sell, Type: book.StopMarket, StopPrice: 90, Qty: 1},
		{Side: book.Buy, Type: book.StopLimit, StopPrice: 150, Price: 150, Qty: 1, TIF: book.IOC},
		{Side: book.Buy, Price: 1 << 40, Qty: 1},
	} {
		sc.tooMany(1, o)
	}
	// A good-till-date one too.
	if out := sc.do(Command{Kind: CmdPlace, Account: 1, Market: 1, Order: buy, ExpireAt: 1 << 60}); !errors.Is(out.Err, ErrTooManyOpenOrders) {
		t.Fatalf("gtd: %v", out.Err)
	}
	// Orders that cannot rest are not held to it: an IOC and a market
	// order against account 2's ask, an FOK that cannot fill.
	sc.placed(2, book.Order{Side: book.Sell, Price: 101, Qty: 10})
	sc.placed(1, book.Order{Side: book.Buy, Price: 101, Qty: 1, TIF: book.IOC})
	sc.placed(1, book.Order{Side: book.Buy, Type: book.Market, Qty: 1, Price: 101})
	sc.placed(1, book.Order{Side: book.Buy, Price: 101, Qty: 100, TIF: book.FOK})
	if got := sc.s.markets[0].open[1]; got != 3 {
		t.Fatalf("account 1: %d counted, want 3", got)
	}
	// Other accounts and other markets are not held to account 1's.
	sc.placed(3, buy)
	if out := sc.do(Command{Kind: CmdPlace, Account: 1, Market: 2, Order: book.Order{Side: book.Buy, Price: 100, Qty: 3}}); out.Err != nil {
		t.Fatalf("market 2: %v", out.Err)
	}
	// A resend of a client order id answers the original, at the limit.
	ref, _ := MakeRef("c-1")
	sc.do(Command{Kind: CmdCancel, Account: 1, OrderID: a})
	first := sc.do(Command{Kind: CmdPlace, Account: 1, Market: 1, Order: buy, Ref: ref})
	again := sc.do(Command{Kind: CmdPlace, Account: 1, Market: 1, Order: buy, Ref: ref})
	if first.Err != nil || !again.Duplicate || again.ID != first.ID {
		t.Fatalf("resend at the limit: %+v then %+v", first, again)
	}
	// A cancel frees a slot; so does a fill that completes a resting
	// order.
	sc.tooMany(1, buy)
	sc.do(Command{Kind: CmdCancel, Account: 1, OrderID: first.ID})
	b := sc.placed(1, buy)
	sc.tooMany(1, buy)
	sc.place(2, book.Order{Side: book.Sell, Price: 100, Qty: 2}) // fills account 3's buy, then b
	if sc.s.orders.get(b) != nil {
		t.Fatal("order not filled")
	}
	sc.placed(1, buy)
	sc.tooMany(1, buy)
	// A pending stop holds its slot until it goes.
	sc.do(Command{Kind: CmdCancel, Account: 1, OrderID: stop})
	sc.placed(1, buy)
	if got := sc.s.markets[0].open[1]; got != 3 {
		t.Fatalf("account 1: %d counted, want 3", got)
	}
}

func TestOpenLimitChanges(t *testing.T) {
	sc := newScenario(t)
	buy := book.Order{Side: book.Buy, Price: 100, Qty: 1}
	ids := []uint64{sc.placed(1, buy), sc.placed(1, buy), sc.placed(1, buy)}
	sc.placed(2, buy)
	// A limit set on a market with orders counts them; a lower one
	// than an account has cancels nothing.
	sc.do(setOpenLimit(1, 2))
	if m := sc.s.markets[0]; m.open[1] != 3 || m.open[2] != 1 || len(m.open) != 2 {
		t.Fatalf("counts %v", m.open)
	}
	if len(sc.evs) != 0 {
		t.Fatalf("events %+v", sc.evs)
	}
	sc.tooMany(1, buy)
	sc.placed(2, buy)
	sc.tooMany(2, buy)
	// Amends are not held to it.
	if out := sc.do(Command{Kind: CmdAmend, Account: 1, OrderID: ids[0], Order: book.Order{Price: 98, Qty: 2}}); out.Err != nil {
		t.Fatalf("amend over the limit: %v", out.Err)
	}
	sc.do(Command{Kind: CmdCancel, Account: 1, OrderID: ids[0]})
	sc.tooMany(1, buy) // 2 left: still at the limit
	sc.do(Command{Kind: CmdCancel, Account: 1, OrderID: ids[1]})
	sc.placed(1, buy)
	// Without a limit the market keeps no counts.
	sc.do(setOpenLimit(1, 0))
	if sc.s.markets[0].open != nil {
		t.Fatal("counts kept without a limit")
	}
	sc.placed(1, buy)
	sc.placed(1, buy)
	sc.do(setOpenLimit(1, 4))
	if got := sc.s.markets[0].open[1]; got != 4 {
		t.Fatalf("recounted %d, want 4", got)
	}
	sc.tooMany(1, buy)
	// Freezing the account cancels its orders, and its counts go.
	sc.do(Command{Kind: CmdSetAccountFrozen, Account: 1, Frozen: true})
	if _, ok := sc.s.markets[0].open[1]; ok {
		t.Fatalf("frozen account still counted: %v", sc.s.markets[0].open)
	}
}

// Good-till-date orders that expire free their slots before the command
// that finds them due, a place included.
func TestOpenLimitExpiry(t *testing.T) {
	sc := newScenario(t)
	sc.do(setOpenLimit(1, 1))
	buy := book.Order{Side: book.Buy, Price: 100, Qty: 1}
	sc.mustGTD(1000, 1, 2000, buy)
	if out := sc.gtd(1500, 1, 3000, buy); !errors.Is(out.Err, ErrTooManyOpenOrders) {
		t.Fatalf("before the expiry: %v", out.Err)
	}
	sc.mustGTD(2500, 1, 3000, buy)
}

func TestOpenLimitSnapshot(t *testing.T) {
	sc := newScenario(t)
	sc.do(setOpenLimit(1, 2))
	buy := book.Order{Side: book.Buy, Price: 100, Qty: 1}
	sc.placed(1, buy)
	sc.placed(1, book.Order{Side: book.Sell, Type: book.StopMarket, StopPrice: 50, Qty: 1})
	sc.placed(2, buy)
	snap := sc.s.AppendSnapshot(nil)
	if v := binary.LittleEndian.Uint16(snap[4:]); v != 10 {
		t.Fatalf("snapshot version %d with a limit, want 10", v)
	}
	s2, err := DecodeState(snap)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Hash() != sc.s.Hash() || s2.markets[0].spec.MaxOpenOrders != 2 || s2.markets[0].open[1] != 2 || s2.markets[0].open[2] != 1 {
		t.Fatalf("restored limit %d, counts %v", s2.markets[0].spec.MaxOpenOrders, s2.markets[0].open)
	}
	// The restored state refuses as the original does.
	sc2 := &scenario{t: t, s: s2, seq: sc.seq}
	sc2.tooMany(1, buy)
	sc2.placed(2, buy)
	// With a band too, and without a limit: version 9 as before.
	sc.do(setBand(1, 500))
	if v := binary.LittleEndian.Uint16(sc.s.AppendSnapshot(nil)[4:]); v != 10 {
		t.Fatalf("snapshot version %d with a limit and a band", v)
	}
	sc.do(setOpenLimit(1, 0))
	snap = sc.s.AppendSnapshot(nil)
	if v := binary.LittleEndian.Uint16(snap[4:]); v != 9 {
		t.Fatalf("snapshot version %d with a band only, want 9", v)
	}
	sc.do(setBand(1, 0))
	snap = sc.s.AppendSnapshot(nil)
	if v := binary.LittleEndian.Uint16(snap[4:]); v != 6 {
		t.Fatalf("snapshot version %d without a band or a limit, want 6", v)
	}
	// Version 10 with no limit is refused; with one (and no band) read.
	body := append([]byte(nil), snap[:len(snap)-4]...)
	body[4] = 10
	body = append(body, make([]byte, 4+4+4+4)...) // no frozen, no expiry, no band, no limit
	if _, err := DecodeState(sealSnapshot(body, 0)); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("version 10 without a limit: %v", err)
	}
	body = append(body[:len(body)-4], 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0)
	s3, err := DecodeState(sealSnapshot(body, 0))
	if err != nil || s3.markets[0].spec.MaxOpenOrders != 1 || s3.markets[0].open[1] != 2 {
		t.Fatalf("version 10 with a limit: %v", err)
	}
	if !bytes.Equal(s3.AppendSnapshot(nil), sealSnapshot(body, 0)) {
		t.Fatal("version 10 snapshot does not re-encode to itself")
	}
	// Out of range, on an unknown market, or twice: refused.
	for _, tail := range [][]byte{
		{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0},
		{1, 0, 0, 0, 1, 0, 0, 0, 0x41, 0x42, 0x0f, 0}, // 1,000,001
		{1, 0, 0, 0, 9, 0, 0, 0, 7, 0, 0, 0},
		{2, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0},
	} {
		b := append(append([]byte(nil), body[:len(body)-12]...), tail...)
		if _, err := DecodeState(sealSnapshot(b, 0)); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("tail %v: %v", tail, err)
		}
	}
}

// Through the engine: a limit change is journaled and republishes the
// directory, whose market spec carries the limit.
// journaledAt returns the journaled command of sequence number seq.
func journaledAt(t *testing.T, cmds []Command, seq uint64) Command {
	t.Helper()
	for _, c := range cmds {
		if c.Seq == seq {
			return c
		}
	}
	t.Fatalf("no command %d journaled", seq)
	return Command{}
}

func TestEngineSetMaxOpenOrders(t *testing.T) {
	e, j := openGenesis(t, 3)
	defer e.Close()
	d0 := e.Directory()
	res := mustDo(t, e, setOpenLimit(2, 40))
	if res.Err != nil || res.ID != 2 || len(res.Events) != 0 {
		t.Fatalf("result %+v", res)
	}
	if err := e.WaitViews(context.Background(), res.Seq); err != nil {
		t.Fatal(err)
	}
	d := e.Directory()
	if d == d0 || d.Markets[1].Spec.MaxOpenOrders != 40 || d.Markets[0].Spec.MaxOpenOrders != 0 {
		t.Fatalf("directory not republished: %+v", d.Markets)
	}
	// Found by its sequence number: the engine's ticker may journal a
	// tick after it (views owed) on a slow machine.
	if c := journaledAt(t, j.Commands(), res.Seq); c.Kind != CmdSetMaxOpenOrders || c.Spec.MaxOpenOrders != 40 {
		t.Fatalf("journaled %+v", c)
	}
}
