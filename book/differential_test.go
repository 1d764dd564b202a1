package book

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// diffRules are the non-trivial rules of the differential test. MaxPrice
// (on tick, as New requires) is high enough that price × quantity can
// overflow (notional_overflow) while prices above it stay reachable
// (invalid_price).
var diffRules = Rules{TickSize: 5, LotSize: 2, MinQty: 4, MaxQty: 1000, MinNotional: 50, MaxPrice: (1 << 62) / 5 * 5}

// diffKind is the command of a diffOp.
type diffKind uint8

const (
	opPlace diffKind = iota
	opCancel
	opAmend
)

// diffOp is one command applied to both Book and refBook.
type diffOp struct {
	kind       diffKind
	order      Order  // opPlace
	id         uint64 // opCancel, opAmend
	price, qty int64  // opAmend
}

func (op diffOp) String() string {
	switch op.kind {
	case opCancel:
		return fmt.Sprintf("Cancel(%d)", op.id)
	case opAmend:
		return fmt.Sprintf("Amend(%d, price=%d, qty=%d)", op.id, op.price, op.qty)
	}
	o := op.order
	var sb strings.Builder
	fmt.Fprintf(&sb, "Place{ID:%d Owner:%d Side:%v Type:%v TIF:%v STP:%v", o.ID, o.Owner, o.Side, o.Type, o.TIF, o.STP)
	if o.PostOnly {
		sb.WriteString(" PostOnly")
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"Price", o.Price}, {"StopPrice", o.StopPrice}, {"Qty", o.Qty}, {"QuoteBudget", o.QuoteBudget}, {"DisplayQty", o.DisplayQty}} {
		if f.v != 0 {
			fmt.Fprintf(&sb, " %s:%d", f.name, f.v)
		}
	}
	sb.WriteString("}")
	return sb.String()
}

// diffRecord is one applied op and the reference's answer, for context.
type diffRecord struct {
	n   int
	op  diffOp
	evs []Event
	err error
}

// diffPair runs a Book and a refBook side by side and compares them.
type diffPair struct {
	b        *Book
	r        *refBook
	evB, evR []Event
	// nb is a twin of b without an index, driven by handles: it must
	// give b's events, handles included.
	nb      *handleTwin
	n       int          // ops applied
	hist    []diffRecord // the last histLen ops, a ring indexed by n
	histLen int
	depthB  []Level
}

// newDiffPair returns a pair of empty books with rules that remembers the
// last histLen ops for failure reports.
func newDiffPair(tb testing.TB, rules Rules, histLen int) *diffPair {
	b, err := New(rules, nil)
	if err != nil {
		tb.Fatalf("New(%+v): %v", rules, err)
	}
	nb, err := newHandleTwin(rules, 0)
	if err != nil {
		tb.Fatalf("New(%+v, NoIndex): %v", rules, err)
	}
	return &diffPair{b: b, r: newRefBook(rules), nb: nb, histLen: histLen}
}

// apply runs op on both books and returns a description of the first
// difference (events, error, or a failed Check), or "".
func (p *diffPair) apply(op diffOp) string {
	var errR error
	p.evR = p.evR[:0]
	switch op.kind {
	case opPlace:
		o := op.order
		p.evR, errR = p.r.Place(p.evR, &o)
	case opCancel:
		p.evR, errR = p.r.Cancel(p.evR, op.id)
	case opAmend:
		p.evR, errR = p.r.Amend(p.evR, op.id, op.price, op.qty)
	}
	panicked, errB := p.applyBook(op)
	p.n++
	var msg string
	switch {
	case panicked != nil:
		msg = fmt.Sprintf("Book panicked: %v\n  ref: err=%v\n%s", panicked, errR, fmtEvents(p.evR))
	case errB != errR || !slices.Equal(withoutHandles(p.evB), p.evR):
		msg = fmt.Sprintf("events differ\n book: err=%v\n%s  ref: err=%v\n%s", errB, fmtEvents(p.evB), errR, fmtEvents(p.evR))
	default:
		if err := p.b.Check(); err != nil {
			msg = fmt.Sprintf("Check: %v\n events:\n%s", err, fmtEvents(p.evB))
		} else if err := checkHandles(p.b, p.evB); err != nil {
			msg = fmt.Sprintf("handles: %v\n events:\n%s", err, fmtEvents(p.evB))
		} else {
			msg = p.applyTwin(op, errB)
		}
	}
	if msg != "" {
		return p.report(op, msg)
	}
	if p.histLen > 0 {
		i := (p.n - 1) % p.histLen
		if i == len(p.hist) {
			p.hist = append(p.hist, diffRecord{})
		}
		h := &p.hist[i]
		h.n, h.op, h.evs, h.err = p.n, op, append(h.evs[:0], p.evR...), errR
	}
	return ""
}

// applyBook runs op on the Book, turning a panic into a value.
func (p *diffPair) applyBook(op diffOp) (panicked any, err error) {
	defer func() {
		if v := recover(); v != nil {
			panicked = fmt.Sprintf("%v\n%s", v, debug.Stack())
		}
	}()
	p.evB = p.evB[:0]
	switch op.kind {
	case opPlace:
		o := op.order
		p.evB, err = p.b.Place(p.evB, &o)
	case opCancel:
		p.evB, err = p.b.Cancel(p.evB, op.id)
	case opAmend:
		p.evB, err = p.b.Amend(p.evB, op.id, op.price, op.qty)
	}
	return nil, err
}

// applyTwin runs op on the book without an index, by handle, and
// compares its events (handles included) and state with the indexed
// book's; it returns "" if they agree.
func (p *diffPair) applyTwin(op diffOp, errB error) string {
	var evs []Event
	var err error
	switch op.kind {
	case opPlace:
		var ok bool
		if evs, err, ok = p.nb.place(op.order, errB); !ok {
			return ""
		}
	case opCancel:
		evs, err = p.nb.cancel(op.id)
	case opAmend:
		evs, err = p.nb.amend(op.id, op.price, op.qty)
	}
	switch {
	case err != errB || !slices.Equal(evs, p.evB):
		return fmt.Sprintf("the book without an index differs: err=%v\n%s", err, fmtEvents(evs))
	case !slices.Equal(slices.Collect(p.nb.b.All()), slices.Collect(p.b.All())):
		return "the book without an index holds other orders"
	}
	if err := p.nb.b.Check(); err != nil {
		return fmt.Sprintf("the book without an index: Check: %v", err)
	}
	return ""
}

// diffFails replays ops on a fresh pair and reports whether Book and
// refBook diverge (events, Check or state) at some point.
func diffFails(tb testing.TB, rules Rules, ops []diffOp) bool {
	p := newDiffPair(tb, rules, 0)
	for _, op := range ops {
		if p.apply(op) != "" || p.compareState(true) != "" {
			return true
		}
	}
	return false
}

// minimizeOps shrinks a failing command sequence: first to the shortest
// failing suffix among lengths 1, 2, 4, ..., then by removing chunks of
// commands (delta debugging) and finally single commands.
func minimizeOps(tb testing.TB, rules Rules, ops []diffOp) []diffOp {
	for n := 1; n < len(ops); n *= 2 {
		if diffFails(tb, rules, ops[len(ops)-n:]) {
			ops = ops[len(ops)-n:]
			break
		}
	}
	for chunk := len(ops) / 2; chunk >= 1; chunk /= 2 {
		for i := 0; i+chunk <= len(ops); {
			try := slices.Concat(ops[:i], ops[i+chunk:])
			if len(try) > 0 && diffFails(tb, rules, try) {
				ops = try
			} else {
				i += chunk
			}
		}
	}
	return ops
}

// reproduction formats a minimized failing sequence with both books' events.
func reproduction(tb testing.TB, rules Rules, ops []diffOp) string {
	min := minimizeOps(tb, rules, ops)
	p := newDiffPair(tb, rules, len(min))
	var sb strings.Builder
	fmt.Fprintf(&sb, "minimal reproduction (%d of %d ops), rules %+v:\n", len(min), len(ops), rules)
	for _, op := range min {
		if msg := p.apply(op); msg != "" {
			fmt.Fprintf(&sb, "%s\n", msg)
			return sb.String()
		}
		if msg := p.compareState(true); msg != "" {
			fmt.Fprintf(&sb, "%s\n", p.report(op, "state differs after it: "+msg))
			return sb.String()
		}
	}
	return sb.String() + "(did not reproduce)\n"
}

// report formats a divergence at op with the preceding context.
func (p *diffPair) report(op diffOp, msg string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "divergence at op #%d (book: %d resting, %d stops, last %d)\n", p.n, p.r.Len(), p.r.Stops(), p.r.LastPrice())
	if len(p.hist) > 0 {
		hist := slices.DeleteFunc(slices.Clone(p.hist), func(h diffRecord) bool { return h.n >= p.n })
		slices.SortFunc(hist, func(a, b diffRecord) int { return a.n - b.n })
		fmt.Fprintf(&sb, "preceding %d ops (reference events):\n", len(hist))
		for _, h := range hist {
			fmt.Fprintf(&sb, "#%d %v -> err=%v\n%s", h.n, h.op, h.err, fmtEvents(h.evs))
		}
	}
	fmt.Fprintf(&sb, "DIVERGING #%d %v\n%s", p.n, op, msg)
	return sb.String()
}

// compareState compares the query methods of both books; full adds Depth,
// All and Order (also of ids that are not live). A panic in Book is
// reported as a difference.
func (p *diffPair) compareState(full bool) (msg string) {
	defer func() {
		if v := recover(); v != nil {
			msg = fmt.Sprintf("Book panicked in a query: %v\n%s", v, debug.Stack())
		}
	}()
	b, r := p.b, p.r
	var bb, rb [3]any
	bb[0], bb[1], bb[2] = b.BestBid()
	rb[0], rb[1], rb[2] = r.BestBid()
	if bb != rb {
		return fmt.Sprintf("BestBid: book %v ref %v", bb, rb)
	}
	bb[0], bb[1], bb[2] = b.BestAsk()
	rb[0], rb[1], rb[2] = r.BestAsk()
	if bb != rb {
		return fmt.Sprintf("BestAsk: book %v ref %v", bb, rb)
	}
	if b.Len() != r.Len() || b.Stops() != r.Stops() || b.LastPrice() != r.LastPrice() {
		return fmt.Sprintf("Len/Stops/LastPrice: book %d/%d/%d ref %d/%d/%d",
			b.Len(), b.Stops(), b.LastPrice(), r.Len(), r.Stops(), r.LastPrice())
	}
	if !full {
		return ""
	}
	for _, side := range []Side{Buy, Sell} {
		p.depthB = b.Depth(p.depthB[:0], side, 10)
		if dr := r.Depth(nil, side, 10); !slices.Equal(p.depthB, dr) {
			return fmt.Sprintf("Depth(%v, 10):\n book %v\n  ref %v", side, p.depthB, dr)
		}
	}
	allR := r.All()
	allB := slices.Collect(b.All())
	if !slices.Equal(allB, allR) {
		for i := range max(len(allB), len(allR)) {
			var ib, ir OrderInfo
			if i < len(allB) {
				ib = allB[i]
			}
			if i < len(allR) {
				ir = allR[i]
			}
			if ib != ir {
				return fmt.Sprintf("All()[%d] (of %d / %d):\n book %+v\n  ref %+v", i, len(allB), len(allR), ib, ir)
			}
		}
	}
	for _, in := range allR {
		if got, ok := b.Order(in.ID); !ok || got != in {
			return fmt.Sprintf("Order(%d):\n book %+v %v\n  ref %+v", in.ID, got, ok, in)
		}
	}
	for _, id := range []uint64{0, 1, 2, 3, 1 << 40, math.MaxUint64} {
		if _, live := r.Order(id); !live {
			if got, ok := b.Order(id); ok || got != (OrderInfo{}) {
				return fmt.Sprintf("Order(%d) of an id that is not live: book %+v %v", id, got, ok)
			}
		}
	}
	return ""
}

// diffGen generates a random stream of commands, steered by the reference
// book's state so that it hits live ids, crosses often and stays bounded.
type diffGen struct {
	rng    *rand.Rand
	rules  Rules
	ref    *refBook
	nextID uint64
	mid    int64
	recent []uint64 // ids placed lately, live or not, for id reuse
}

// newDiffGen returns a generator seeded with seed that steers by ref.
func newDiffGen(seed uint64, rules Rules, ref *refBook) *diffGen {
	return &diffGen{
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		rules: rules.withDefaults(), ref: ref, nextID: 1, mid: 200 * rules.withDefaults().TickSize,
	}
}

// chance is true one time in n.
func (g *diffGen) chance(n int) bool { return g.rng.IntN(n) == 0 }

// freshID returns an id never used before and remembers it for reuse.
func (g *diffGen) freshID() uint64 {
	id := g.nextID
	g.nextID++
	if len(g.recent) < 512 {
		g.recent = append(g.recent, id)
	} else {
		g.recent[g.rng.IntN(len(g.recent))] = id
	}
	return id
}

// price returns a price on tick within ±10 ticks of mid, on its own side
// of mid more often than not so that the book has some depth.
func (g *diffGen) price(side Side) int64 {
	k := int64(g.rng.IntN(21) - 10)
	if g.rng.IntN(3) > 0 && (k > 0) == (side == Buy) {
		k = -k
	}
	return g.mid + g.rules.TickSize*k
}

// qty returns a valid quantity, mostly small.
func (g *diffGen) qty() int64 {
	lot := g.rules.LotSize
	minLots := (g.rules.MinQty + lot - 1) / lot
	if g.chance(10) {
		return lot * (minLots + g.rng.Int64N(100))
	}
	return lot * (minLots + g.rng.Int64N(15))
}

// tif returns a time in force, mostly GTC.
func (g *diffGen) tif() TimeInForce {
	switch x := g.rng.IntN(20); {
	case x < 14:
		return GTC
	case x < 17:
		return IOC
	}
	return FOK
}

// stopPrice returns a stop price around the last trade price.
func (g *diffGen) stopPrice() int64 {
	base := g.ref.LastPrice()
	if base == 0 {
		base = g.mid
	}
	return max(g.rules.TickSize, base+g.rules.TickSize*int64(g.rng.IntN(13)-6))
}

// liveResting returns a random resting order of the reference, or nil.
func (g *diffGen) liveResting() *refOrder {
	if len(g.ref.orders) == 0 {
		return nil
	}
	return g.ref.orders[g.rng.IntN(len(g.ref.orders))]
}

// deadID returns an id that is not live (a finished one if possible).
func (g *diffGen) deadID() uint64 {
	for range 4 {
		if len(g.recent) == 0 {
			break
		}
		id := g.recent[g.rng.IntN(len(g.recent))]
		if g.ref.resting(id) == nil && g.ref.stop(id) == nil {
			return id
		}
	}
	return g.nextID + 1_000_000 + g.rng.Uint64N(1000)
}

// next returns the next command: mostly places, some cancels and amends,
// more cancels when the book is large.
func (g *diffGen) next() diffOp {
	if g.chance(2000) {
		g.mid = min(max(g.mid+g.rules.TickSize*int64(g.rng.IntN(7)-3), 100*g.rules.TickSize), 300*g.rules.TickSize)
	}
	cancelP := 10
	if g.ref.Len() > 150 {
		cancelP = 45
	}
	switch x := g.rng.IntN(100); {
	case x < cancelP:
		return g.cancel()
	case x < cancelP+15:
		return g.amend()
	}
	return diffOp{kind: opPlace, order: g.place()}
}

// cancel returns a Cancel of a live order, a pending stop or an unknown id.
func (g *diffGen) cancel() diffOp {
	op := diffOp{kind: opCancel}
	switch x := g.rng.IntN(10); {
	case x < 7 && len(g.ref.orders) > 0:
		op.id = g.liveResting().id
	case x < 9 && len(g.ref.stops) > 0:
		op.id = g.ref.stops[g.rng.IntN(len(g.ref.stops))].id
	case g.chance(8):
		op.id = 0
	default:
		op.id = g.deadID()
	}
	return op
}

// amend returns an Amend that keeps or loses priority, may cross, or is
// invalid, or targets a pending stop or an unknown id.
func (g *diffGen) amend() diffOp {
	op := diffOp{kind: opAmend}
	o := g.liveResting()
	if o == nil || g.chance(12) {
		op.id = g.deadID()
		if len(g.ref.stops) > 0 && g.chance(2) {
			op.id = g.ref.stops[g.rng.IntN(len(g.ref.stops))].id
		}
		op.price, op.qty = g.price(Side(g.rng.IntN(2))), g.qty()
		return op
	}
	lot, tick := g.rules.LotSize, g.rules.TickSize
	op.id, op.price = o.id, o.price
	switch x := g.rng.IntN(20); {
	case x < 8: // keep priority (some below MinQty: rejected)
		op.qty = lot * (1 + g.rng.Int64N(o.open/lot))
	case x < 10: // same price, more: loses priority
		op.qty = o.open + lot*(1+g.rng.Int64N(5))
	case x < 17: // new price, may cross
		op.price, op.qty = g.price(o.side), g.qty()
	case x < 18: // crossing reprice
		op.qty = g.qty()
		if m := g.ref.best(o.side.Opposite()); m != nil {
			op.price = m.price
			if g.chance(2) {
				op.price += tick * int64(1-2*int(o.side)) * int64(g.rng.IntN(3))
			}
		}
	default: // invalid
		op.qty = o.open
		switch g.rng.IntN(8) {
		case 0:
			op.price = 0
		case 1:
			op.price = -tick
		case 2:
			op.price++
		case 3:
			op.qty = 0
		case 4:
			op.qty = o.open + 1
		case 5:
			op.qty = g.rules.MaxQty + lot
		case 6:
			op.price = g.rules.MaxPrice / tick * tick
			op.qty = 1000
		case 7:
			op.price, op.qty = tick, g.rules.MinQty
		}
	}
	return op
}

// place returns a new order of any type, sometimes corrupted.
func (g *diffGen) place() Order {
	lot := g.rules.LotSize
	o := Order{ID: g.freshID(), Owner: uint64(1 + g.rng.IntN(4)), Side: Side(g.rng.IntN(2))}
	if g.chance(50) {
		o.ID = g.deadID() // reuse of a finished id is allowed
	}
	if !g.chance(3) {
		o.STP = STPMode(g.rng.IntN(4))
	}
	x := g.rng.IntN(100)
	if x >= 70 && g.ref.Stops() > 40 {
		x = g.rng.IntN(70)
	}
	switch {
	case x < 55:
		o.Type, o.TIF, o.Price, o.Qty = Limit, g.tif(), g.price(o.Side), g.qty()
		if o.TIF == GTC && g.chance(8) {
			o.PostOnly = true
		}
		if o.TIF == GTC && g.chance(5) {
			o.DisplayQty = lot * (1 + g.rng.Int64N(o.Qty/lot))
		}
	case x < 85:
		o.Type = Market
		if x >= 70 {
			o.Type, o.StopPrice = StopMarket, g.stopPrice()
		}
		o.TIF = TimeInForce(g.rng.IntN(3))
		if g.chance(3) {
			o.Price = g.price(o.Side)
		}
		if o.Side == Buy && g.chance(3) {
			o.QuoteBudget = g.rules.MinNotional + g.rng.Int64N(g.mid*40)
			if o.TIF == FOK || g.chance(2) { // budget and quantity
				o.Qty = g.qty()
				if g.chance(4) { // a cap below MinNotional: allowed with a Qty
					o.QuoteBudget = 1 + g.rng.Int64N(g.rules.MinNotional)
				}
			}
		} else {
			o.Qty = g.qty()
		}
	default:
		o.Type, o.TIF, o.Qty, o.StopPrice = StopLimit, g.tif(), g.qty(), g.stopPrice()
		o.Price = max(g.rules.TickSize, o.StopPrice+g.rules.TickSize*int64(g.rng.IntN(7)-3))
		if o.TIF == GTC && g.chance(5) {
			o.DisplayQty = lot * (1 + g.rng.Int64N(o.Qty/lot))
		}
	}
	if g.chance(20) {
		g.corrupt(&o)
	}
	return o
}

// corrupt makes o (probably) invalid in one of the ways Place checks.
func (g *diffGen) corrupt(o *Order) {
	ru := g.rules
	tick, lot := ru.TickSize, ru.LotSize
	switch g.rng.IntN(17) {
	case 0:
		o.ID = 0
	case 1:
		if len(g.ref.stops) > 0 && g.chance(3) {
			o.ID = g.ref.stops[g.rng.IntN(len(g.ref.stops))].id
		} else if r := g.liveResting(); r != nil {
			o.ID = r.id
		}
	case 2:
		o.Side = Side(2 + g.rng.IntN(254))
	case 3:
		o.Type = OrderType(4 + g.rng.IntN(252))
	case 4:
		o.TIF = TimeInForce(3 + g.rng.IntN(253))
	case 5:
		o.STP = STPMode(4 + g.rng.IntN(252))
	case 6:
		o.PostOnly = true
		if o.Type == Limit && o.TIF == GTC {
			o.TIF = TimeInForce(1 + g.rng.IntN(2))
		}
	case 7:
		if o.Type == StopMarket || o.Type == StopLimit {
			o.StopPrice = [4]int64{0, -tick, o.StopPrice + 1, ru.MaxPrice/tick*tick + tick}[g.rng.IntN(4)]
		} else {
			o.StopPrice = g.price(o.Side)
		}
	case 8:
		o.Price = [4]int64{0, -tick, g.price(o.Side) + 1 + g.rng.Int64N(tick-1), ru.MaxPrice/tick*tick + tick}[g.rng.IntN(4)]
	case 9:
		switch g.rng.IntN(5) {
		case 0: // on a limit or a sell
			o.QuoteBudget = 1000
		case 1: // on a sell stop-market, or a buy limit
			o.QuoteBudget = 1000
			if o.Type == StopMarket {
				o.Side = Sell
			} else {
				o.Side = Buy
			}
		case 2: // FOK
			o.Type, o.Side, o.TIF, o.Qty, o.QuoteBudget = Market, Buy, FOK, 0, 1000
		case 3:
			o.Type, o.Side, o.Qty, o.QuoteBudget = Market, Buy, 0, -1000
		case 4:
			o.Type, o.Side, o.Qty, o.QuoteBudget = Market, Buy, 0, 1+g.rng.Int64N(ru.MinNotional-1)
		}
		if o.TIF == FOK && g.chance(2) {
			o.TIF = GTC
		}
	case 10:
		o.QuoteBudget = 0
		o.Qty = [6]int64{0, -lot, o.Qty + 1, ru.MinQty - lot, ru.MaxQty + lot, ru.MaxQty}[g.rng.IntN(6)]
	case 11:
		switch g.rng.IntN(5) {
		case 0:
			o.DisplayQty = -lot
		case 1:
			o.DisplayQty = lot + 1
		case 2:
			o.DisplayQty = o.Qty + lot
		case 3: // on IOC/FOK
			o.DisplayQty = lot
			if o.TIF == GTC {
				o.TIF = IOC
			}
		case 4: // on a market type
			o.DisplayQty, o.Type = lot, Market+OrderType(g.rng.IntN(2))
			o.StopPrice = 0
			if o.Type == StopMarket {
				o.StopPrice = g.stopPrice()
			}
		}
		if g.chance(4) && o.Qty > 0 && o.Qty/lot > 1 {
			// Just past MaxIcebergParts slices, or just within.
			o.DisplayQty = max(lot, (o.Qty/MaxIcebergParts+lot-1)/lot*lot)
			if g.chance(2) && o.DisplayQty > lot {
				o.DisplayQty -= lot
			}
		}
	case 12: // overflow
		o.Type, o.QuoteBudget, o.DisplayQty = Limit+OrderType(3*g.rng.IntN(2)), 0, 0
		o.Price, o.Qty = ru.MaxPrice/tick*tick, lot*(2+g.rng.Int64N(50))
		o.StopPrice = 0
		if o.Type == StopLimit {
			o.StopPrice = g.stopPrice()
		}
	case 13: // below min notional
		o.Type, o.QuoteBudget, o.StopPrice = Limit, 0, 0
		o.Price, o.Qty = tick, ru.MinQty
	case 14: // post-only that would cross
		o.Type, o.TIF, o.PostOnly, o.QuoteBudget, o.StopPrice = Limit, GTC, true, 0, 0
		if o.Qty == 0 {
			o.Qty = g.qty()
		}
		if m := g.ref.best(o.Side.Opposite()); m != nil {
			o.Price = m.price
		}
	case 15: // valid: highest price with the smallest notional that fits
		o.Type, o.TIF, o.QuoteBudget, o.StopPrice, o.DisplayQty, o.PostOnly = Limit, IOC, 0, 0, 0, false
		o.Side, o.Price, o.Qty = Buy, ru.MaxPrice/tick*tick, ru.MinQty
		if g.chance(2) {
			o.Side, o.TIF = Sell, GTC
		}
	case 16: // everything wrong at once: the first check must win
		o.ID, o.Side, o.Type, o.TIF, o.STP = 0, 7, 9, 9, 9
		o.Price, o.Qty, o.StopPrice, o.DisplayQty, o.QuoteBudget = -1, -1, -1, -1, -1
		for range g.rng.IntN(6) {
			switch g.rng.IntN(5) {
			case 0:
				o.ID = g.freshID()
			case 1:
				o.Side = Sell
			case 2:
				o.Type = StopLimit
			case 3:
				o.TIF = GTC
			case 4:
				o.STP = STPCancelBoth
			}
		}
	}
}

// diffSeed returns the seed from IST_SEED, or def.
func diffSeed(tb testing.TB, def uint64) uint64 {
	if s := os.Getenv("IST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			tb.Fatalf("IST_SEED=%q: %v", s, err)
		}
		return v
	}
	return def
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// TestDifferential runs a long seeded random command stream through Book
// and refBook and requires identical events, errors and state, and a
// passing Book.Check after every command. IST_SEED picks the seed and
// IST_OPS the number of commands: 1,000,000 by default (about 24 s on 2
// cores: beside the indexed book the stream drives a twin without an
// index, by handles), 100,000 with -short and under the race detector
// (which slows this single-goroutine test some seven times and has no
// race to find in it; scripts/test.sh runs the package without it too).
func TestDifferential(t *testing.T) {
	seed := diffSeed(t, 20251125)
	ops := 1_000_000
	if testing.Short() || raceEnabled() {
		ops = 100_000
	}
	if s := os.Getenv("IST_OPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("IST_OPS=%q: %v", s, err)
		}
		ops = n
	}
	t.Logf("IST_SEED=%d ops=%d race=%v", seed, ops, raceEnabled())
	p := newDiffPair(t, diffRules, 20)
	g := newDiffGen(seed, diffRules, p.r)
	var counts [numReasons]int
	var kinds [EvTriggered + 1]int
	maxLen := 0
	const keep = 4096
	var tail []diffOp // the last ops, for minimizing a failure
	fail := func(msg string) {
		t.Fatalf("IST_SEED=%d\n%s\n%s", seed, msg, reproduction(t, diffRules, tail))
	}
	for i := range ops {
		op := g.next()
		if len(tail) == 2*keep {
			tail = append(tail[:0], tail[keep:]...)
		}
		tail = append(tail, op)
		if msg := p.apply(op); msg != "" {
			fail(msg)
		}
		for _, e := range p.evR {
			kinds[e.Kind]++
			counts[e.Reason]++
		}
		maxLen = max(maxLen, p.r.Len())
		if i%8 == 0 {
			if msg := p.compareState(i%64 == 0); msg != "" {
				fail(p.report(op, "state differs after it: "+msg))
			}
		}
	}
	if msg := p.compareState(true); msg != "" {
		t.Fatalf("IST_SEED=%d final state differs: %s", seed, msg)
	}
	var sb strings.Builder
	for k := EvAccepted; k <= EvTriggered; k++ {
		fmt.Fprintf(&sb, " %v=%d", k, kinds[k])
	}
	t.Logf("events:%s; max resting %d", sb.String(), maxLen)
	sb.Reset()
	for rs := ReasonInvalidID; rs < numReasons; rs++ {
		fmt.Fprintf(&sb, " %v=%d", rs, counts[rs])
		if counts[rs] == 0 && ops >= 100_000 && rs != ReasonFeeChange && rs != ReasonAccountFrozen && rs != ReasonExpired &&
			rs != ReasonCancelAllAfter && rs != ReasonDisconnect && rs != ReasonPriceBand { // the engine's, never Book's
			t.Errorf("reason %v never produced", rs)
		}
	}
	t.Logf("reasons:%s", sb.String())
}
