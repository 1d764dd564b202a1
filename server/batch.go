package server

import (
	"context"
	"errors"
	"sync"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/valyala/fasthttp"
)

// batchItem is one order of a batch and its outcome.
type batchItem struct {
	m     *mkt
	o     book.Order
	meta  *orderRec
	err   error
	res   engine.Outcome
	seq   uint64
	time  int64
	fills []fillRec
}

// batchScratch is the reusable memory of one batch request: the decoded
// orders, the items with their fills, and the answer being built.
type batchScratch struct {
	rs    []orderReq
	errs  []error
	items []batchItem
	out   []byte
	// For the read model, which takes them at once (one lock a batch).
	tags []uint64
	pend []pendingOrder
	outs []placedOut
}

var batchScratches = sync.Pool{New: func() any { return new(batchScratch) }}

// maxPooledOut is the largest answer buffer kept for reuse.
const maxPooledOut = 1 << 20

// placeBatch handles POST /v1/orders/batch {"orders":[...]}: every valid
// order is submitted at once (so the engine commits them together, in
// input order), and the answer has one result per input, in order: an
// order with its fills, or an error.
func (s *Server) placeBatch(ctx *fasthttp.RequestCtx) {
	acct, err := s.account(ctx)
	if err != nil {
		writeError(ctx, err)
		return
	}
	p := parsers.Get()
	defer parsers.Put(p)
	sc := batchScratches.Get().(*batchScratch)
	defer batchScratches.Put(sc)
	rs, errs, err := decodeBatch(p, ctx.PostBody(), sc.rs, sc.errs)
	sc.rs, sc.errs = rs, errs
	if err != nil {
		writeError(ctx, err)
		return
	}
	if s.chargeBatch(ctx, len(rs)) {
		return
	}
	// Items are reused with the capacity of their fills.
	if cap(sc.items) < len(rs) {
		sc.items = append(sc.items[:cap(sc.items)], make([]batchItem, len(rs)-cap(sc.items))...)
	}
	items := sc.items[:len(rs)]
	for i := range items {
		items[i] = batchItem{fills: items[i].fills[:0]}
	}
	var wg sync.WaitGroup
	// One block of tags for the batch, so that one callback finds each
	// result's item by its tag (no closure per order).
	first := s.tags.Add(uint64(len(rs))) - uint64(len(rs)) + 1
	done := func(res *engine.Result) {
		// On the engine's output goroutine: copy what we keep.
		it := &items[res.Tag-first]
		it.res, it.seq, it.time = res.Outcome, res.Seq, res.Time
		k := 0 // trade events seen
		for j := range res.Events {
			ev := &res.Events[j]
			if ev.Kind != book.EvTrade {
				continue
			}
			k++
			if res.Duplicate || (ev.OrderID != res.ID && ev.MakerID != res.ID) {
				continue
			}
			// Taker, or maker for a stop its own trades triggered.
			f := fillRec{TradeID: tradeID(s.rm.tradeBase, res, k), OrderID: res.ID,
				Market: it.m.id, Side: it.o.Side, Price: ev.Price, Qty: ev.Qty, Fee: ev.TakerFee, Time: res.Time}
			if ev.MakerID == res.ID {
				f.Fee, f.Maker = ev.MakerFee, true
			}
			it.fills = append(it.fills, f)
		}
		wg.Done()
	}
	// Where the read model copies each order as its result leaves it.
	if cap(sc.outs) < len(rs) {
		sc.outs = make([]placedOut, len(rs))
	}
	outs := sc.outs[:len(rs)]
	tags, pend := sc.tags[:0], sc.pend[:0]
	for i := range rs {
		it := &items[i]
		if it.err = errs[i]; it.err != nil {
			continue
		}
		if it.m, it.o, it.meta, it.err = s.buildOrder(&rs[i]); it.err != nil {
			continue
		}
		outs[i].found = false
		tags, pend = append(tags, first+uint64(i)), append(pend, pendingOrder{meta: it.meta, out: &outs[i]})
	}
	s.rm.expectAll(tags, pend) // before any result can arrive
	// left: some registration may outlive the batch (its command was not
	// submitted, or its result not applied), so the batch forgets its
	// tags once every result is in.
	left := false
	for i := range items {
		it := &items[i]
		if it.err != nil {
			continue
		}
		tag := first + uint64(i)
		wg.Add(1)
		cmd := engine.Command{Kind: engine.CmdPlace, Account: acct, Market: it.m.id, Ref: it.meta.ClientID, Order: it.o, Tag: tag,
			ExpireAt: it.meta.ExpireAt}
		if err := s.eng.Submit(context.Background(), &cmd, done); err != nil {
			it.err, left = err, true
			wg.Done()
		}
	}
	wg.Wait()
	for i := 0; i < len(items) && !left; i++ {
		// After a journal failure the engine delivers its results with
		// the error, without applying them: the read model never took
		// their registrations, which point into sc.outs.
		left = items[i].err == nil && errors.Is(items[i].res.Err, engine.ErrJournal)
	}
	if left {
		s.rm.forget(tags)
	}
	clear(pend)
	sc.tags, sc.pend = tags, pend[:0]
	b := append(sc.out[:0], `{"results":[`...)
	for i := range items {
		it := &items[i]
		if i > 0 {
			b = append(b, ',')
		}
		if it.err == nil {
			it.err = ruleError(dupClientIDError(it.res.Err, it.meta, it.res.ID), it.m)
		}
		typ := book.Limit
		if it.m != nil {
			typ = it.o.Type
		}
		if it.err != nil {
			if it.m != nil {
				s.met.order(it.m.name, typ, classify(it.err).code)
			}
			b = appendErrorObject(b, it.err)
			continue
		}
		s.met.accepted(it.m, typ)
		// The order as its result left it (the read model copied it).
		rec, m := &outs[i].rec, it.m
		found := outs[i].found && rec.Account == acct
		if it.res.Duplicate {
			// The original order as GET shows it, in its own market.
			ok := found
			if ok {
				m, ok = s.marketByID(rec.Market)
			}
			if !ok {
				b = appendErrorObject(b, dupGoneError(it.meta, it.res.ID))
				continue
			}
		} else if !found {
			*rec = placedRec(it.res.ID, acct, it.m, &it.o, it.meta)
		}
		b = s.appendOrder(append(b, `{"order":`...), rec, m)
		b = appendBool(b, "duplicate", it.res.Duplicate)
		b = append(b, `,"fills":[`...)
		for j := range it.fills {
			if j > 0 {
				b = append(b, ',')
			}
			b = s.appendFill(b, &it.fills[j], m)
		}
		b = append(b, "]}"...)
	}
	b = append(b, "]}"...)
	writeJSON(ctx, 200, b) // copies b
	if cap(b) <= maxPooledOut {
		sc.out = b
	}
	// Every result was delivered: the read model is done with the
	// request details.
	for i := range items {
		if items[i].meta != nil {
			metas.Put(items[i].meta)
		}
	}
}
