package server

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/valyala/fasthttp"
)

var (
	typeNames = [...]string{book.Limit: "limit", book.Market: "market", book.StopMarket: "stop_market", book.StopLimit: "stop_limit"}
	tifNames  = [...]string{book.GTC: "gtc", book.IOC: "ioc", book.FOK: "fok"}
	// tifGTD is time_in_force "gtd" (good till date, with expire_at): a
	// GTC order that expires by itself (engine.Command.ExpireAt).
	tifGTD      = "gtd"
	tifReqNames = [...]string{book.GTC: "gtc", book.IOC: "ioc", book.FOK: "fok", 3: tifGTD}
	stpNames    = [...]string{book.STPNone: "none", book.STPCancelTaker: "cancel_taker", book.STPCancelMaker: "cancel_maker", book.STPCancelBoth: "cancel_both"}
	sideNames   = [...]string{book.Buy: "buy", book.Sell: "sell"}
)

// lookup returns the index of name in names.
func lookup(names []string, name []byte, field string) (int, error) {
	for i, n := range names {
		if n == string(name) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: %s %q is not one of %v", errInvalid, field, name, names)
}

// buildOrder converts a decoded order request to a book order and the
// read-model details the engine's result does not carry.
func (s *Server) buildOrder(r *orderReq) (*mkt, book.Order, *orderRec, error) {
	var o book.Order
	m, ok := s.marketByName(r.market)
	if !ok {
		return nil, o, nil, fmt.Errorf("%w: market %q", errNotFound, r.market)
	}
	side, err := lookup(sideNames[:], r.side, "side")
	if err != nil {
		return nil, o, nil, err
	}
	o.Side = book.Side(side)
	if r.typ != nil {
		t, err := lookup(typeNames[:], r.typ, "type")
		if err != nil {
			return nil, o, nil, err
		}
		o.Type = book.OrderType(t)
	}
	gtd := false
	if r.tif != nil {
		t, err := lookup(tifReqNames[:], r.tif, "time_in_force")
		if err != nil {
			return nil, o, nil, err
		}
		if gtd = tifReqNames[t] == tifGTD; !gtd {
			o.TIF = book.TimeInForce(t)
		}
	}
	var expireAt int64
	switch {
	case gtd && r.expireAt == nil:
		return nil, o, nil, missing("expire_at")
	case gtd && o.Type != book.Limit && o.Type != book.StopLimit:
		return nil, o, nil, fmt.Errorf("%w: time_in_force gtd is only for limit and stop_limit orders", errInvalid)
	case gtd:
		if expireAt, err = parseExpireAt(r.expireAt); err != nil {
			return nil, o, nil, err
		}
	case r.expireAt != nil:
		return nil, o, nil, fmt.Errorf("%w: expire_at is only for time_in_force gtd", errInvalid)
	}
	o.STP = book.STPCancelTaker
	if r.stp != nil {
		t, err := lookup(stpNames[:], r.stp, "stp")
		if err != nil {
			return nil, o, nil, err
		}
		o.STP = book.STPMode(t)
	}
	o.PostOnly = r.postOnly
	priced := o.Type == book.Limit || o.Type == book.StopLimit
	if r.price != nil {
		if o.Price, err = m.u.price(r.price, "price"); err != nil {
			return nil, o, nil, err
		}
	} else if priced {
		return nil, o, nil, missing("price")
	}
	stop := o.Type == book.StopMarket || o.Type == book.StopLimit
	if r.stopPrice != nil {
		if !stop {
			return nil, o, nil, fmt.Errorf("%w: stop_price is only for stop_market and stop_limit orders", errInvalid)
		}
		if o.StopPrice, err = m.u.price(r.stopPrice, "stop_price"); err != nil {
			return nil, o, nil, err
		}
	} else if stop {
		return nil, o, nil, missing("stop_price")
	}
	if r.qty != nil {
		if o.Qty, err = m.u.qty(r.qty, "quantity"); err != nil {
			return nil, o, nil, err
		}
	}
	if r.quoteQty != nil {
		if o.Side != book.Buy || priced {
			return nil, o, nil, fmt.Errorf("%w: quote_quantity is only for market and stop_market buys", errInvalid)
		}
		if o.QuoteBudget, err = amount(r.quoteQty, "quote_quantity"); err != nil {
			return nil, o, nil, err
		}
		if o.QuoteBudget == 0 {
			return nil, o, nil, fmt.Errorf("%w: quote_quantity must be positive", errInvalid)
		}
	}
	if r.qty == nil && r.quoteQty == nil {
		return nil, o, nil, missing("quantity")
	}
	if o.Qty == 0 && r.qty != nil {
		return nil, o, nil, fmt.Errorf("%w: quantity must be positive", errInvalid)
	}
	if r.displayQty != nil {
		if o.DisplayQty, err = m.u.qty(r.displayQty, "display_quantity"); err != nil {
			return nil, o, nil, err
		}
	}
	if err := checkRef("client_order_id", r.clientID); err != nil {
		return nil, o, nil, err
	}
	meta := metas.Get().(*orderRec)
	*meta = orderRec{Type: o.Type, TIF: o.TIF, STP: o.STP,
		PostOnly: o.PostOnly, StopPrice: o.StopPrice, QuoteBudget: o.QuoteBudget, DisplayQty: o.DisplayQty, ExpireAt: expireAt}
	copy(meta.ClientID[:], r.clientID)
	return m, o, meta, nil
}

// parseExpireAt parses expire_at, an RFC 3339 time (a fraction of a
// second allowed), into Unix nanoseconds: after 1970 and before 2262,
// where they fit an int64. Whether it is in the future is the engine's
// to judge, at its sequencer's time (engine.ErrInvalidExpiry).
func parseExpireAt(b []byte) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return 0, fmt.Errorf("%w: expire_at %q is not an RFC 3339 time (like 2026-01-02T15:04:05Z)", errInvalid, b)
	}
	if t.Year() < 1970 || t.Year() > 2261 || t.UnixNano() <= 0 {
		return 0, fmt.Errorf("%w: expire_at %q is out of range", errInvalid, b)
	}
	return t.UnixNano(), nil
}

// checkRef returns an invalid_argument error naming field unless b
// fits an engine.Ref: a client_order_id or a transfer's ref is at most
// 36 bytes, none of them NUL (the padding of a Ref).
func checkRef(field string, b []byte) error {
	if len(b) > len(engine.Ref{}) {
		return fmt.Errorf("%w: %s must be at most %d bytes", errInvalid, field, len(engine.Ref{}))
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return fmt.Errorf("%w: %s must not hold a NUL character (\\u0000)", errInvalid, field)
	}
	return nil
}

// Per-request buffers, pooled so that an order request does not allocate:
// the events of a command (the engine appends to the buffer given to Do),
// the request details the read model takes for a new order, and where it
// copies the order as the command left it (a placedOut on the stack
// would escape: the read model keeps a pointer to it until the result).
var (
	eventBufs = sync.Pool{New: func() any { b := make([]engine.Event, 0, 16); return &b }}
	metas     = sync.Pool{New: func() any { return new(orderRec) }}
	outs      = sync.Pool{New: func() any { return new(placedOut) }}
)

// getOut returns an empty placedOut from the pool; put it back (outs.Put)
// once the read model's registration is taken (readModel.take).
func getOut() *placedOut {
	out := outs.Get().(*placedOut)
	out.found = false
	return out
}

// releaseEvents returns an event buffer (possibly grown to evs) to its
// pool. Call it only once the command's result has been delivered.
func releaseEvents(buf *[]engine.Event, evs []engine.Event) {
	if cap(evs) >= cap(*buf) {
		*buf = evs[:0]
	}
	eventBufs.Put(buf)
}

// doDiscard runs cmd with a pooled event buffer, for a handler that does
// not read the result's events.
func (s *Server) doDiscard(cmd *engine.Command) error {
	evs := eventBufs.Get().(*[]engine.Event)
	res, err := s.do(cmd, (*evs)[:0])
	releaseEvents(evs, res.Events)
	return err
}

// placeOrder handles POST /v1/orders.
func (s *Server) placeOrder(ctx *fasthttp.RequestCtx) {
	acct, err := s.account(ctx)
	if err != nil {
		writeError(ctx, err)
		return
	}
	p := parsers.Get()
	defer parsers.Put(p)
	var r orderReq
	if err := decodeOrder(p, ctx.PostBody(), &r); err != nil {
		writeError(ctx, err)
		return
	}
	m, o, meta, err := s.buildOrder(&r)
	if err != nil {
		writeError(ctx, err)
		return
	}
	tag := s.tags.Add(1)
	out := getOut() // the order as its result leaves it, copied by the read model
	s.rm.expect(tag, meta, out)
	evs := eventBufs.Get().(*[]engine.Event)
	res, err := s.do(&engine.Command{Kind: engine.CmdPlace, Account: acct, Market: m.id, Ref: meta.ClientID, Order: o, Tag: tag,
		ExpireAt: meta.ExpireAt}, (*evs)[:0])
	s.rm.take(tag) // if the engine never saw it, or never applied it (a journal failure)
	// s.do returns once the result is delivered (or was never submitted):
	// the read model is done with meta and the engine with the buffer.
	defer releaseEvents(evs, res.Events)
	defer metas.Put(meta)
	defer outs.Put(out)
	if err != nil {
		err = ruleError(dupClientIDError(err, meta, res.ID), m)
		s.met.order(m.name, o.Type, classify(err).code)
		writeError(ctx, err)
		return
	}
	s.met.accepted(m, o.Type)
	rec, ok := out.rec, out.found && out.rec.Account == acct
	if res.Duplicate {
		// The original order as GET shows it, in its own market.
		if ok {
			m, ok = s.marketByID(rec.Market)
		}
		if !ok {
			writeError(ctx, dupGoneError(meta, res.ID))
			return
		}
	} else if !ok { // history lost in a crash: answer with what we know
		rec = placedRec(res.ID, acct, m, &o, meta)
	}
	var arr [2048]byte
	b := s.appendOrder(append(arr[:0], `{"order":`...), &rec, m)
	b = append(b, `,"fills":[`...)
	n, k := 0, 0 // fills written, trade events seen
	if !res.Duplicate {
		for i := range res.Events {
			ev := &res.Events[i]
			if ev.Kind != book.EvTrade {
				continue
			}
			k++
			// The order takes, or its rest makes for an order that its
			// own trades triggered (a stop) in the same command.
			f := fillRec{TradeID: tradeID(s.rm.tradeBase, &res, k), OrderID: res.ID, Market: m.id,
				Side: o.Side, Price: ev.Price, Qty: ev.Qty, Fee: ev.TakerFee, Time: res.Time}
			switch res.ID {
			case ev.OrderID:
			case ev.MakerID:
				f.Fee, f.Maker = ev.MakerFee, true
			default:
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = s.appendFill(b, &f, m)
		}
	}
	status := 201
	if res.Duplicate {
		status = 200
	}
	writeJSON(ctx, status, append(b, "]}"...))
}

// placedRec is the record of order id of acct, placed on m as o with the
// request details meta, as placed: the answer to a place whose order the
// history does not hold.
func placedRec(id, acct uint64, m *mkt, o *book.Order, meta *orderRec) orderRec {
	r := *meta
	r.ID, r.Account, r.Market, r.Side, r.Price, r.Qty = id, acct, m.id, o.Side, o.Price, o.Qty
	r.Stop = o.Type == book.StopMarket || o.Type == book.StopLimit
	return r
}

// dupClientIDError gives a place refused with
// engine.ErrDuplicateClientID (the client order id of meta names order
// id, placed with other parameters) its API error; other errors are
// returned as they are.
func dupClientIDError(err error, meta *orderRec, id uint64) error {
	if !errors.Is(err, engine.ErrDuplicateClientID) {
		return err
	}
	return fmt.Errorf("%w: client_order_id %q is already order %d, placed with other parameters",
		errDupClientID, meta.clientID(), id)
}

// ruleError adds to the book's refusal of an order for a market rule
// (a price or stop price not above 0 or beyond max_price, a quantity
// beyond max_quantity, a notional below min_notional) the rule and its
// value as GET /v1/markets shows them, and to its refusal of a field
// this order cannot have (post_only, display_quantity, a fok budget
// buy's missing quantity, an amend of a pending stop) the rule, which
// the book's error does not say; other errors are returned as they are.
func ruleError(err error, m *mkt) error {
	r := &m.spec.Rules
	switch {
	case err == nil:
	case errors.Is(err, book.ErrInvalidPrice), errors.Is(err, book.ErrInvalidStop):
		return fmt.Errorf("%w: prices must be above 0 and at most the market's max_price %s", err, m.u.appendPrice(nil, r.MaxPrice))
	case errors.Is(err, book.ErrQtyAboveMax):
		return fmt.Errorf("%w: quantities must be at most the market's max_quantity %s", err, m.u.appendQty(nil, r.MaxQty))
	case errors.Is(err, book.ErrBelowMinNotional):
		return fmt.Errorf("%w: price × quantity (or a quote_quantity less the market's higher fee) must be at least the market's min_notional %s",
			err, appendScaled(nil, r.MinNotional, m.u.qs))
	case errors.Is(err, book.ErrPostOnlyInvalid):
		return fmt.Errorf("%w: post_only is for gtc limit orders", err)
	case errors.Is(err, book.ErrInvalidDisplay):
		return fmt.Errorf("%w: display_quantity is for gtc and gtd limit and stop_limit orders, at most their quantity and at least 1/%d of it (an iceberg has at most %d slices, an amend's quantity too)",
			err, book.MaxIcebergParts, book.MaxIcebergParts)
	case errors.Is(err, book.ErrInvalidBudget):
		return fmt.Errorf("%w: a quote_quantity buy with time_in_force fok needs a quantity too", err)
	case errors.Is(err, engine.ErrPriceOutOfBand):
		bps := m.spec.PriceBandBps
		return fmt.Errorf("%w: the market's price_band_bps is %d: a buy may be priced at most %d.%02d%% above the last trade price, a sell at most that much below it (a stop_limit: around its stop_price)",
			err, bps, bps/100, bps%100)
	case errors.Is(err, engine.ErrTooManyOpenOrders):
		return fmt.Errorf("%w: the market's max_open_orders is %d (pending stops count too); cancel one first, or place an ioc, fok or market order",
			err, m.spec.MaxOpenOrders)
	case errors.Is(err, book.ErrNotAmendable):
		return fmt.Errorf("%w: a stop order cannot be amended before it triggers (cancel it and place another)", err)
	}
	return err
}

// dupGoneError is the answer to an identical resend of a client order id
// whose original order (id) the engine still knows but the order history
// no longer holds: it cannot be shown, and its status is not invented.
func dupGoneError(meta *orderRec, id uint64) error {
	return fmt.Errorf("%w: client_order_id %q is already order %d, which is no longer in the order history",
		errDupClientID, meta.clientID(), id)
}

// appendOrder appends an order object. It answers the order handlers, so
// its price and quantity fields are written inline, not with
// appendPriceField and appendQtyField (a call each, measurably slower).
func (s *Server) appendOrder(b []byte, o *orderRec, m *mkt) []byte {
	b = strconvUint(append(b, `{"id":`...), o.ID)
	b = appendString(appendKey(b, "client_order_id", false), o.clientID())
	b = appendUint(b, "account_id", o.Account)
	b = appendStr(b, "market", m.name)
	b = appendStr(b, "side", sideNames[o.Side&1])
	b = appendStr(b, "type", typeNames[o.Type&3])
	b = append(appendKey(b, "price", false), '"')
	b = append(m.u.appendPrice(b, o.Price), '"')
	if o.Type == book.StopMarket || o.Type == book.StopLimit {
		b = append(appendKey(b, "stop_price", false), '"')
		b = append(m.u.appendPrice(b, o.StopPrice), '"')
		// A history an earlier release wrote has no Triggered: its
		// stops cancelled after triggering read as not triggered.
		b = appendBool(b, "triggered", o.Triggered || (!o.Stop && o.Status != statusCancelled))
	}
	b = append(appendKey(b, "quantity", false), '"')
	b = append(m.u.appendQty(b, o.Qty), '"')
	if o.QuoteBudget > 0 {
		b = appendAmount(b, "quote_quantity", o.QuoteBudget)
	}
	if o.DisplayQty > 0 { // an iceberg; an amend keeps it (book.Book.Amend)
		b = append(appendKey(b, "display_quantity", false), '"')
		b = append(m.u.appendQty(b, o.DisplayQty), '"')
	}
	b = append(appendKey(b, "filled", false), '"')
	b = append(m.u.appendQty(b, o.Filled), '"')
	rem := int64(0)
	if !o.done() && o.Qty > o.Filled {
		rem = o.Qty - o.Filled
	}
	b = append(appendKey(b, "remaining", false), '"')
	b = append(m.u.appendQty(b, rem), '"')
	b = appendKey(b, "avg_price", false)
	if o.Filled > 0 {
		// Notional (steps × lots) × tick8 / filled, in 10^-8.
		hi, lo := bits.Mul64(uint64(o.Notional), uint64(m.u.tick8))
		if hi < uint64(o.Filled) {
			q, _ := bits.Div64(hi, lo, uint64(o.Filled))
			b = append(AppendDecimal(append(b, '"'), int64(q&(1<<63-1)), Scale), '"')
		} else {
			b = append(b, "null"...)
		}
	} else {
		b = append(b, "null"...)
	}
	b = appendStr(b, "status", statusNames[o.Status%uint8(len(statusNames))])
	if o.Reason != book.ReasonNone && (o.Status == statusCancelled || o.Status == statusExpired) {
		b = appendStr(b, "cancel_reason", o.Reason.String())
	}
	tif := o.TIF % 3
	if tif == book.GTC && (o.Type == book.Market || o.Type == book.StopMarket) {
		tif = book.IOC // a market order never rests: gtc means ioc (book.GTC)
	}
	if o.ExpireAt != 0 {
		b = appendStr(b, "time_in_force", tifGTD)
		b = appendTime(b, "expire_at", o.ExpireAt)
	} else {
		b = appendStr(b, "time_in_force", tifNames[tif])
	}
	b = appendBool(b, "post_only", o.PostOnly)
	b = appendStr(b, "stp", stpNames[o.STP&3])
	b = appendTime(b, "created_at", o.Created)
	updated := o.Updated
	if updated == 0 {
		updated = o.Created
	}
	b = appendTime(b, "updated_at", updated)
	return append(b, '}')
}

// appendFill appends a fill object, with its price and quantity written
// inline as in appendOrder.
func (s *Server) appendFill(b []byte, f *fillRec, m *mkt) []byte {
	b = strconvUint(append(b, `{"trade_id":`...), f.TradeID)
	b = appendUint(b, "order_id", f.OrderID)
	b = appendStr(b, "market", m.name)
	b = appendStr(b, "side", sideNames[f.Side&1])
	b = append(appendKey(b, "price", false), '"')
	b = append(m.u.appendPrice(b, f.Price), '"')
	b = append(appendKey(b, "quantity", false), '"')
	b = append(m.u.appendQty(b, f.Qty), '"')
	b = appendAmount(b, "fee", f.Fee)
	b = appendStr(b, "fee_asset", m.quote)
	liq := "taker"
	if f.Maker {
		liq = "maker"
	}
	b = appendStr(b, "liquidity", liq)
	b = appendTime(b, "time", f.Time)
	return append(b, '}')
}

// getOrder handles GET /v1/orders/{id}. Another account's order is
// not found.
func (s *Server) getOrder(ctx *fasthttp.RequestCtx, id uint64) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	s.writeOrder(ctx, acct, id)
}

func (s *Server) writeOrder(ctx *fasthttp.RequestCtx, acct, id uint64) {
	rec, ok := s.rm.order(acct, id)
	if !ok {
		writeError(ctx, fmt.Errorf("%w: order %d", errNotFound, id))
		return
	}
	s.writeRec(ctx, &rec)
}

// doOrderCmd runs cmd, a cancel or amend of one order (cmd.Tag is set
// here), and copies into out the order as the command's own result left
// it: the read model copies it as it applies the result (see placedOut),
// so that the answer shows nothing later commands did to the order. On
// an error, out is left with found false.
func (s *Server) doOrderCmd(cmd *engine.Command, out *placedOut) error {
	cmd.Tag = s.tags.Add(1)
	s.rm.expect(cmd.Tag, nil, out)
	err := s.doDiscard(cmd)
	s.rm.take(cmd.Tag) // if the engine never saw it or never applied it
	return err
}

// writeOrderAfter answers a cancel or amend of order id of acct that the
// engine accepted: the order as its command left it (out, see
// doOrderCmd), or, for an order missing from the history (lost in a
// crash), its id and status.
func (s *Server) writeOrderAfter(ctx *fasthttp.RequestCtx, acct, id uint64, status string, out *placedOut) {
	if !out.found || out.rec.Account != acct || out.rec.ID != id {
		var arr [128]byte
		b := strconvUint(append(arr[:0], `{"id":`...), id)
		b = appendUint(b, "account_id", acct)
		b = appendStr(b, "status", status)
		writeJSON(ctx, 200, append(b, '}'))
		return
	}
	s.writeRec(ctx, &out.rec)
}

// writeRec answers with one order.
func (s *Server) writeRec(ctx *fasthttp.RequestCtx, rec *orderRec) {
	m, ok := s.marketByID(rec.Market)
	if !ok {
		writeError(ctx, fmt.Errorf("%w: market %d", errNotFound, rec.Market))
		return
	}
	var arr [1024]byte
	writeJSON(ctx, 200, s.appendOrder(arr[:0], rec, m))
}

// cancelOrder handles DELETE /v1/orders/{id}.
func (s *Server) cancelOrder(ctx *fasthttp.RequestCtx, id uint64) {
	acct, err := s.account(ctx)
	if err != nil {
		writeError(ctx, err)
		return
	}
	out := getOut()
	defer outs.Put(out) // doOrderCmd took its registration
	if err := s.doOrderCmd(&engine.Command{Kind: engine.CmdCancel, Account: acct, OrderID: id}, out); err != nil {
		writeError(ctx, s.notOpenError(err, acct, id))
		return
	}
	s.writeOrderAfter(ctx, acct, id, "cancelled", out)
}

// cancelAll handles DELETE /v1/orders?market=.
func (s *Server) cancelAll(ctx *fasthttp.RequestCtx) {
	acct, err := s.account(ctx)
	if err != nil {
		writeError(ctx, err)
		return
	}
	sym := ctx.QueryArgs().Peek("market")
	if len(sym) == 0 {
		writeError(ctx, missing("market"))
		return
	}
	m, ok := s.marketByName(sym)
	if !ok {
		writeError(ctx, fmt.Errorf("%w: market %q", errNotFound, sym))
		return
	}
	res, err := s.do(&engine.Command{Kind: engine.CmdCancelAll, Account: acct, Market: m.id}, nil)
	if err != nil {
		writeError(ctx, err)
		return
	}
	var arr [1024]byte
	b := appendString(append(arr[:0], `{"market":`...), m.name)
	writeJSON(ctx, 200, appendCancelledIDs(b, res.Events))
}

// appendCancelledIDs appends the field "cancelled" (the ids of the
// orders evs cancelled) and closes the object.
func appendCancelledIDs(b []byte, evs []engine.Event) []byte {
	b = append(appendKey(b, "cancelled", false), '[')
	n := 0
	for i := range evs {
		if ev := &evs[i]; ev.Kind == book.EvCancelled {
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = strconvUint(b, ev.OrderID)
		}
	}
	return append(b, "]}"...)
}

// notOpenError is the error of a cancel or amend of order id of acct
// refused as an unknown order (err): still 404 not_found, but naming the
// order's status when the caller's order history shows it done ("order
// 7 is filled, not open"), since GET /v1/orders/{id} shows it. Other
// errors are returned as they are.
func (s *Server) notOpenError(err error, acct, id uint64) error {
	if !errors.Is(err, errNotFound) && !errors.Is(err, engine.ErrUnknownOrder) && !errors.Is(err, book.ErrUnknownOrder) {
		return err
	}
	if rec, ok := s.rm.order(acct, id); ok && rec.done() {
		return fmt.Errorf("%w: order %d is %s, not open", errNotFound, id, statusNames[rec.Status%uint8(len(statusNames))])
	}
	return err
}

// amendOrder handles PATCH /v1/orders/{id}. quantity is the order's new
// total quantity (filled + remaining), which must exceed what it has
// filled; an omitted field keeps its current value. The engine
// (CmdAmendTotal) works out the new remaining quantity from the filled
// quantity as of the moment it applies the amend, not from this
// server's possibly older read of the order.
func (s *Server) amendOrder(ctx *fasthttp.RequestCtx, id uint64) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	var r amendReq
	p, ok := decodeBody(ctx, &r, decodeAmend)
	if !ok {
		return
	}
	defer parsers.Put(p)
	rec, ok := s.rm.order(acct, id)
	if !ok || rec.done() {
		writeError(ctx, s.notOpenError(fmt.Errorf("%w: open order %d", errNotFound, id), acct, id))
		return
	}
	m, ok := s.marketByID(rec.Market)
	if !ok {
		writeError(ctx, fmt.Errorf("%w: market %d", errNotFound, rec.Market))
		return
	}
	// 0 keeps the order's price or remaining quantity as the engine has it.
	var price, qty int64
	var err error
	if r.price != nil {
		if price, err = m.u.price(r.price, "price"); err != nil {
			writeError(ctx, err)
			return
		}
	}
	if r.qty != nil {
		if qty, err = m.u.qty(r.qty, "quantity"); err != nil {
			writeError(ctx, err)
			return
		}
	}
	if (r.price != nil && price <= 0) || (r.qty != nil && qty <= 0) {
		writeError(ctx, fmt.Errorf("%w: price and quantity must be positive", errInvalid))
		return
	}
	out := getOut()
	defer outs.Put(out) // doOrderCmd took its registration
	err = ruleError(s.doOrderCmd(&engine.Command{Kind: engine.CmdAmendTotal, Account: acct, Market: m.id, OrderID: id,
		Order: book.Order{Price: price, Qty: qty}}, out), m)
	if errors.Is(err, engine.ErrAmendBelowFilled) {
		err = fmt.Errorf("%w: quantity %s is the order's new total and must exceed its filled quantity", errInvalid, r.qty)
		if now, ok := s.rm.order(acct, id); ok {
			err = fmt.Errorf("%w (%s)", err, m.u.appendQty(nil, now.Filled))
		}
	}
	if err != nil {
		writeError(ctx, s.notOpenError(err, acct, id))
		return
	}
	s.writeOrderAfter(ctx, acct, id, "open", out)
}

// listOrders handles GET /v1/orders?market=&status=open|done&limit=&after=.
func (s *Server) listOrders(ctx *fasthttp.RequestCtx) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	market, limit, after, err := s.listArgs(ctx)
	if err != nil {
		writeError(ctx, err)
		return
	}
	status := 0
	switch st := string(ctx.QueryArgs().Peek("status")); st {
	case "":
	case "open":
		status = 1
	case "done":
		status = 2
	default:
		writeError(ctx, fmt.Errorf("%w: status must be open or done", errInvalid))
		return
	}
	orders := s.rm.orders(nil, acct, market, status, after, limit)
	b := append(make([]byte, 0, 64+400*len(orders)), `{"orders":[`...)
	for i := range orders {
		if i > 0 {
			b = append(b, ',')
		}
		if m, ok := s.marketByID(orders[i].Market); ok {
			b = s.appendOrder(b, &orders[i], m)
		}
	}
	writeJSON(ctx, 200, append(b, "]}"...))
}

// listArgs reads market=, limit= (default 100, at most 1000) and after=.
func (s *Server) listArgs(ctx *fasthttp.RequestCtx) (market uint32, limit int, after uint64, err error) {
	if sym := ctx.QueryArgs().Peek("market"); len(sym) > 0 {
		m, ok := s.marketByName(sym)
		if !ok {
			return 0, 0, 0, fmt.Errorf("%w: market %q", errNotFound, sym)
		}
		market = m.id
	}
	l, err := queryLimit(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	after, err = queryAfter(ctx)
	return market, l, after, err
}

// listFills handles GET /v1/fills?market=&limit=&after=.
func (s *Server) listFills(ctx *fasthttp.RequestCtx) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	s.writeFills(ctx, acct)
}

// writeFills answers a page of account acct's fills, as the query's
// market, limit and after say (listArgs).
func (s *Server) writeFills(ctx *fasthttp.RequestCtx, acct uint64) {
	market, limit, after, err := s.listArgs(ctx)
	if err != nil {
		writeError(ctx, err)
		return
	}
	fills := s.rm.fills(nil, acct, market, after, limit)
	b := append(make([]byte, 0, 64+300*len(fills)), `{"fills":[`...)
	for i := range fills {
		if i > 0 {
			b = append(b, ',')
		}
		if m, ok := s.marketByID(fills[i].Market); ok {
			b = s.appendFill(b, &fills[i], m)
		}
	}
	writeJSON(ctx, 200, append(b, "]}"...))
}
