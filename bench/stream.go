package bench

import (
	"fmt"
	"strconv"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// GenesisMarkets returns the commands that create BTC and USDT, markets
// M1..Mmarkets (unit scales, fees 10/20 bps) and accounts funded accounts.
func GenesisMarkets(markets, accounts int) []engine.Command {
	cmds := Genesis(accounts)
	cmds[2].Name, _ = engine.MakeName("M1")
	for m := 2; m <= markets; m++ {
		c := cmds[2]
		c.Name, _ = engine.MakeName(fmt.Sprint("M", m))
		cmds = append(cmds[:3+m-2], append([]engine.Command{c}, cmds[3+m-2:]...)...)
	}
	return cmds
}

// streamOp is one pre-generated command, compact so that millions fit in
// memory; command expands it. Cancels name their order by client order id
// (ref), so a stream stays valid whatever other producers do meanwhile.
type streamOp struct {
	cancel bool
	market bool // a market order
	side   book.Side
	acct   uint32
	ref    uint32 // client order id of the placed or cancelled order
	price  int64
	qty    int64
}

// command fills c with op on market m.
func (op *streamOp) command(c *engine.Command, m uint32) {
	*c = engine.Command{Kind: engine.CmdPlace, Account: uint64(op.acct), Market: m}
	c.Ref = refOf(op.ref)
	switch {
	case op.cancel:
		c.Kind = engine.CmdCancel
	case op.market:
		c.Order = book.Order{Side: op.side, Type: book.Market, Qty: op.qty}
	default:
		c.Order = book.Order{Side: op.side, Price: op.price, Qty: op.qty}
	}
}

// refOf formats a client order id without allocating.
func refOf(n uint32) engine.Ref {
	var r engine.Ref
	strconv.AppendUint(r[:0:len(r)], uint64(n)+1, 10) // fills r in place
	return r
}

// ProducerStream pre-generates n commands for producer p, which trades on
// its own market p+1 with its own accounts: the order flow of orderFlow,
// run on a scratch state so that every cancel names an order that is live
// at that point, and the book stays at a steady size.
func ProducerStream(seed uint64, p, producers, accounts, n int) []streamOp {
	st := engine.NewState()
	var evs []engine.Event
	for _, c := range GenesisMarkets(producers, accounts) {
		_, evs = st.Apply(&c, evs[:0])
	}
	f := newOrderFlow(seed, p, producers, accounts)
	fl := flows(nil)
	for range producers {
		fl = append(fl, f) // every account of this stream is f's
	}
	refs := map[uint64]uint32{} // order id → client order id
	ops := make([]streamOp, 0, n)
	var c engine.Command
	for i := range n {
		f.next(&c)
		op := streamOp{acct: uint32(c.Account)}
		if c.Kind == engine.CmdCancel {
			op.cancel, op.ref = true, refs[c.OrderID]
			delete(refs, c.OrderID)
		} else {
			op.ref = uint32(i)
			op.side, op.price, op.qty = c.Order.Side, c.Order.Price, c.Order.Qty
			op.market = c.Order.Type == book.Market
		}
		op.command(&c, uint32(p+1))
		res := engine.Result{Kind: c.Kind}
		res.Outcome, evs = st.Apply(&c, evs[:0])
		res.Events = evs
		if c.Kind == engine.CmdPlace && res.Err == nil {
			refs[res.ID] = op.ref
		}
		fl.track(&res)
		ops = append(ops, op)
	}
	return ops
}
