package book

// Scenario tests: orders in, events out. Every scenario is a list of
// commands, each with the full event trace it must produce (every field),
// written by hand from the package documentation, plus query checks
// (Depth, BestBid/BestAsk, Order, All, LastPrice, Len, Stops). After every
// command the book's invariant checker must pass; a rejected command must
// leave the book exactly as it was.
//
// The DSL, all in small namespaces to stay clear of other test files:
//
//	ord.lim(id, owner, side, price, qty)   a GTC limit order; chain .ioc(),
//	                                       .fok(), .post(), .stp(m), .ice(d),
//	                                       .prot(p), .with(func(*Order))
//	ord.mkt / ord.budget / ord.stopMkt / ord.stopLim / ord.stopBudget
//	ev.accepted(id), ev.trade(taker, maker, price, qty, rem, makerRem), ...
//	do.place(order, events...), do.cancel(id, events...),
//	do.amend(id, price, qty, events...), do.reject(order, reason)
//	is.asks(levels...), is.bids(...), is.all(ids...), is.order(info), ...
//
// Event helpers fill Owner, Side and MakerOwner from the orders the
// scenario placed, so a trade reads "taker 2 bought 3 at 101 from maker 1,
// 0 left, maker has 2 left".

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
	"testing"
)

// ---------------------------------------------------------------------------
// Orders.

// scOrder is an Order under construction; its methods return modified
// copies so that orders read as one expression.
type scOrder Order

type scOrders struct{}

// ord builds orders.
var ord scOrders

// lim is a GTC limit order.
func (scOrders) lim(id, owner uint64, side Side, price, qty int64) scOrder {
	return scOrder{ID: id, Owner: owner, Side: side, Type: Limit, Price: price, Qty: qty}
}

// mkt is a market order by quantity (GTC, i.e. IOC).
func (scOrders) mkt(id, owner uint64, side Side, qty int64) scOrder {
	return scOrder{ID: id, Owner: owner, Side: side, Type: Market, Qty: qty}
}

// budget is a market buy by quote budget.
func (scOrders) budget(id, owner uint64, budget int64) scOrder {
	return scOrder{ID: id, Owner: owner, Side: Buy, Type: Market, QuoteBudget: budget}
}

// stopMkt is a stop-market order by quantity.
func (scOrders) stopMkt(id, owner uint64, side Side, stop, qty int64) scOrder {
	return scOrder{ID: id, Owner: owner, Side: side, Type: StopMarket, StopPrice: stop, Qty: qty}
}

// stopBudget is a stop-market buy by quote budget.
func (scOrders) stopBudget(id, owner uint64, stop, budget int64) scOrder {
	return scOrder{ID: id, Owner: owner, Side: Buy, Type: StopMarket, StopPrice: stop, QuoteBudget: budget}
}

// stopLim is a GTC stop-limit order.
func (scOrders) stopLim(id, owner uint64, side Side, stop, price, qty int64) scOrder {
	return scOrder{ID: id, Owner: owner, Side: side, Type: StopLimit, StopPrice: stop, Price: price, Qty: qty}
}

func (o scOrder) ioc() scOrder              { o.TIF = IOC; return o }
func (o scOrder) fok() scOrder              { o.TIF = FOK; return o }
func (o scOrder) post() scOrder             { o.PostOnly = true; return o }
func (o scOrder) stp(m STPMode) scOrder     { o.STP = m; return o }
func (o scOrder) ice(display int64) scOrder { o.DisplayQty = display; return o }
func (o scOrder) prot(price int64) scOrder  { o.Price = price; return o }
func (o scOrder) with(f func(*Order)) scOrder {
	f((*Order)(&o))
	return o
}

// ---------------------------------------------------------------------------
// Expected events.

// scEnv is what event templates are resolved against: the orders the
// scenario has placed (by id, as last accepted, price as last amended) and
// the command being run.
type scEnv struct {
	orders map[uint64]Order
	cmd    Order // the order of the current Place
}

func (e *scEnv) order(id uint64) Order {
	o, ok := e.orders[id]
	if !ok {
		panic(fmt.Sprintf("scenario refers to order %d, which it never placed", id))
	}
	return o
}

// scEv is an expected event, resolved when its command runs.
type scEv func(*scEnv) Event

type scEvents struct{}

// ev builds expected events.
var ev scEvents

// endPrice is the Price of EvCancelled and EvExpired events. doc.go does
// not say; we expect the order's limit (or protection) price.
func endPrice(o Order) int64 { return o.Price }

// accepted: Price is the limit (or protection) price, Qty the quantity,
// Remaining the quantity or, for a pure budget buy (Qty 0), the budget.
// For a buy with both a Qty and a budget doc.go is open ("its Qty, or its
// quote budget for a market buy by budget"); we expect its Qty, the same
// unit as the Remaining of its trades.
func (scEvents) accepted(id uint64) scEv {
	return func(e *scEnv) Event {
		o := e.order(id)
		rem := o.Qty
		if o.Qty == 0 {
			rem = o.QuoteBudget
		}
		return Event{Kind: EvAccepted, Side: o.Side, OrderID: id, Owner: o.Owner,
			Price: o.Price, Qty: o.Qty, Remaining: rem}
	}
}

// trade: taker traded qty at price with maker; rem is what the taker has
// left (unspent budget for a market buy by budget), makerRem the maker's
// open quantity (visible + hidden) after the trade.
func (scEvents) trade(taker, maker uint64, price, qty, rem, makerRem int64) scEv {
	return func(e *scEnv) Event {
		t, m := e.order(taker), e.order(maker)
		return Event{Kind: EvTrade, Side: t.Side, OrderID: taker, Owner: t.Owner,
			MakerID: maker, MakerOwner: m.Owner, Price: price, Qty: qty,
			Remaining: rem, MakerRemaining: makerRem}
	}
}

func scEnd(kind EventKind, reason Reason, id uint64, qty, rem int64) scEv {
	return func(e *scEnv) Event {
		o := e.order(id)
		return Event{Kind: kind, Side: o.Side, Reason: reason, OrderID: id, Owner: o.Owner,
			Price: endPrice(o), Qty: qty, Remaining: rem}
	}
}

// cancelled: removed by Cancel; qty is the open quantity removed.
func (scEvents) cancelled(id uint64, qty int64) scEv {
	return scEnd(EvCancelled, ReasonCancelled, id, qty, 0)
}

// cancelledBudget: a (pending) market buy by budget removed by Cancel.
func (scEvents) cancelledBudget(id uint64, budget int64) scEv {
	return scEnd(EvCancelled, ReasonCancelled, id, 0, budget)
}

// stp: removed by self-trade prevention; qty is the open quantity removed.
func (scEvents) stp(id uint64, qty int64) scEv {
	return scEnd(EvCancelled, ReasonSelfTrade, id, qty, 0)
}

// stpBudget: a market buy by budget cancelled by self-trade prevention.
func (scEvents) stpBudget(id uint64, budget int64) scEv {
	return scEnd(EvCancelled, ReasonSelfTrade, id, 0, budget)
}

// expired: the unfilled rest of an IOC or market order.
func (scEvents) expired(id uint64, qty int64) scEv {
	return scEnd(EvExpired, ReasonUnfilled, id, qty, 0)
}

// expiredBudget: the unspent budget of a market buy by budget.
func (scEvents) expiredBudget(id uint64, budget int64) scEv {
	return scEnd(EvExpired, ReasonUnfilled, id, 0, budget)
}

// killed: a FOK order that could not fill expires whole.
func (scEvents) killed(id uint64, qty int64) scEv {
	return scEnd(EvExpired, ReasonFOK, id, qty, 0)
}

// expiredWithBudget: the unfilled rest of a market buy with both a
// quantity and a budget: qty left and the unspent budget.
func (scEvents) expiredWithBudget(id uint64, qty, budget int64) scEv {
	return scEnd(EvExpired, ReasonUnfilled, id, qty, budget)
}

// killedWithBudget: a FOK buy with a quantity and a budget that could not
// fill (or pay) expires whole, with its whole budget unspent.
func (scEvents) killedWithBudget(id uint64, qty, budget int64) scEv {
	return scEnd(EvExpired, ReasonFOK, id, qty, budget)
}

// amended: the order now has price and open quantity qty.
func (scEvents) amended(id uint64, price, qty int64, kept bool) scEv {
	return func(e *scEnv) Event {
		o := e.order(id)
		return Event{Kind: EvAmended, Side: o.Side, KeptPriority: kept, OrderID: id,
			Owner: o.Owner, Price: price, Qty: qty}
	}
}

// triggered: a stop released by last trade price last. Qty is its
// quantity, Remaining its quote budget (0 if it has none).
func (scEvents) triggered(id uint64, last int64) scEv {
	return func(e *scEnv) Event {
		o := e.order(id)
		return Event{Kind: EvTriggered, Side: o.Side, OrderID: id, Owner: o.Owner,
			Price: last, Qty: o.Qty, Remaining: o.QuoteBudget}
	}
}

// rejected: the current Place was refused; OrderID, Owner and Side echo it.
func (scEvents) rejected(r Reason) scEv {
	return func(e *scEnv) Event {
		return Event{Kind: EvRejected, Side: e.cmd.Side, Reason: r, OrderID: e.cmd.ID, Owner: e.cmd.Owner}
	}
}

// rejectedOrder: a Cancel or Amend of live order id was refused.
func (scEvents) rejectedOrder(id uint64, r Reason) scEv {
	return func(e *scEnv) Event {
		o := e.order(id)
		return Event{Kind: EvRejected, Side: o.Side, Reason: r, OrderID: id, Owner: o.Owner}
	}
}

// rejectedUnknown: a Cancel or Amend of an id the book does not know; only
// the id can be echoed.
func (scEvents) rejectedUnknown(id uint64) scEv {
	return func(*scEnv) Event {
		return Event{Kind: EvRejected, Reason: ReasonUnknownOrder, OrderID: id}
	}
}

// ---------------------------------------------------------------------------
// Steps: commands and checks.

type scCmdKind uint8

const (
	scPlace scCmdKind = iota + 1
	scCancel
	scAmend
	scCheck
)

type scStep struct {
	kind       scCmdKind
	order      Order
	id         uint64
	price, qty int64
	want       []scEv
	check      func(b scBook) string // "" when fine
	desc       string
}

type scSteps struct{}

// do builds commands.
var do scSteps

func (scSteps) place(o scOrder, want ...scEv) scStep {
	return scStep{kind: scPlace, order: Order(o), want: want,
		desc: fmt.Sprintf("place %+v", Order(o))}
}

// reject places an order that must be rejected with reason r.
func (scSteps) reject(o scOrder, r Reason) scStep {
	return do.place(o, ev.rejected(r))
}

func (scSteps) cancel(id uint64, want ...scEv) scStep {
	return scStep{kind: scCancel, id: id, want: want, desc: fmt.Sprintf("cancel %d", id)}
}

func (scSteps) amend(id uint64, price, qty int64, want ...scEv) scStep {
	return scStep{kind: scAmend, id: id, price: price, qty: qty, want: want,
		desc: fmt.Sprintf("amend %d price=%d qty=%d", id, price, qty)}
}

type scChecks struct{}

// is builds query checks.
var is scChecks

func scCheckStep(desc string, f func(b scBook) string) scStep {
	return scStep{kind: scCheck, check: f, desc: desc}
}

func (scChecks) side(side Side, want []Level) scStep {
	return scCheckStep(fmt.Sprintf("depth %v", side), func(b scBook) string {
		got := b.Depth(nil, side, 1000)
		if !slices.Equal(got, want) {
			return fmt.Sprintf("Depth(%v) = %v, want %v", side, got, want)
		}
		best := b.BestBid
		if side == Sell {
			best = b.BestAsk
		}
		p, q, ok := best()
		switch {
		case len(want) == 0 && ok:
			return fmt.Sprintf("best %v = %d×%d, want none", side, p, q)
		case len(want) > 0 && (!ok || p != want[0].Price || q != want[0].Qty):
			return fmt.Sprintf("best %v = %d×%d ok=%t, want %d×%d", side, p, q, ok, want[0].Price, want[0].Qty)
		}
		return ""
	})
}

// bids checks Depth(Buy) and BestBid.
func (scChecks) bids(levels ...Level) scStep { return is.side(Buy, levels) }

// asks checks Depth(Sell) and BestAsk.
func (scChecks) asks(levels ...Level) scStep { return is.side(Sell, levels) }

// all checks the ids All yields, in order.
func (scChecks) all(ids ...uint64) scStep {
	return scCheckStep("all", func(b scBook) string {
		var got []uint64
		for oi := range b.All() {
			got = append(got, oi.ID)
		}
		if !slices.Equal(got, ids) {
			return fmt.Sprintf("All() ids = %v, want %v", got, ids)
		}
		return ""
	})
}

// allInfo checks everything All yields, in order.
func (scChecks) allInfo(infos ...OrderInfo) scStep {
	return scCheckStep("all info", func(b scBook) string {
		var got []OrderInfo
		for oi := range b.All() {
			got = append(got, oi)
		}
		if !slices.Equal(got, infos) {
			var sb strings.Builder
			sb.WriteString("All() mismatch:\n")
			for i := range max(len(got), len(infos)) {
				var g, w string
				if i < len(got) {
					g = fmt.Sprintf("%+v", got[i])
				}
				if i < len(infos) {
					w = fmt.Sprintf("%+v", infos[i])
				}
				mark := "  "
				if g != w {
					mark = "!!"
				}
				fmt.Fprintf(&sb, "%s got  %s\n%s want %s\n", mark, g, mark, w)
			}
			return sb.String()
		}
		return ""
	})
}

// order checks Order(info.ID).
func (scChecks) order(info OrderInfo) scStep {
	return scCheckStep(fmt.Sprintf("order %d", info.ID), func(b scBook) string {
		got, ok := b.Order(info.ID)
		if !ok || got != info {
			return fmt.Sprintf("Order(%d) = %+v, %t\n want %+v", info.ID, got, ok, info)
		}
		return ""
	})
}

// gone checks that Order(id) finds nothing.
func (scChecks) gone(ids ...uint64) scStep {
	return scCheckStep(fmt.Sprintf("gone %v", ids), func(b scBook) string {
		for _, id := range ids {
			if got, ok := b.Order(id); ok {
				return fmt.Sprintf("Order(%d) = %+v, want none", id, got)
			}
		}
		return ""
	})
}

// last checks LastPrice.
func (scChecks) last(p int64) scStep {
	return scCheckStep("last", func(b scBook) string {
		if got := b.LastPrice(); got != p {
			return fmt.Sprintf("LastPrice() = %d, want %d", got, p)
		}
		return ""
	})
}

// size checks Len (resting orders) and Stops (pending stops).
func (scChecks) size(resting, stops int) scStep {
	return scCheckStep("size", func(b scBook) string {
		if l, s := b.Len(), b.Stops(); l != resting || s != stops {
			return fmt.Sprintf("Len() = %d, Stops() = %d, want %d, %d", l, s, resting, stops)
		}
		return ""
	})
}

// ---------------------------------------------------------------------------
// Runner.

// scBook is what the scenarios drive: *Book, or any model of it.
type scBook interface {
	Place(dst []Event, o *Order) ([]Event, error)
	Cancel(dst []Event, id uint64) ([]Event, error)
	Amend(dst []Event, id uint64, price, qty int64) ([]Event, error)
	BestBid() (price, qty int64, ok bool)
	BestAsk() (price, qty int64, ok bool)
	Depth(dst []Level, side Side, n int) []Level
	Order(id uint64) (OrderInfo, bool)
	All() iter.Seq[OrderInfo]
	LastPrice() int64
	Len() int
	Stops() int
	Check() error
}

// scNewBook makes the book under test.
var scNewBook = func(r Rules) (scBook, error) { return New(r, nil) }

type scScenario struct {
	name  string
	rules Rules
	steps []scStep
}

func scFmt(e Event) string {
	return fmt.Sprintf("%-9s %-4v id=%d owner=%d maker=%d/%d price=%d qty=%d rem=%d mrem=%d reason=%v kept=%t",
		e.Kind, e.Side, e.OrderID, e.Owner, e.MakerID, e.MakerOwner, e.Price, e.Qty,
		e.Remaining, e.MakerRemaining, e.Reason, e.KeptPriority)
}

func scDiff(got, want []Event) string {
	var sb strings.Builder
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = scFmt(got[i])
		}
		if i < len(want) {
			w = scFmt(want[i])
		}
		mark := "  "
		if g != w {
			mark = "!!"
		}
		fmt.Fprintf(&sb, "%s got  %s\n%s want %s\n", mark, g, mark, w)
	}
	return sb.String()
}

// scSnapshot renders everything observable about a book.
func scSnapshot(b scBook) string {
	var sb strings.Builder
	for oi := range b.All() {
		fmt.Fprintf(&sb, "%+v\n", oi)
	}
	bp, bq, bok := b.BestBid()
	ap, aq, aok := b.BestAsk()
	fmt.Fprintf(&sb, "bids %v asks %v best %d×%d %t / %d×%d %t last %d len %d stops %d",
		b.Depth(nil, Buy, 1000), b.Depth(nil, Sell, 1000), bp, bq, bok, ap, aq, aok,
		b.LastPrice(), b.Len(), b.Stops())
	return sb.String()
}

var scSentinel = Event{Kind: EventKind(200), OrderID: 0xdead}

func runScenarios(t *testing.T, scs []scScenario) {
	t.Helper()
	names := map[string]bool{}
	for _, sc := range scs {
		if names[sc.name] {
			t.Fatalf("duplicate scenario name %q", sc.name)
		}
		names[sc.name] = true
		t.Run(sc.name, func(t *testing.T) { sc.run(t) })
	}
}

func (sc scScenario) run(t *testing.T) {
	b, err := scNewBook(sc.rules)
	if err != nil {
		t.Fatalf("New(%+v): %v", sc.rules, err)
	}
	env := &scEnv{orders: map[uint64]Order{}}
	for i, st := range sc.steps {
		where := fmt.Sprintf("step %d (%s)", i+1, st.desc)
		if st.kind == scCheck {
			if msg := st.check(b); msg != "" {
				t.Errorf("%s: %s", where, msg)
			}
			continue
		}

		// Resolve the expected events. A Place that is expected to be
		// accepted registers its order first, so that templates can refer
		// to it; a rejected one must not shadow a live order of the same id.
		prev, had := env.orders[st.order.ID]
		if st.kind == scPlace {
			env.cmd = st.order
			env.orders[st.order.ID] = st.order
		}
		want, wantErr := scResolve(t, where, env, st.want)
		if st.kind == scPlace && wantErr != nil {
			if had {
				env.orders[st.order.ID] = prev
			} else {
				delete(env.orders, st.order.ID)
			}
		}
		if st.kind == scAmend && wantErr == nil {
			o := env.orders[st.id]
			o.Price = st.price
			env.orders[st.id] = o
		}

		before := scSnapshot(b)
		dst := append(make([]Event, 0, 8), scSentinel)
		var got []Event
		switch st.kind {
		case scPlace:
			o := st.order
			got, err = b.Place(dst, &o)
			if o != st.order {
				t.Errorf("%s: Place modified its argument: %+v", where, o)
			}
		case scCancel:
			got, err = b.Cancel(dst, st.id)
		case scAmend:
			got, err = b.Amend(dst, st.id, st.price, st.qty)
		}
		if len(got) == 0 || got[0] != scSentinel {
			t.Fatalf("%s: events not appended to dst: %v", where, got)
		}
		got = got[1:]
		if bk, ok := b.(*Book); ok {
			if err := checkHandles(bk, got); err != nil {
				t.Errorf("%s: %v", where, err)
			}
		}
		got = withoutHandles(got)

		if !slices.Equal(got, want) {
			t.Errorf("%s: events differ\n%s", where, scDiff(got, want))
		}
		switch {
		case wantErr == nil && err != nil:
			t.Errorf("%s: err = %v, want nil", where, err)
		case wantErr != nil && !errors.Is(err, wantErr):
			t.Errorf("%s: err = %v, want %v", where, err, wantErr)
		}
		if cerr := b.Check(); cerr != nil {
			t.Fatalf("%s: Check: %v", where, cerr)
		}
		if wantErr != nil {
			if after := scSnapshot(b); after != before {
				t.Errorf("%s: rejected command changed the book\nbefore:\n%s\nafter:\n%s", where, before, after)
			}
		}
	}
}

// scResolve turns templates into events; a trace that is one EvRejected
// means the command must fail with that reason's sentinel error.
func scResolve(t *testing.T, where string, env *scEnv, tmpl []scEv) (evs []Event, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s: bad scenario: %v", where, r)
		}
	}()
	for _, f := range tmpl {
		evs = append(evs, f(env))
	}
	if len(evs) == 1 && evs[0].Kind == EvRejected {
		err = evs[0].Reason.Err()
		if err == nil {
			t.Fatalf("%s: bad scenario: %v is not a rejection reason", where, evs[0].Reason)
		}
	}
	return evs, err
}

// Owners used throughout.
const (
	alice uint64 = 1001
	bob   uint64 = 1002
	carol uint64 = 1003
	dave  uint64 = 1004
	erin  uint64 = 1005
)

// ---------------------------------------------------------------------------
// Limit orders.

func TestScenarioLimit(t *testing.T) {
	runScenarios(t, []scScenario{
		{name: "gtc limit rests", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 101, 5), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 99, 4), ev.accepted(2)),
			is.asks(Level{101, 5, 1}),
			is.bids(Level{99, 4, 1}),
			is.order(OrderInfo{ID: 1, Owner: alice, Side: Sell, Type: Limit, TIF: GTC, Price: 101, Open: 5, Visible: 5}),
			is.order(OrderInfo{ID: 2, Owner: bob, Side: Buy, Type: Limit, TIF: GTC, Price: 99, Open: 4, Visible: 4}),
			is.size(2, 0),
			is.last(0),
			is.all(2, 1),
		}},
		{name: "full fill", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 101, 5), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 101, 5),
				ev.accepted(2),
				ev.trade(2, 1, 101, 5, 0, 0)),
			is.asks(), is.bids(),
			is.size(0, 0),
			is.last(101),
			is.gone(1, 2),
		}},
		{name: "taker smaller than maker leaves the maker partly filled", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 101, 5), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 101, 2),
				ev.accepted(2),
				ev.trade(2, 1, 101, 2, 0, 3)),
			is.asks(Level{101, 3, 1}),
			is.order(OrderInfo{ID: 1, Owner: alice, Side: Sell, Price: 101, Open: 3, Visible: 3}),
			is.gone(2),
		}},
		{name: "partial fill then rest at the limit price", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 101, 3), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 102, 5),
				ev.accepted(2),
				ev.trade(2, 1, 101, 3, 2, 0)), // at the maker's price
			is.asks(),
			is.bids(Level{102, 2, 1}),
			is.order(OrderInfo{ID: 2, Owner: bob, Side: Buy, Price: 102, Open: 2, Visible: 2}),
			is.last(101),
			is.size(1, 0),
		}},
		{name: "buy sweeps several levels at the makers' prices", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 101, 2), ev.accepted(1)),
			do.place(ord.lim(2, bob, Sell, 102, 3), ev.accepted(2)),
			do.place(ord.lim(3, carol, Sell, 103, 4), ev.accepted(3)),
			do.place(ord.lim(4, alice, Sell, 105, 1), ev.accepted(4)),
			do.place(ord.lim(10, dave, Buy, 103, 8),
				ev.accepted(10),
				ev.trade(10, 1, 101, 2, 6, 0),
				ev.trade(10, 2, 102, 3, 3, 0),
				ev.trade(10, 3, 103, 3, 0, 1)),
			is.asks(Level{103, 1, 1}, Level{105, 1, 1}),
			is.bids(),
			is.last(103),
			is.all(3, 4),
		}},
		{name: "sell sweeps bids best first and rests the rest", steps: []scStep{
			do.place(ord.lim(1, alice, Buy, 100, 2), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 99, 2), ev.accepted(2)),
			do.place(ord.lim(3, carol, Buy, 97, 5), ev.accepted(3)),
			do.place(ord.lim(10, dave, Sell, 98, 6),
				ev.accepted(10),
				ev.trade(10, 1, 100, 2, 4, 0),
				ev.trade(10, 2, 99, 2, 2, 0)),
			is.asks(Level{98, 2, 1}),
			is.bids(Level{97, 5, 1}),
			is.last(99),
			is.all(3, 10),
		}},
		{name: "price-time priority: FIFO within a level", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 2), ev.accepted(1)),
			do.place(ord.lim(2, bob, Sell, 100, 3), ev.accepted(2)),
			do.place(ord.lim(3, carol, Sell, 100, 4), ev.accepted(3)),
			do.place(ord.lim(4, alice, Sell, 99, 1), ev.accepted(4)),
			is.asks(Level{99, 1, 1}, Level{100, 9, 3}),
			is.all(4, 1, 2, 3),
			do.place(ord.lim(10, dave, Buy, 100, 7),
				ev.accepted(10),
				ev.trade(10, 4, 99, 1, 6, 0),
				ev.trade(10, 1, 100, 2, 4, 0),
				ev.trade(10, 2, 100, 3, 1, 0),
				ev.trade(10, 3, 100, 1, 0, 3)),
			is.asks(Level{100, 3, 1}),
			is.all(3),
		}},
		{name: "a buy below the best ask does not trade", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 101, 5), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 100, 5), ev.accepted(2)),
			do.place(ord.lim(3, bob, Sell, 101, 1), ev.accepted(3)),
			is.asks(Level{101, 6, 2}),
			is.bids(Level{100, 5, 1}),
			is.last(0),
		}},
	})
}

// ---------------------------------------------------------------------------
// IOC and FOK.

func TestScenarioIOCFOK(t *testing.T) {
	runScenarios(t, []scScenario{
		{name: "ioc partial fill then expiry", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 3), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 101, 5).ioc(),
				ev.accepted(2),
				ev.trade(2, 1, 100, 3, 2, 0),
				ev.expired(2, 2)),
			is.asks(), is.bids(),
			is.size(0, 0),
			is.last(100),
			is.gone(2),
		}},
		{name: "ioc without a match expires whole", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 102, 1), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 101, 5).ioc(),
				ev.accepted(2),
				ev.expired(2, 5)),
			is.asks(Level{102, 1, 1}),
			is.bids(),
		}},
		{name: "ioc filled entirely has no expiry", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 5), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 100, 5).ioc(),
				ev.accepted(2),
				ev.trade(2, 1, 100, 5, 0, 0)),
			is.size(0, 0),
		}},
		{name: "fok fills fully across levels", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 3), ev.accepted(1)),
			do.place(ord.lim(2, bob, Sell, 101, 3), ev.accepted(2)),
			do.place(ord.lim(3, carol, Buy, 101, 5).fok(),
				ev.accepted(3),
				ev.trade(3, 1, 100, 3, 2, 0),
				ev.trade(3, 2, 101, 2, 0, 1)),
			is.asks(Level{101, 1, 1}),
			is.bids(),
		}},
		{name: "fok killed changes nothing", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 3), ev.accepted(1)),
			do.place(ord.lim(2, bob, Sell, 101, 3), ev.accepted(2)),
			do.place(ord.lim(3, carol, Sell, 102, 10), ev.accepted(3)), // beyond the limit
			do.place(ord.lim(4, dave, Buy, 101, 7).fok(),
				ev.accepted(4),
				ev.killed(4, 7)),
			is.asks(Level{100, 3, 1}, Level{101, 3, 1}, Level{102, 10, 1}),
			is.bids(),
			is.size(3, 0),
			is.last(0),
			do.place(ord.lim(5, dave, Sell, 99, 7).fok(),
				ev.accepted(5),
				ev.killed(5, 7)),
			is.size(3, 0),
		}},
		{name: "fok counts hidden iceberg quantity", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 10).ice(2), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 100, 8).fok(),
				ev.accepted(2),
				ev.trade(2, 1, 100, 2, 6, 8),
				ev.trade(2, 1, 100, 2, 4, 6),
				ev.trade(2, 1, 100, 2, 2, 4),
				ev.trade(2, 1, 100, 2, 0, 2)),
			is.asks(Level{100, 2, 1}),
			is.order(OrderInfo{ID: 1, Owner: alice, Side: Sell, Price: 100, Open: 2, Visible: 2, DisplayQty: 2}),
		}},
		{name: "fok with stp cancel_maker skips own orders", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 5), ev.accepted(1)),
			do.place(ord.lim(2, bob, Sell, 100, 5), ev.accepted(2)),
			do.place(ord.lim(3, bob, Sell, 101, 5), ev.accepted(3)),
			do.place(ord.lim(10, alice, Buy, 101, 10).fok().stp(STPCancelMaker),
				ev.accepted(10),
				ev.stp(1, 5),
				ev.trade(10, 2, 100, 5, 5, 0),
				ev.trade(10, 3, 101, 5, 0, 0)),
			is.asks(),
			is.size(0, 0),
			is.gone(1, 2, 3, 10),
		}},
		{name: "fok with stp cancel_maker does not count own orders", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 5), ev.accepted(1)),
			do.place(ord.lim(2, bob, Sell, 100, 5), ev.accepted(2)),
			do.place(ord.lim(3, bob, Sell, 101, 5), ev.accepted(3)),
			// Only 10 of the 15 are not alice's.
			do.place(ord.lim(10, alice, Buy, 101, 11).fok().stp(STPCancelMaker),
				ev.accepted(10),
				ev.killed(10, 11)),
			is.asks(Level{100, 10, 2}, Level{101, 5, 1}),
			is.all(1, 2, 3),
			// Without STP alice's own order counts (and trades).
			do.place(ord.lim(11, alice, Buy, 101, 11).fok(),
				ev.accepted(11),
				ev.trade(11, 1, 100, 5, 6, 0),
				ev.trade(11, 2, 100, 5, 1, 0),
				ev.trade(11, 3, 101, 1, 0, 4)),
			is.asks(Level{101, 4, 1}),
		}},
		{name: "fok killed by own order under cancel_taker and cancel_both", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 5), ev.accepted(1)),
			do.place(ord.lim(2, bob, Sell, 101, 5), ev.accepted(2)),
			// The level at 101 holds bob's own order and is reached with
			// only 5 of 8 covered.
			do.place(ord.lim(10, bob, Buy, 101, 8).fok().stp(STPCancelTaker),
				ev.accepted(10),
				ev.killed(10, 8)),
			is.asks(Level{100, 5, 1}, Level{101, 5, 1}),
			do.place(ord.lim(11, bob, Buy, 101, 8).fok().stp(STPCancelBoth),
				ev.accepted(11),
				ev.killed(11, 8)),
			is.asks(Level{100, 5, 1}, Level{101, 5, 1}),
			is.size(2, 0),
			is.last(0),
			// Covered before the level with the own order: fills.
			do.place(ord.lim(12, bob, Buy, 101, 5).fok().stp(STPCancelTaker),
				ev.accepted(12),
				ev.trade(12, 1, 100, 5, 0, 0)),
			is.asks(Level{101, 5, 1}),
		}},
		{name: "market fok", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 3), ev.accepted(1)),
			do.place(ord.mkt(2, bob, Buy, 4).fok(),
				ev.accepted(2),
				ev.killed(2, 4)),
			is.asks(Level{100, 3, 1}),
			do.place(ord.mkt(3, bob, Buy, 3).fok(),
				ev.accepted(3),
				ev.trade(3, 1, 100, 3, 0, 0)),
			is.asks(),
		}},
	})
}

// ---------------------------------------------------------------------------
// Post-only.

func TestScenarioPostOnly(t *testing.T) {
	runScenarios(t, []scScenario{
		{name: "post-only rests", steps: []scStep{
			do.place(ord.lim(1, alice, Buy, 99, 5), ev.accepted(1)),
			do.place(ord.lim(2, bob, Sell, 100, 5).post(), ev.accepted(2)),
			is.asks(Level{100, 5, 1}),
			is.bids(Level{99, 5, 1}),
			is.order(OrderInfo{ID: 2, Owner: bob, Side: Sell, PostOnly: true, Price: 100, Open: 5, Visible: 5}),
		}},
		{name: "post-only rejected when it would cross", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 5), ev.accepted(1)),
			do.reject(ord.lim(2, bob, Buy, 100, 1).post(), ReasonWouldCross), // at the ask
			do.reject(ord.lim(3, bob, Buy, 101, 1).post(), ReasonWouldCross), // through it
			do.place(ord.lim(4, bob, Buy, 99, 1).post(), ev.accepted(4)),
			do.reject(ord.lim(5, carol, Sell, 99, 1).post(), ReasonWouldCross),
			do.reject(ord.lim(6, carol, Sell, 98, 1).post(), ReasonWouldCross),
			is.asks(Level{100, 5, 1}),
			is.bids(Level{99, 1, 1}),
			is.last(0),
			is.gone(2, 3, 5, 6),
		}},
		{name: "post-only with IOC rejected", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 5), ev.accepted(1)),
			do.reject(ord.lim(2, bob, Buy, 99, 1).post().ioc(), ReasonPostOnlyInvalid),
			is.size(1, 0),
		}},
	})
}

// ---------------------------------------------------------------------------
// Market orders.

func TestScenarioMarket(t *testing.T) {
	runScenarios(t, []scScenario{
		{name: "market by qty: partial fill, remainder expires", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 2), ev.accepted(1)),
			do.place(ord.lim(2, bob, Sell, 105, 3), ev.accepted(2)),
			do.place(ord.mkt(3, carol, Buy, 10),
				ev.accepted(3),
				ev.trade(3, 1, 100, 2, 8, 0),
				ev.trade(3, 2, 105, 3, 5, 0),
				ev.expired(3, 5)),
			is.asks(), is.bids(),
			is.last(105),
			is.size(0, 0),
		}},
		{name: "market sell fills fully", steps: []scStep{
			do.place(ord.lim(1, alice, Buy, 100, 2), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 99, 5), ev.accepted(2)),
			do.place(ord.mkt(3, carol, Sell, 4),
				ev.accepted(3),
				ev.trade(3, 1, 100, 2, 2, 0),
				ev.trade(3, 2, 99, 2, 0, 3)),
			is.bids(Level{99, 3, 1}),
			is.last(99),
		}},
		{name: "market on an empty book expires", steps: []scStep{
			do.place(ord.mkt(1, alice, Buy, 5),
				ev.accepted(1),
				ev.expired(1, 5)),
			do.place(ord.mkt(2, alice, Sell, 5).ioc(),
				ev.accepted(2),
				ev.expired(2, 5)),
			is.size(0, 0),
			is.last(0),
		}},
		{name: "market protection price stops the sweep", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 2), ev.accepted(1)),
			do.place(ord.lim(2, alice, Sell, 101, 2), ev.accepted(2)),
			do.place(ord.lim(3, alice, Sell, 102, 2), ev.accepted(3)),
			do.place(ord.mkt(4, bob, Buy, 5).prot(101),
				ev.accepted(4),
				ev.trade(4, 1, 100, 2, 3, 0),
				ev.trade(4, 2, 101, 2, 1, 0),
				ev.expired(4, 1)),
			is.asks(Level{102, 2, 1}),
			do.place(ord.lim(5, carol, Buy, 99, 2), ev.accepted(5)),
			do.place(ord.lim(6, carol, Buy, 98, 2), ev.accepted(6)),
			do.place(ord.mkt(7, dave, Sell, 5).prot(99),
				ev.accepted(7),
				ev.trade(7, 5, 99, 2, 3, 0),
				ev.expired(7, 3)),
			is.bids(Level{98, 2, 1}),
			is.last(99),
		}},
	})
}

// ---------------------------------------------------------------------------
// Market buys by quote budget.

func TestScenarioBudget(t *testing.T) {
	runScenarios(t, []scScenario{
		{name: "whole lots only, stops where none is affordable", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 3), ev.accepted(1)),
			do.place(ord.lim(2, bob, Sell, 150, 5), ev.accepted(2)),
			do.place(ord.lim(3, carol, Sell, 160, 5), ev.accepted(3)),
			do.place(ord.budget(4, dave, 520),
				ev.accepted(4),
				ev.trade(4, 1, 100, 3, 220, 0), // 300 spent
				ev.trade(4, 2, 150, 1, 70, 4),  // 150 spent, 70 buys nothing at 150
				ev.expiredBudget(4, 70)),
			is.asks(Level{150, 4, 1}, Level{160, 5, 1}),
			is.last(150),
			is.gone(4),
		}},
		{name: "whole lots with a lot size", rules: Rules{LotSize: 5}, steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 10, 10), ev.accepted(1)),
			do.place(ord.lim(2, bob, Sell, 12, 20), ev.accepted(2)),
			do.place(ord.budget(3, carol, 330),
				ev.accepted(3),
				ev.trade(3, 1, 10, 10, 230, 0), // 100 spent
				ev.trade(3, 2, 12, 15, 50, 5),  // 3 lots of 5 at 12: 180 spent, a lot costs 60
				ev.expiredBudget(3, 50)),
			is.asks(Level{12, 5, 1}),
		}},
		{name: "several makers at one price", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 2), ev.accepted(1)),
			do.place(ord.lim(2, bob, Sell, 100, 2), ev.accepted(2)),
			do.place(ord.budget(3, carol, 350),
				ev.accepted(3),
				ev.trade(3, 1, 100, 2, 150, 0),
				ev.trade(3, 2, 100, 1, 50, 1),
				ev.expiredBudget(3, 50)),
			is.asks(Level{100, 1, 1}),
		}},
		{name: "exact spend leaves no expiry", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 5), ev.accepted(1)),
			do.place(ord.budget(2, bob, 300),
				ev.accepted(2),
				ev.trade(2, 1, 100, 3, 0, 2)),
			is.asks(Level{100, 2, 1}),
			is.last(100),
		}},
		{name: "book runs out, unspent budget expires", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 1), ev.accepted(1)),
			do.place(ord.budget(2, bob, 500),
				ev.accepted(2),
				ev.trade(2, 1, 100, 1, 400, 0),
				ev.expiredBudget(2, 400)),
			is.asks(),
		}},
		{name: "budget below one lot trades nothing", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 5), ev.accepted(1)),
			do.place(ord.budget(2, bob, 99),
				ev.accepted(2),
				ev.expiredBudget(2, 99)),
			is.asks(Level{100, 5, 1}),
			is.last(0),
		}},
		{name: "protection price", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 2), ev.accepted(1)),
			do.place(ord.lim(2, alice, Sell, 101, 5), ev.accepted(2)),
			do.place(ord.budget(3, bob, 1000).prot(100),
				ev.accepted(3),
				ev.trade(3, 1, 100, 2, 800, 0),
				ev.expiredBudget(3, 800)),
			is.asks(Level{101, 5, 1}),
		}},
		{name: "qty and budget: the quantity binds", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 5), ev.accepted(1)),
			do.place(ord.budget(2, bob, 1000).with(func(o *Order) { o.Qty = 3 }),
				ev.accepted(2), // Remaining: its Qty
				ev.trade(2, 1, 100, 3, 0, 2)),
			is.asks(Level{100, 2, 1}),
		}},
		{name: "qty and budget: the budget binds, both left on expiry", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 10), ev.accepted(1)),
			do.place(ord.budget(2, bob, 550).with(func(o *Order) { o.Qty = 8 }),
				ev.accepted(2),
				ev.trade(2, 1, 100, 5, 3, 5), // Remaining: quantity left
				ev.expiredWithBudget(2, 3, 50)),
			is.asks(Level{100, 5, 1}),
		}},
		{name: "qty and budget with FOK", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 5), ev.accepted(1)),
			do.place(ord.lim(2, alice, Sell, 110, 5), ev.accepted(2)),
			// 7 cost 5×100 + 2×110 = 720.
			do.place(ord.budget(3, bob, 719).with(func(o *Order) { o.Qty = 7 }).fok(),
				ev.accepted(3),
				ev.killedWithBudget(3, 7, 719)),
			is.asks(Level{100, 5, 1}, Level{110, 5, 1}),
			do.place(ord.budget(4, bob, 720).with(func(o *Order) { o.Qty = 7 }).fok(),
				ev.accepted(4),
				ev.trade(4, 1, 100, 5, 2, 0),
				ev.trade(4, 2, 110, 2, 0, 3)),
			is.asks(Level{110, 3, 1}),
		}},
		{name: "budget with FOK or on a sell rejected", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 5), ev.accepted(1)),
			do.place(ord.lim(2, alice, Buy, 90, 5), ev.accepted(2)),
			do.reject(ord.budget(3, bob, 500).fok(), ReasonInvalidBudget),
			do.reject(ord.budget(4, bob, 500).with(func(o *Order) { o.Side = Sell }), ReasonInvalidBudget),
			is.size(2, 0),
		}},
	})
}

// ---------------------------------------------------------------------------
// Cancel.

func TestScenarioCancel(t *testing.T) {
	runScenarios(t, []scScenario{
		{name: "cancel a resting order", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 101, 5), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 99, 3), ev.accepted(2)),
			do.cancel(1, ev.cancelled(1, 5)),
			is.asks(),
			is.bids(Level{99, 3, 1}),
			is.gone(1),
			is.size(1, 0),
			do.cancel(2, ev.cancelled(2, 3)),
			is.size(0, 0),
		}},
		{name: "cancel a partly filled iceberg removes all its open quantity", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 10).ice(3), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 100, 4),
				ev.accepted(2),
				ev.trade(2, 1, 100, 3, 1, 7),
				ev.trade(2, 1, 100, 1, 0, 6)),
			is.order(OrderInfo{ID: 1, Owner: alice, Side: Sell, Price: 100, Open: 6, Visible: 2, DisplayQty: 3}),
			do.cancel(1, ev.cancelled(1, 6)),
			is.size(0, 0),
			is.asks(),
		}},
		{name: "cancel unknown rejected", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 1), ev.accepted(1)),
			do.cancel(99, ev.rejectedUnknown(99)),
			do.place(ord.lim(2, bob, Buy, 100, 1),
				ev.accepted(2),
				ev.trade(2, 1, 100, 1, 0, 0)),
			do.cancel(1, ev.rejectedUnknown(1)), // filled: no longer live
			do.cancel(2, ev.rejectedUnknown(2)),
			is.size(0, 0),
		}},
		{name: "cancel a pending stop", steps: []scStep{
			do.place(ord.stopLim(1, alice, Buy, 105, 106, 2), ev.accepted(1)),
			do.place(ord.stopBudget(2, alice, 105, 1000), ev.accepted(2)),
			is.size(0, 2),
			do.cancel(1, ev.cancelled(1, 2)),
			do.cancel(2, ev.cancelledBudget(2, 1000)),
			is.size(0, 0),
			is.gone(1, 2),
			do.cancel(1, ev.rejectedUnknown(1)),
		}},
	})
}

// ---------------------------------------------------------------------------
// Amend.

func TestScenarioAmend(t *testing.T) {
	runScenarios(t, []scScenario{
		{name: "lower qty keeps priority", steps: []scStep{
			do.place(ord.lim(1, alice, Buy, 100, 5), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 100, 5), ev.accepted(2)),
			do.amend(1, 100, 3, ev.amended(1, 100, 3, true)),
			is.bids(Level{100, 8, 2}),
			is.all(1, 2),
			is.order(OrderInfo{ID: 1, Owner: alice, Side: Buy, Price: 100, Open: 3, Visible: 3}),
			do.place(ord.lim(3, carol, Sell, 100, 4),
				ev.accepted(3),
				ev.trade(3, 1, 100, 3, 1, 0),
				ev.trade(3, 2, 100, 1, 0, 4)),
			is.bids(Level{100, 4, 1}),
		}},
		{name: "same qty after a partial fill keeps priority", steps: []scStep{
			do.place(ord.lim(1, alice, Buy, 100, 10), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 100, 5), ev.accepted(2)),
			do.place(ord.lim(3, carol, Sell, 100, 4),
				ev.accepted(3),
				ev.trade(3, 1, 100, 4, 0, 6)),
			do.amend(1, 100, 6, ev.amended(1, 100, 6, true)), // the open quantity
			is.all(1, 2),
			do.amend(1, 100, 7, ev.amended(1, 100, 7, false)), // above it
			is.all(2, 1),
			is.bids(Level{100, 12, 2}),
		}},
		{name: "raise qty loses priority", steps: []scStep{
			do.place(ord.lim(1, alice, Buy, 100, 5), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 100, 5), ev.accepted(2)),
			do.amend(1, 100, 6, ev.amended(1, 100, 6, false)),
			is.all(2, 1),
			is.bids(Level{100, 11, 2}),
			do.place(ord.lim(3, carol, Sell, 100, 7),
				ev.accepted(3),
				ev.trade(3, 2, 100, 5, 2, 0),
				ev.trade(3, 1, 100, 2, 0, 4)),
			is.order(OrderInfo{ID: 1, Owner: alice, Side: Buy, Price: 100, Open: 4, Visible: 4}),
		}},
		{name: "price change loses priority", steps: []scStep{
			do.place(ord.lim(1, alice, Buy, 100, 5), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 100, 5), ev.accepted(2)),
			do.place(ord.lim(3, carol, Buy, 99, 5), ev.accepted(3)),
			do.amend(1, 99, 5, ev.amended(1, 99, 5, false)),
			is.bids(Level{100, 5, 1}, Level{99, 10, 2}),
			is.all(2, 3, 1),
			do.amend(2, 101, 2, ev.amended(2, 101, 2, false)), // lower qty, new price
			is.bids(Level{101, 2, 1}, Level{99, 10, 2}),
			do.place(ord.lim(4, dave, Sell, 99, 8),
				ev.accepted(4),
				ev.trade(4, 2, 101, 2, 6, 0),
				ev.trade(4, 3, 99, 5, 1, 0),
				ev.trade(4, 1, 99, 1, 0, 4)),
			is.bids(Level{99, 4, 1}),
			is.order(OrderInfo{ID: 1, Owner: alice, Side: Buy, Price: 99, Open: 4, Visible: 4}),
		}},
		{name: "reprice that crosses trades", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 101, 3), ev.accepted(1)),
			do.place(ord.lim(2, alice, Sell, 102, 5), ev.accepted(2)),
			do.place(ord.lim(3, bob, Buy, 99, 5), ev.accepted(3)),
			do.amend(3, 101, 5,
				ev.amended(3, 101, 5, false),
				ev.trade(3, 1, 101, 3, 2, 0)),
			is.bids(Level{101, 2, 1}),
			is.asks(Level{102, 5, 1}),
			is.order(OrderInfo{ID: 3, Owner: bob, Side: Buy, Price: 101, Open: 2, Visible: 2}),
			is.last(101),
		}},
		{name: "post-only reprice that would cross rejected", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 101, 3), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 99, 5).post(), ev.accepted(2)),
			do.amend(2, 101, 5, ev.rejectedOrder(2, ReasonWouldCross)),
			do.amend(2, 102, 5, ev.rejectedOrder(2, ReasonWouldCross)),
			do.amend(2, 100, 5, ev.amended(2, 100, 5, false)),
			is.bids(Level{100, 5, 1}),
			is.asks(Level{101, 3, 1}),
			is.last(0),
		}},
		{name: "pending stop not amendable", steps: []scStep{
			do.place(ord.stopLim(1, alice, Buy, 105, 106, 2), ev.accepted(1)),
			do.amend(1, 107, 2, ev.rejectedOrder(1, ReasonNotAmendable)),
			do.amend(1, 106, 1, ev.rejectedOrder(1, ReasonNotAmendable)),
			is.order(OrderInfo{ID: 1, Owner: alice, Side: Buy, Type: StopLimit, Price: 106, StopPrice: 105, Open: 2, Stop: true}),
		}},
		{name: "invalid amend values rejected",
			rules: Rules{TickSize: 5, LotSize: 10, MaxPrice: 1000},
			steps: []scStep{
				do.place(ord.lim(1, alice, Buy, 100, 50), ev.accepted(1)),
				do.amend(99, 100, 50, ev.rejectedUnknown(99)),
				do.amend(1, 0, 50, ev.rejectedOrder(1, ReasonInvalidPrice)),
				do.amend(1, -5, 50, ev.rejectedOrder(1, ReasonInvalidPrice)),
				do.amend(1, 1005, 50, ev.rejectedOrder(1, ReasonInvalidPrice)),
				do.amend(1, 102, 50, ev.rejectedOrder(1, ReasonPriceNotOnTick)),
				do.amend(1, 100, 0, ev.rejectedOrder(1, ReasonInvalidQty)),
				do.amend(1, 100, -10, ev.rejectedOrder(1, ReasonInvalidQty)),
				do.amend(1, 100, 55, ev.rejectedOrder(1, ReasonQtyNotOnLot)),
				is.order(OrderInfo{ID: 1, Owner: alice, Side: Buy, Price: 100, Open: 50, Visible: 50}),
				do.amend(1, 1000, 10, ev.amended(1, 1000, 10, false)),
			}},
	})
}

// ---------------------------------------------------------------------------
// Stops.

func TestScenarioStops(t *testing.T) {
	runScenarios(t, []scScenario{
		{name: "buy stop-market triggers when last >= stop", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 1), ev.accepted(1)),
			do.place(ord.lim(2, alice, Sell, 102, 5), ev.accepted(2)),
			do.place(ord.stopMkt(3, bob, Buy, 100, 2), ev.accepted(3)),
			is.size(2, 1),
			is.order(OrderInfo{ID: 3, Owner: bob, Side: Buy, Type: StopMarket, StopPrice: 100, Open: 2, Stop: true}),
			do.place(ord.lim(4, carol, Buy, 99, 1), ev.accepted(4)), // no trade, no trigger
			do.place(ord.lim(5, carol, Buy, 100, 1),
				ev.accepted(5),
				ev.trade(5, 1, 100, 1, 0, 0),
				ev.triggered(3, 100),
				ev.trade(3, 2, 102, 2, 0, 3)),
			is.size(2, 0),
			is.last(102),
			is.gone(3),
			is.asks(Level{102, 3, 1}),
		}},
		{name: "sell stop-limit triggers when last <= stop and rests as a limit", steps: []scStep{
			do.place(ord.lim(1, alice, Buy, 100, 1), ev.accepted(1)),
			do.place(ord.lim(2, alice, Buy, 98, 5), ev.accepted(2)),
			do.place(ord.stopLim(3, bob, Sell, 100, 99, 3), ev.accepted(3)),
			do.place(ord.lim(4, carol, Sell, 100, 1),
				ev.accepted(4),
				ev.trade(4, 1, 100, 1, 0, 0),
				ev.triggered(3, 100)),
			is.asks(Level{99, 3, 1}),
			is.bids(Level{98, 5, 1}),
			is.order(OrderInfo{ID: 3, Owner: bob, Side: Sell, Type: Limit, TIF: GTC, Price: 99, Open: 3, Visible: 3}),
			is.size(2, 0),
		}},
		{name: "stops short of their price stay pending", steps: []scStep{
			do.place(ord.lim(1, alice, Buy, 101, 1), ev.accepted(1)),
			do.place(ord.lim(2, alice, Sell, 105, 1), ev.accepted(2)),
			do.place(ord.stopMkt(3, bob, Sell, 100, 1), ev.accepted(3)),
			do.place(ord.stopMkt(4, bob, Buy, 102, 1), ev.accepted(4)),
			do.place(ord.lim(5, carol, Sell, 101, 1),
				ev.accepted(5),
				ev.trade(5, 1, 101, 1, 0, 0)),
			is.size(1, 2),
			is.last(101),
		}},
		{name: "no trigger before the first trade", steps: []scStep{
			do.place(ord.stopMkt(1, alice, Sell, 100, 1), ev.accepted(1)), // 0 <= 100, but no last price
			do.place(ord.stopLim(2, alice, Sell, 100, 100, 1), ev.accepted(2)),
			do.place(ord.lim(3, bob, Buy, 90, 1), ev.accepted(3)),
			is.size(1, 2),
			is.last(0),
		}},
		{name: "stop placed when already triggered releases at once", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 1), ev.accepted(1)),
			do.place(ord.lim(2, alice, Sell, 101, 5), ev.accepted(2)),
			do.place(ord.lim(3, bob, Buy, 100, 1),
				ev.accepted(3),
				ev.trade(3, 1, 100, 1, 0, 0)),
			do.place(ord.stopMkt(4, carol, Buy, 99, 2),
				ev.accepted(4),
				ev.triggered(4, 100),
				ev.trade(4, 2, 101, 2, 0, 3)),
			is.size(1, 0),
			is.last(101),
			do.place(ord.lim(5, alice, Buy, 90, 5), ev.accepted(5)),
			do.place(ord.stopLim(6, carol, Sell, 105, 90, 1),
				ev.accepted(6),
				ev.triggered(6, 101),
				ev.trade(6, 5, 90, 1, 0, 4)),
			is.last(90),
			is.size(2, 0),
		}},
		{name: "triggered buy stops release lowest stop first, then by arrival", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 106, 1), ev.accepted(1)),
			do.place(ord.lim(2, alice, Sell, 110, 10), ev.accepted(2)),
			do.place(ord.stopLim(10, bob, Buy, 105, 50, 1), ev.accepted(10)),
			do.place(ord.stopLim(11, carol, Buy, 103, 50, 1), ev.accepted(11)),
			do.place(ord.stopLim(12, dave, Buy, 103, 51, 1), ev.accepted(12)),
			do.place(ord.stopLim(13, bob, Buy, 107, 50, 1), ev.accepted(13)),
			is.all(1, 2, 11, 12, 10, 13),
			do.place(ord.lim(20, erin, Buy, 106, 1),
				ev.accepted(20),
				ev.trade(20, 1, 106, 1, 0, 0),
				ev.triggered(11, 106),
				ev.triggered(12, 106),
				ev.triggered(10, 106)),
			is.bids(Level{51, 1, 1}, Level{50, 2, 2}),
			is.all(12, 11, 10, 2, 13),
			is.size(4, 1),
		}},
		{name: "triggered sell stops release highest stop first, then by arrival", steps: []scStep{
			do.place(ord.lim(1, alice, Buy, 94, 1), ev.accepted(1)),
			do.place(ord.lim(2, alice, Buy, 90, 10), ev.accepted(2)),
			do.place(ord.stopLim(30, bob, Sell, 95, 200, 1), ev.accepted(30)),
			do.place(ord.stopLim(31, carol, Sell, 97, 200, 1), ev.accepted(31)),
			do.place(ord.stopLim(32, dave, Sell, 97, 199, 1), ev.accepted(32)),
			do.place(ord.stopLim(33, bob, Sell, 93, 200, 1), ev.accepted(33)),
			is.all(1, 2, 31, 32, 30, 33),
			do.place(ord.lim(40, erin, Sell, 94, 1),
				ev.accepted(40),
				ev.trade(40, 1, 94, 1, 0, 0),
				ev.triggered(31, 94),
				ev.triggered(32, 94),
				ev.triggered(30, 94)),
			is.asks(Level{199, 1, 1}, Level{200, 2, 2}),
			is.all(2, 32, 31, 30, 33),
			is.size(4, 1),
		}},
		{name: "a triggered buy stop goes before a triggered sell stop", steps: []scStep{
			do.place(ord.stopMkt(1, alice, Sell, 100, 1), ev.accepted(1)), // earlier arrival
			do.place(ord.stopMkt(2, bob, Buy, 100, 1), ev.accepted(2)),
			is.all(2, 1),
			do.place(ord.lim(3, carol, Sell, 100, 2), ev.accepted(3)),
			do.place(ord.lim(4, carol, Buy, 99, 5), ev.accepted(4)),
			do.place(ord.lim(5, dave, Buy, 100, 1),
				ev.accepted(5),
				ev.trade(5, 3, 100, 1, 0, 1),
				ev.triggered(2, 100),
				ev.trade(2, 3, 100, 1, 0, 0),
				ev.triggered(1, 100),
				ev.trade(1, 4, 99, 1, 0, 4)),
			is.last(99),
			is.size(1, 0),
		}},
		{name: "cascade: a released stop's trade triggers another", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 1), ev.accepted(1)),
			do.place(ord.lim(2, alice, Sell, 101, 1), ev.accepted(2)),
			do.place(ord.lim(3, alice, Sell, 102, 1), ev.accepted(3)),
			do.place(ord.lim(4, alice, Sell, 103, 5), ev.accepted(4)),
			do.place(ord.stopMkt(10, bob, Buy, 101, 1), ev.accepted(10)),
			do.place(ord.stopMkt(11, carol, Buy, 102, 1), ev.accepted(11)),
			do.place(ord.stopMkt(12, dave, Buy, 104, 1), ev.accepted(12)),
			do.place(ord.lim(20, erin, Buy, 101, 2),
				ev.accepted(20),
				ev.trade(20, 1, 100, 1, 1, 0),
				ev.trade(20, 2, 101, 1, 0, 0),
				ev.triggered(10, 101),
				ev.trade(10, 3, 102, 1, 0, 0),
				ev.triggered(11, 102),
				ev.trade(11, 4, 103, 1, 0, 4)),
			is.last(103),
			is.size(1, 1),
			is.asks(Level{103, 4, 1}),
			is.all(4, 12),
		}},
		{name: "released stop-limit IOC expires what it cannot fill", steps: []scStep{
			do.place(ord.lim(1, alice, Buy, 100, 1), ev.accepted(1)),
			do.place(ord.lim(2, alice, Sell, 103, 1), ev.accepted(2)),
			do.place(ord.stopLim(3, bob, Buy, 100, 101, 2).ioc(), ev.accepted(3)),
			do.place(ord.lim(4, carol, Sell, 100, 1),
				ev.accepted(4),
				ev.trade(4, 1, 100, 1, 0, 0),
				ev.triggered(3, 100),
				ev.expired(3, 2)),
			is.size(1, 0),
		}},
		{name: "released stop-market with nothing to trade expires", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 1), ev.accepted(1)),
			do.place(ord.stopMkt(2, bob, Buy, 100, 3), ev.accepted(2)),
			do.place(ord.lim(3, carol, Buy, 100, 1),
				ev.accepted(3),
				ev.trade(3, 1, 100, 1, 0, 0),
				ev.triggered(2, 100),
				ev.expired(2, 3)),
			is.size(0, 0),
		}},
		{name: "stop-market buy by budget", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 1), ev.accepted(1)),
			do.place(ord.lim(2, alice, Sell, 110, 5), ev.accepted(2)),
			do.place(ord.stopBudget(3, bob, 100, 250), ev.accepted(3)),
			is.order(OrderInfo{ID: 3, Owner: bob, Side: Buy, Type: StopMarket, StopPrice: 100, QuoteBudget: 250, Stop: true}),
			do.place(ord.lim(4, carol, Buy, 100, 1),
				ev.accepted(4),
				ev.trade(4, 1, 100, 1, 0, 0),
				ev.triggered(3, 100),
				ev.trade(3, 2, 110, 2, 30, 3),
				ev.expiredBudget(3, 30)),
			is.asks(Level{110, 3, 1}),
		}},
		{name: "an amend that trades releases stops", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 101, 1), ev.accepted(1)),
			do.place(ord.lim(2, alice, Sell, 105, 5), ev.accepted(2)),
			do.place(ord.lim(3, bob, Buy, 99, 1), ev.accepted(3)),
			do.place(ord.stopMkt(4, carol, Buy, 101, 1), ev.accepted(4)),
			do.amend(3, 101, 1,
				ev.amended(3, 101, 1, false),
				ev.trade(3, 1, 101, 1, 0, 0),
				ev.triggered(4, 101),
				ev.trade(4, 2, 105, 1, 0, 4)),
			is.last(105),
			is.size(1, 0),
		}},
		{name: "stop-market with protection price", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 1), ev.accepted(1)),
			do.place(ord.lim(2, alice, Sell, 101, 1), ev.accepted(2)),
			do.place(ord.lim(3, alice, Sell, 102, 5), ev.accepted(3)),
			do.place(ord.stopMkt(4, bob, Buy, 100, 5).prot(101), ev.accepted(4)),
			do.place(ord.lim(5, carol, Buy, 100, 1),
				ev.accepted(5),
				ev.trade(5, 1, 100, 1, 0, 0),
				ev.triggered(4, 100),
				ev.trade(4, 2, 101, 1, 4, 0),
				ev.expired(4, 4)),
			is.asks(Level{102, 5, 1}),
		}},
	})
}

// ---------------------------------------------------------------------------
// Icebergs.

func TestScenarioIceberg(t *testing.T) {
	runScenarios(t, []scScenario{
		{name: "only the display slice is visible", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 10).ice(3), ev.accepted(1)),
			is.asks(Level{100, 3, 1}),
			is.order(OrderInfo{ID: 1, Owner: alice, Side: Sell, Price: 100, Open: 10, Visible: 3, DisplayQty: 3}),
			do.place(ord.lim(2, bob, Sell, 100, 4), ev.accepted(2)),
			is.asks(Level{100, 7, 2}),
			do.place(ord.lim(3, bob, Buy, 99, 20).ice(20), ev.accepted(3)), // display = qty
			is.bids(Level{99, 20, 1}),
		}},
		{name: "refresh goes to the back of its level", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 10).ice(3), ev.accepted(1)),
			do.place(ord.lim(2, bob, Sell, 100, 4), ev.accepted(2)),
			do.place(ord.lim(3, carol, Buy, 100, 5),
				ev.accepted(3),
				ev.trade(3, 1, 100, 3, 2, 7),
				ev.trade(3, 2, 100, 2, 0, 2)), // bob's order before the new slice
			is.all(2, 1),
			is.asks(Level{100, 5, 2}),
			do.place(ord.lim(4, dave, Buy, 100, 3),
				ev.accepted(4),
				ev.trade(4, 2, 100, 2, 1, 0),
				ev.trade(4, 1, 100, 1, 0, 6)),
			is.order(OrderInfo{ID: 1, Owner: alice, Side: Sell, Price: 100, Open: 6, Visible: 2, DisplayQty: 3}),
			is.asks(Level{100, 2, 1}),
		}},
		{name: "taker larger than the slice meets it again after the others", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 10).ice(3), ev.accepted(1)),
			do.place(ord.lim(2, bob, Sell, 100, 2), ev.accepted(2)),
			do.place(ord.lim(3, carol, Sell, 101, 5), ev.accepted(3)),
			do.place(ord.lim(4, dave, Buy, 101, 14),
				ev.accepted(4),
				ev.trade(4, 1, 100, 3, 11, 7),
				ev.trade(4, 2, 100, 2, 9, 0),
				ev.trade(4, 1, 100, 3, 6, 4),
				ev.trade(4, 1, 100, 3, 3, 1),
				ev.trade(4, 1, 100, 1, 2, 0), // last slice: min(3, 1)
				ev.trade(4, 3, 101, 2, 0, 3)),
			is.asks(Level{101, 3, 1}),
			is.size(1, 0),
		}},
		{name: "iceberg taker rests showing only its slice", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 2), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 100, 10).ice(3),
				ev.accepted(2),
				ev.trade(2, 1, 100, 2, 8, 0)), // trades beyond its slice
			is.bids(Level{100, 3, 1}),
			is.order(OrderInfo{ID: 2, Owner: bob, Side: Buy, Price: 100, Open: 8, Visible: 3, DisplayQty: 3}),
			do.place(ord.lim(3, carol, Sell, 100, 5),
				ev.accepted(3),
				ev.trade(3, 2, 100, 3, 2, 5),
				ev.trade(3, 2, 100, 2, 0, 3)),
			is.bids(Level{100, 1, 1}),
			is.order(OrderInfo{ID: 2, Owner: bob, Side: Buy, Price: 100, Open: 3, Visible: 1, DisplayQty: 3}),
		}},
		{name: "iceberg taker smaller than its slice shows its rest", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 8), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 100, 10).ice(4),
				ev.accepted(2),
				ev.trade(2, 1, 100, 8, 2, 0)),
			is.bids(Level{100, 2, 1}),
			is.order(OrderInfo{ID: 2, Owner: bob, Side: Buy, Price: 100, Open: 2, Visible: 2, DisplayQty: 4}),
		}},
	})
}

// ---------------------------------------------------------------------------
// Self-trade prevention.

func TestScenarioSTP(t *testing.T) {
	// bob 2@100, alice 5@100, bob 5@101; alice buys 6 up to 101.
	base := []scStep{
		do.place(ord.lim(1, bob, Sell, 100, 2), ev.accepted(1)),
		do.place(ord.lim(2, alice, Sell, 100, 5), ev.accepted(2)),
		do.place(ord.lim(3, bob, Sell, 101, 5), ev.accepted(3)),
	}
	with := func(steps ...scStep) []scStep { return append(slices.Clone(base), steps...) }
	runScenarios(t, []scScenario{
		{name: "none trades with own orders", steps: with(
			do.place(ord.lim(4, alice, Buy, 101, 6),
				ev.accepted(4),
				ev.trade(4, 1, 100, 2, 4, 0),
				ev.trade(4, 2, 100, 4, 0, 1)),
			is.asks(Level{100, 1, 1}, Level{101, 5, 1}),
		)},
		{name: "cancel_taker cancels the taker's rest", steps: with(
			do.place(ord.lim(4, alice, Buy, 101, 6).stp(STPCancelTaker),
				ev.accepted(4),
				ev.trade(4, 1, 100, 2, 4, 0),
				ev.stp(4, 4)),
			is.asks(Level{100, 5, 1}, Level{101, 5, 1}),
			is.bids(),
			is.gone(4),
			is.last(100),
		)},
		{name: "cancel_maker cancels the maker and goes on", steps: with(
			do.place(ord.lim(4, alice, Buy, 101, 6).stp(STPCancelMaker),
				ev.accepted(4),
				ev.trade(4, 1, 100, 2, 4, 0),
				ev.stp(2, 5),
				ev.trade(4, 3, 101, 4, 0, 1)),
			is.asks(Level{101, 1, 1}),
			is.gone(2, 4),
		)},
		{name: "cancel_both cancels the maker then the taker", steps: with(
			do.place(ord.lim(4, alice, Buy, 101, 6).stp(STPCancelBoth),
				ev.accepted(4),
				ev.trade(4, 1, 100, 2, 4, 0),
				ev.stp(2, 5),
				ev.stp(4, 4)),
			is.asks(Level{101, 5, 1}),
			is.bids(),
			is.gone(2, 4),
		)},
		{name: "the taker's mode decides, the maker's is irrelevant", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 5).stp(STPCancelBoth), ev.accepted(1)),
			do.place(ord.lim(2, alice, Buy, 100, 2), // STP none
				ev.accepted(2),
				ev.trade(2, 1, 100, 2, 0, 3)),
			do.place(ord.lim(3, alice, Sell, 100, 3), ev.accepted(3)), // STP none
			do.place(ord.lim(4, alice, Buy, 100, 4).stp(STPCancelMaker),
				ev.accepted(4),
				ev.stp(1, 3),
				ev.stp(3, 3)),
			is.asks(),
			is.bids(Level{100, 4, 1}), // nothing left to meet: rests
		}},
		{name: "cancel_taker on a market buy by budget", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 1), ev.accepted(1)),
			do.place(ord.lim(2, bob, Sell, 100, 5), ev.accepted(2)),
			do.place(ord.budget(3, bob, 500).stp(STPCancelTaker),
				ev.accepted(3),
				ev.trade(3, 1, 100, 1, 400, 0),
				ev.stpBudget(3, 400)),
			is.asks(Level{100, 5, 1}),
		}},
		{name: "cancel_maker removes a whole iceberg", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 10).ice(2), ev.accepted(1)),
			do.place(ord.lim(2, alice, Buy, 100, 3).stp(STPCancelMaker),
				ev.accepted(2),
				ev.stp(1, 10)),
			is.asks(),
			is.bids(Level{100, 3, 1}),
		}},
		{name: "cancel_both with a sell taker", steps: []scStep{
			do.place(ord.lim(1, alice, Buy, 100, 5), ev.accepted(1)),
			do.place(ord.mkt(2, alice, Sell, 2).stp(STPCancelBoth),
				ev.accepted(2),
				ev.stp(1, 5),
				ev.stp(2, 2)),
			is.size(0, 0),
			is.last(0),
		}},
		{name: "different owners are not affected", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 5), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 100, 2).stp(STPCancelBoth),
				ev.accepted(2),
				ev.trade(2, 1, 100, 2, 0, 3)),
		}},
	})
}

// ---------------------------------------------------------------------------
// Validation: one rejection reason at a time, each leaving the book as it
// was (the runner compares snapshots).

func TestScenarioValidation(t *testing.T) {
	rules := Rules{TickSize: 5, LotSize: 10, MinQty: 20, MaxQty: 1000, MinNotional: 2000, MaxPrice: 10000}
	// A valid buy: 100 × 20 = 2000.
	buy := func(id uint64) scOrder { return ord.lim(id, bob, Buy, 100, 20) }
	live := []scStep{
		do.place(ord.lim(50, alice, Sell, 500, 20), ev.accepted(50)),
		do.place(ord.stopMkt(51, alice, Buy, 600, 20), ev.accepted(51)),
	}
	with := func(steps ...scStep) []scStep {
		return append(append(slices.Clone(live), steps...), is.size(1, 1), is.last(0))
	}
	runScenarios(t, []scScenario{
		{name: "invalid_id", rules: rules, steps: with(
			do.reject(buy(0), ReasonInvalidID),
		)},
		{name: "invalid_side", rules: rules, steps: with(
			do.reject(buy(1).with(func(o *Order) { o.Side = 2 }), ReasonInvalidSide),
		)},
		{name: "invalid_type", rules: rules, steps: with(
			do.reject(buy(1).with(func(o *Order) { o.Type = 4 }), ReasonInvalidType),
		)},
		{name: "invalid_time_in_force", rules: rules, steps: with(
			do.reject(buy(1).with(func(o *Order) { o.TIF = 3 }), ReasonInvalidTIF),
		)},
		{name: "invalid_stp", rules: rules, steps: with(
			do.reject(buy(1).stp(4), ReasonInvalidSTP),
		)},
		{name: "duplicate_id", rules: rules, steps: with(
			do.reject(buy(50), ReasonDuplicateID), // resting
			do.reject(buy(51), ReasonDuplicateID), // pending stop
		)},
		{name: "post_only_not_allowed", rules: rules, steps: with(
			do.reject(buy(1).post().ioc(), ReasonPostOnlyInvalid),
			do.reject(buy(1).post().fok(), ReasonPostOnlyInvalid),
			do.reject(ord.mkt(1, bob, Buy, 20).post(), ReasonPostOnlyInvalid),
			do.reject(ord.stopLim(1, bob, Buy, 600, 100, 20).post(), ReasonPostOnlyInvalid),
		)},
		{name: "invalid_stop_price", rules: rules, steps: with(
			do.reject(ord.stopMkt(1, bob, Buy, 0, 20), ReasonInvalidStop),      // missing
			do.reject(ord.stopMkt(1, bob, Buy, -5, 20), ReasonInvalidStop),     // negative
			do.reject(ord.stopMkt(1, bob, Buy, 602, 20), ReasonInvalidStop),    // off tick
			do.reject(ord.stopMkt(1, bob, Buy, 10005, 20), ReasonInvalidStop),  // above MaxPrice
			do.reject(ord.stopLim(1, bob, Buy, 0, 100, 20), ReasonInvalidStop), // missing
			do.reject(buy(1).with(func(o *Order) { o.StopPrice = 600 }), ReasonInvalidStop),
			do.reject(ord.mkt(1, bob, Buy, 20).with(func(o *Order) { o.StopPrice = 600 }), ReasonInvalidStop),
		)},
		{name: "invalid_price", rules: rules, steps: with(
			do.reject(ord.lim(1, bob, Buy, 0, 20), ReasonInvalidPrice),
			do.reject(ord.lim(1, bob, Buy, -5, 20), ReasonInvalidPrice),
			do.reject(ord.lim(1, bob, Sell, 10005, 20), ReasonInvalidPrice),
			do.reject(ord.stopLim(1, bob, Buy, 600, 0, 20), ReasonInvalidPrice),
			do.reject(ord.mkt(1, bob, Buy, 20).prot(-5), ReasonInvalidPrice),
			do.reject(ord.mkt(1, bob, Buy, 20).prot(10005), ReasonInvalidPrice),
		)},
		{name: "price_not_on_tick", rules: rules, steps: with(
			do.reject(ord.lim(1, bob, Buy, 102, 20), ReasonPriceNotOnTick),
			do.reject(ord.stopLim(1, bob, Buy, 600, 103, 20), ReasonPriceNotOnTick),
			do.reject(ord.mkt(1, bob, Buy, 20).prot(102), ReasonPriceNotOnTick),
		)},
		{name: "invalid_quote_budget", rules: rules, steps: with(
			do.reject(ord.budget(1, bob, 5000).fok(), ReasonInvalidBudget),
			do.reject(ord.budget(1, bob, 5000).with(func(o *Order) { o.Side = Sell }), ReasonInvalidBudget),
			do.reject(buy(1).with(func(o *Order) { o.QuoteBudget = 5000 }), ReasonInvalidBudget),
			do.reject(ord.budget(1, bob, -1), ReasonInvalidBudget),
		)},
		{name: "below_min_notional", rules: rules, steps: with(
			do.reject(ord.lim(1, bob, Buy, 95, 20), ReasonBelowMinNotional), // 1900
			do.reject(ord.stopLim(1, bob, Buy, 600, 50, 30), ReasonBelowMinNotional),
			do.reject(ord.budget(1, bob, 1999), ReasonBelowMinNotional),
		)},
		{name: "a budget with a quantity is an order by quantity: no min notional", rules: rules, steps: with(
			// Market orders by quantity are not held to MinNotional; a
			// budget only caps what this one may spend.
			do.place(ord.budget(1, bob, 1000).with(func(o *Order) { o.Qty = 20 }),
				ev.accepted(1),
				ev.expiredWithBudget(1, 20, 1000)), // a lot at 500 costs 5000
			do.place(ord.budget(2, bob, 1).with(func(o *Order) { o.Qty = 20; o.TIF = FOK }),
				ev.accepted(2),
				ev.killedWithBudget(2, 20, 1)),
		)},
		{name: "invalid_quantity", rules: rules, steps: with(
			do.reject(ord.lim(1, bob, Buy, 100, 0), ReasonInvalidQty),
			do.reject(ord.lim(1, bob, Buy, 100, -20), ReasonInvalidQty),
			do.reject(ord.mkt(1, bob, Buy, 0), ReasonInvalidQty), // no budget either
			do.reject(ord.stopMkt(1, bob, Buy, 600, 0), ReasonInvalidQty),
			do.reject(ord.mkt(1, bob, Sell, 0), ReasonInvalidQty),
		)},
		{name: "quantity_not_on_lot", rules: rules, steps: with(
			do.reject(ord.lim(1, bob, Buy, 100, 25), ReasonQtyNotOnLot),
			do.reject(ord.mkt(1, bob, Sell, 25), ReasonQtyNotOnLot),
			do.reject(ord.budget(1, bob, 5000).with(func(o *Order) { o.Qty = 25 }), ReasonQtyNotOnLot),
		)},
		{name: "quantity_below_min", rules: rules, steps: with(
			do.reject(ord.lim(1, bob, Buy, 1000, 10), ReasonQtyBelowMin),
		)},
		{name: "quantity_above_max", rules: rules, steps: with(
			do.reject(ord.lim(1, bob, Buy, 100, 1010), ReasonQtyAboveMax),
		)},
		{name: "invalid_display_quantity", rules: rules, steps: with(
			do.reject(buy(1).ioc().ice(10), ReasonInvalidDisplay),
			do.reject(buy(1).fok().ice(10), ReasonInvalidDisplay),
			do.reject(ord.mkt(1, bob, Buy, 20).ice(10), ReasonInvalidDisplay),
			do.reject(ord.stopMkt(1, bob, Buy, 600, 20).ice(10), ReasonInvalidDisplay),
			do.reject(buy(1).ice(30), ReasonInvalidDisplay),  // above qty
			do.reject(buy(1).ice(15), ReasonInvalidDisplay),  // off lot
			do.reject(buy(1).ice(-10), ReasonInvalidDisplay), // negative
		)},
		{name: "post_only_would_cross", rules: rules, steps: with(
			do.reject(ord.lim(1, bob, Buy, 500, 20).post(), ReasonWouldCross),
		)},
		{name: "unknown_order", rules: rules, steps: with(
			do.cancel(99, ev.rejectedUnknown(99)),
			do.amend(99, 100, 20, ev.rejectedUnknown(99)),
		)},
		{name: "not_amendable", rules: rules, steps: with(
			do.amend(51, 600, 20, ev.rejectedOrder(51, ReasonNotAmendable)),
		)},
		{name: "notional_overflow is rejected, never wrapped", steps: []scStep{
			do.reject(ord.lim(1, alice, Sell, 1<<62, 2), ReasonNotionalOverflow), // exactly 2^63
			do.reject(ord.lim(2, alice, Sell, math.MaxInt64/2, 3), ReasonNotionalOverflow),
			do.reject(ord.lim(3, alice, Buy, math.MaxInt64, math.MaxInt64), ReasonNotionalOverflow),
			do.reject(ord.stopLim(4, alice, Buy, 10, 1<<40, 1<<40), ReasonNotionalOverflow),
			do.place(ord.lim(5, alice, Sell, math.MaxInt64/2, 2), ev.accepted(5)), // fits
			is.asks(Level{math.MaxInt64 / 2, 2, 1}),
			is.size(1, 0),
		}},
		{name: "limits are inclusive", rules: rules, steps: with(
			do.place(buy(1), ev.accepted(1)),                             // notional == MinNotional, qty == MinQty
			do.place(ord.lim(2, bob, Sell, 10000, 1000), ev.accepted(2)), // price == MaxPrice, qty == MaxQty
			do.place(ord.lim(3, bob, Buy, 105, 40).ice(40), ev.accepted(3)),
			do.place(ord.budget(4, bob, 2000), // == MinNotional; a lot at 500 costs 5000
				ev.accepted(4),
				ev.expiredBudget(4, 2000)),
			do.cancel(1, ev.cancelled(1, 20)),
			do.cancel(2, ev.cancelled(2, 1000)),
			do.cancel(3, ev.cancelled(3, 40)),
		)},
		{name: "first failing check wins", rules: rules, steps: with(
			do.reject(buy(0).with(func(o *Order) { o.Side = 2 }), ReasonInvalidID),
			do.reject(buy(1).with(func(o *Order) { o.Side, o.Type = 2, 9 }), ReasonInvalidSide),
			do.reject(buy(1).with(func(o *Order) { o.Type, o.TIF = 9, 7 }), ReasonInvalidType),
			do.reject(buy(1).with(func(o *Order) { o.TIF, o.STP = 7, 9 }), ReasonInvalidTIF),
			do.reject(buy(50).stp(9), ReasonInvalidSTP),
			do.reject(buy(50).post().ioc(), ReasonDuplicateID),
			do.reject(buy(1).post().ioc().with(func(o *Order) { o.StopPrice = 7 }), ReasonPostOnlyInvalid),
			do.reject(ord.lim(1, bob, Buy, 0, 20).with(func(o *Order) { o.StopPrice = 600 }), ReasonInvalidStop),
			do.reject(ord.lim(1, bob, Buy, 0, 0), ReasonInvalidPrice),
			do.reject(ord.lim(1, bob, Buy, 102, 0), ReasonPriceNotOnTick),
			do.reject(ord.budget(1, bob, 5000).fok().ice(10), ReasonInvalidBudget),
			do.reject(ord.lim(1, bob, Buy, 100, 25).ice(15), ReasonQtyNotOnLot),
			do.reject(ord.lim(1, bob, Buy, 5, 20).ice(30), ReasonInvalidDisplay),
		)},
		{name: "an id can be reused once its order has left", steps: []scStep{
			do.place(ord.lim(1, alice, Sell, 100, 1), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 100, 1),
				ev.accepted(2),
				ev.trade(2, 1, 100, 1, 0, 0)),
			do.place(ord.lim(1, carol, Buy, 90, 3), ev.accepted(1)),
			do.place(ord.stopMkt(2, carol, Sell, 80, 3), ev.accepted(2)),
			do.cancel(2, ev.cancelled(2, 3)),
			do.place(ord.lim(2, dave, Sell, 95, 1), ev.accepted(2)),
			is.all(1, 2),
		}},
	})
}

func TestScenarioNewRejectsBadRules(t *testing.T) {
	for _, r := range []Rules{
		{TickSize: -1},
		{LotSize: -1},
		{MinQty: -1},
		{MaxQty: -1},
		{MinNotional: -1},
		{MaxPrice: -1},
		{LotSize: 10, MinQty: 15}, // MinQty not on lot
	} {
		if _, err := New(r, nil); err == nil {
			t.Errorf("New(%+v) = nil error, want one", r)
		}
	}
	b, err := New(Rules{LotSize: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Rules{TickSize: 1, LotSize: 10, MinQty: 10, MaxQty: math.MaxInt64, MaxPrice: math.MaxInt64}
	if got := b.Rules(); got != want {
		t.Errorf("Rules() = %+v, want %+v", got, want)
	}
}

// ---------------------------------------------------------------------------
// Queries.

func TestScenarioQueries(t *testing.T) {
	runScenarios(t, []scScenario{
		{name: "depth aggregates price, visible qty and order count", steps: []scStep{
			do.place(ord.lim(1, alice, Buy, 100, 5), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 100, 10).ice(4), ev.accepted(2)),
			do.place(ord.lim(3, carol, Buy, 99, 7), ev.accepted(3)),
			do.place(ord.lim(4, alice, Buy, 98, 1), ev.accepted(4)),
			do.place(ord.lim(5, bob, Buy, 100, 2), ev.accepted(5)),
			do.place(ord.lim(6, carol, Sell, 103, 3), ev.accepted(6)),
			do.place(ord.lim(7, alice, Sell, 102, 2), ev.accepted(7)),
			do.place(ord.lim(8, bob, Sell, 102, 6), ev.accepted(8)),
			do.place(ord.stopMkt(9, bob, Sell, 90, 6), ev.accepted(9)), // not in depth
			is.bids(Level{100, 11, 3}, Level{99, 7, 1}, Level{98, 1, 1}),
			is.asks(Level{102, 8, 2}, Level{103, 3, 1}),
			is.all(1, 2, 5, 3, 4, 7, 8, 6, 9),
			is.size(8, 1),
			scCheckStep("depth limits and appends", func(b scBook) string {
				prefix := Level{Price: -1}
				got := b.Depth([]Level{prefix}, Buy, 2)
				want := []Level{prefix, {100, 11, 3}, {99, 7, 1}}
				if !slices.Equal(got, want) {
					return fmt.Sprintf("Depth([prefix], Buy, 2) = %v, want %v", got, want)
				}
				if got := b.Depth(nil, Sell, 1); !slices.Equal(got, []Level{{102, 8, 2}}) {
					return fmt.Sprintf("Depth(nil, Sell, 1) = %v", got)
				}
				return ""
			}),
			do.place(ord.lim(10, dave, Sell, 100, 6),
				ev.accepted(10),
				ev.trade(10, 1, 100, 5, 1, 0),
				ev.trade(10, 2, 100, 1, 0, 9)),
			is.bids(Level{100, 5, 2}, Level{99, 7, 1}, Level{98, 1, 1}), // 3 of 2's slice + 5's 2
		}},
		{name: "All() snapshot order and contents", steps: []scStep{
			do.place(ord.lim(1, alice, Buy, 100, 5), ev.accepted(1)),
			do.place(ord.lim(2, bob, Buy, 101, 3).stp(STPCancelMaker), ev.accepted(2)),
			do.place(ord.lim(3, carol, Buy, 100, 4).post(), ev.accepted(3)),
			do.place(ord.lim(4, alice, Sell, 105, 6).ice(2), ev.accepted(4)),
			do.place(ord.lim(5, bob, Sell, 104, 1).stp(STPCancelBoth), ev.accepted(5)),
			do.place(ord.stopMkt(6, carol, Sell, 90, 1), ev.accepted(6)),
			do.place(ord.stopLim(7, dave, Sell, 95, 94, 2).ioc(), ev.accepted(7)),
			do.place(ord.stopLim(8, dave, Buy, 110, 111, 4).ice(2), ev.accepted(8)),
			do.place(ord.stopMkt(9, erin, Buy, 108, 3).prot(112).fok(), ev.accepted(9)),
			do.place(ord.stopBudget(10, erin, 120, 5000).stp(STPCancelTaker), ev.accepted(10)),
			is.allInfo(
				OrderInfo{ID: 2, Owner: bob, Side: Buy, STP: STPCancelMaker, Price: 101, Open: 3, Visible: 3},
				OrderInfo{ID: 1, Owner: alice, Side: Buy, Price: 100, Open: 5, Visible: 5},
				OrderInfo{ID: 3, Owner: carol, Side: Buy, PostOnly: true, Price: 100, Open: 4, Visible: 4},
				OrderInfo{ID: 5, Owner: bob, Side: Sell, STP: STPCancelBoth, Price: 104, Open: 1, Visible: 1},
				OrderInfo{ID: 4, Owner: alice, Side: Sell, Price: 105, Open: 6, Visible: 2, DisplayQty: 2},
				OrderInfo{ID: 9, Owner: erin, Side: Buy, Type: StopMarket, TIF: FOK, Price: 112, StopPrice: 108, Open: 3, Stop: true},
				OrderInfo{ID: 8, Owner: dave, Side: Buy, Type: StopLimit, Price: 111, StopPrice: 110, Open: 4, DisplayQty: 2, Stop: true},
				OrderInfo{ID: 10, Owner: erin, Side: Buy, Type: StopMarket, STP: STPCancelTaker, StopPrice: 120, QuoteBudget: 5000, Stop: true},
				OrderInfo{ID: 7, Owner: dave, Side: Sell, Type: StopLimit, TIF: IOC, Price: 94, StopPrice: 95, Open: 2, Stop: true},
				OrderInfo{ID: 6, Owner: carol, Side: Sell, Type: StopMarket, StopPrice: 90, Open: 1, Stop: true},
			),
			is.size(5, 5),
			scCheckStep("All stops early", func(b scBook) string {
				var got []uint64
				for oi := range b.All() {
					got = append(got, oi.ID)
					if len(got) == 3 {
						break
					}
				}
				if !slices.Equal(got, []uint64{2, 1, 3}) {
					return fmt.Sprintf("first 3 of All() = %v", got)
				}
				return ""
			}),
		}},
		{name: "empty book", steps: []scStep{
			is.bids(), is.asks(), is.all(), is.size(0, 0), is.last(0), is.gone(1),
		}},
	})
}
