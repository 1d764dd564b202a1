package engine

import (
	"slices"

	"github.com/instant-social-trading/ist/book"
)

// place reserves funds for a new order, hands it to the market's book and
// settles what it traded.
func (s *State) place(cmd *Command, dst []Event) (result, []Event) {
	if !s.userAccount(cmd.Account) {
		return result{Err: ErrUnknownAccount}, dst
	}
	m, err := s.market(cmd.Market)
	if err != nil {
		return result{Err: err}, dst
	}
	var tag uint32
	var fp uint64
	if !cmd.Ref.IsZero() {
		tag, fp = refTagOf(cmd), placeFingerprint(cmd)
		if e, rec := s.clientIDFind(cmd.Account, &cmd.Ref, tag); e != nil {
			// A resend: the original order if it is the same order, else
			// a conflict. An original of unknown fingerprint (restored
			// from an old snapshot) is taken to be the same.
			var orig uint64
			if rec != nil {
				orig = rec.fp
			} else {
				orig = s.entryFingerprint(e)
			}
			if orig != 0 && orig != fp {
				return result{ID: s.entryID(e), Err: ErrDuplicateClientID}, dst
			}
			return result{ID: s.entryID(e), Duplicate: true}, dst
		}
	}
	if s.accounts.at(cmd.Account).frozen {
		return result{Err: ErrAccountFrozen}, dst
	}
	if m.halted {
		return result{Err: ErrMarketHalted}, dst
	}
	if cmd.ExpireAt != 0 {
		if err := checkExpiry(cmd); err != nil {
			return result{Err: err}, dst
		}
	}
	if tooManyOpen(m, cmd.Account, &cmd.Order) {
		return result{Err: ErrTooManyOpenOrders}, dst
	}
	o := cmd.Order
	o.ID = s.nextOrder + 1
	o.Owner = cmd.Account
	// Field by field: a composite literal would be built in a temporary
	// and copied with loads wider than the stores that built it, which
	// wait for every earlier store (see book's addEvent). The ref in a
	// statement of its own: in a tuple assignment, an array goes through
	// a temporary too.
	var rec order
	rec.ref = cmd.Ref
	rec.id, rec.account, rec.market, rec.side, rec.tag = o.ID, cmd.Account, m.id, o.Side, tag
	rec.origQty, rec.origBudget, rec.fp = o.Qty, o.QuoteBudget, fp
	// Without a band: two comparisons (this one and beyond's below).
	var beyond int64
	if m.spec.PriceBandBps != 0 {
		var err error
		if beyond, err = s.reserveBanded(m, &o, &rec); err != nil {
			return result{Err: err}, dst
		}
	} else if err := s.reserve(m, &o, &rec); err != nil {
		return result{Err: err}, dst
	}
	bevs, err := m.book.Place(s.bevs[:0], &o)
	s.bevs = bevs
	if err != nil {
		s.unreserve(m, &rec)
		return result{Err: err}, dst
	}
	if beyond != 0 {
		bandExpiry(m, bevs, &o, cmd.Order.Price, beyond)
	}
	s.nextOrder++
	if cmd.ExpireAt != 0 {
		// Before settle, which forgets it if the order is done already.
		rec.gtd = true
		s.addExpiry(o.ID, cmd.ExpireAt)
	}
	i := s.orders.add(&rec)
	if !cmd.Ref.IsZero() {
		s.addClientID(tag, i)
	}
	if m.open != nil {
		m.openAdded(cmd.Account)
	}
	dst = s.settle(m, bevs, dst)
	if s.orders.at(i).id == o.ID {
		// It rests or waits for its stop: in its account's list from
		// now on. One done already (most takers) never goes in it.
		s.linkOrder(i, cmd.Account)
	}
	return result{ID: o.ID}, dst
}

// reserve validates the funding of o and locks it: the base of a sell;
// price × quantity plus the highest fee for a priced buy; the budget for a
// buy by quote budget; the whole available quote for a market buy by
// quantity without a protection price (the book caps it to that).
func (s *State) reserve(m *market, o *book.Order, rec *order) error {
	sp := &m.spec
	if o.Side == book.Sell {
		if o.Qty < 0 {
			return nil // the book rejects it
		}
		need, ok := mul(o.Qty, sp.BaseScale)
		if !ok {
			return book.ErrQtyAboveMax
		}
		return s.lock(rec, sp.Base, need)
	}
	if o.Side != book.Buy {
		return nil // the book rejects it with invalid_side
	}
	b := s.bal(rec.account, sp.Quote)
	switch {
	case o.QuoteBudget > 0:
		budget := beforeFee(o.QuoteBudget, m.maxFee) / sp.QuoteScale
		if budget < 1 {
			return book.ErrInvalidBudget // too small to buy anything
		}
		if err := s.lock(rec, sp.Quote, o.QuoteBudget); err != nil {
			return err
		}
		o.QuoteBudget = budget
		return nil
	case o.QuoteBudget < 0:
		return nil // the book rejects it
	case o.Price > 0 && o.Qty > 0:
		need, err := buyCost(m, o.Price, o.Qty)
		if err != nil {
			return err
		}
		rec.limit = o.Price
		return s.lock(rec, sp.Quote, need)
	case o.Type == book.StopMarket:
		return ErrStopNeedsLimit
	case o.Type == book.Market && o.Qty > 0:
		if b.avail <= 0 {
			return ErrInsufficientFunds
		}
		cap := beforeFee(b.avail, m.maxFee) / sp.QuoteScale
		if cap < 1 {
			return ErrInsufficientFunds
		}
		if err := s.lock(rec, sp.Quote, b.avail); err != nil {
			return err
		}
		o.QuoteBudget = cap
	}
	return nil
}

// reserveBanded is reserve for order o on m, which has a price band:
// the band first holds o to it (bandPlace: a refusal, or a stop-market's
// protection price), then reserve locks o's funds, then a market order
// the band bounds gets the band's bound as its protection price. It
// returns the best price beyond that bound on the opposite side at which
// o could trade (0: no bound, or no liquidity beyond it that o would not
// meet self-trade prevention at first; book.Book.TakerBeyond), which
// bandExpiry needs once o has matched.
func (s *State) reserveBanded(m *market, o *book.Order, rec *order) (beyond int64, err error) {
	bound, err := bandPlace(m, o)
	if err != nil {
		return 0, err
	}
	if err := s.reserve(m, o, rec); err != nil {
		return 0, err
	}
	if bound != 0 {
		// After reserve: see bandPlace.
		if p, ok := m.book.TakerBeyond(o.Side.Opposite(), bound, o.Owner, o.STP); ok {
			beyond = p
		}
		o.Price = bound
	}
	return beyond, nil
}

// buyCost is what a buy of qty lots at price locks: the notional plus the
// highest fee of the market.
func buyCost(m *market, price, qty int64) (int64, error) {
	n, ok := mul(price, qty)
	if ok {
		n, ok = mul(n, m.spec.QuoteScale)
	}
	if !ok || n > n+feeOf(n, m.maxFee) {
		return 0, book.ErrNotionalOverflow
	}
	return n + feeOf(n, m.maxFee), nil
}

func (s *State) assetOf(m *market, side book.Side) uint32 {
	if side == book.Buy {
		return m.spec.Quote
	}
	return m.spec.Base
}

// lock moves amount of asset from available to locked for rec.
func (s *State) lock(rec *order, asset uint32, amount int64) error {
	b := s.bal(rec.account, asset)
	if b.avail < amount {
		return ErrInsufficientFunds
	}
	b.avail -= amount
	b.locked += amount
	rec.locked += amount
	return nil
}

// unreserve releases everything still locked for rec.
func (s *State) unreserve(m *market, rec *order) {
	b := s.bal(rec.account, s.assetOf(m, rec.side))
	b.locked -= rec.locked
	b.avail += rec.locked
	rec.locked = 0
}

// linkOrder puts slab entry i, a live order of account, first in the
// account's list of live orders: every order live after the command that
// placed it is in its account's list (the order table adds none to it,
// State.place does once its order rests or waits for its stop; a mirror
// never rests), so that a cancel-all or a freeze finds the account's
// orders without walking every book.
func (s *State) linkOrder(i int32, account uint64) {
	a := s.accounts.at(account)
	l := s.orders.link(i)
	l.prev, l.next = -1, a.orders-1
	if a.orders != 0 {
		s.orders.link(a.orders - 1).prev = i
	}
	a.orders = i + 1
}

// unlinkOrder takes slab entry i, a live order of account, out of the
// account's list of live orders, if it is in it.
func (s *State) unlinkOrder(i int32, account uint64) {
	l := s.orders.link(i)
	switch {
	case l.prev == notLinked:
		return
	case l.prev >= 0:
		s.orders.link(l.prev).next = l.next
	default:
		s.accounts.at(account).orders = l.next + 1
	}
	if l.next >= 0 {
		s.orders.link(l.next).prev = l.prev
	}
}

// finish releases what is left of a live order and forgets it.
func (s *State) finish(m *market, id uint64) {
	i, ok := s.orders.index.Take(id) // one probe, not a get and a remove
	if !ok {
		return
	}
	rec := s.orders.at(i)
	s.unreserve(m, rec)
	s.unlinkOrder(i, rec.account)
	if m.open != nil {
		m.openDone(rec.account)
	}
	if rec.copied {
		s.leaderOrderDone(rec)
	}
	if !rec.ref.IsZero() {
		// The client order id stays, for resends, within a bounded window.
		s.retireClientID(rec, i)
	}
	if rec.gtd {
		s.dropExpiry(id)
	}
	s.orders.free1(i)
}

// settle applies the book's events to balances and appends them, tagged,
// to dst. Orders that left the book are finished.
func (s *State) settle(m *market, bevs []book.Event, dst []Event) []Event {
	ids := s.ids[:0]
	for i := range bevs {
		// Written in place, field by field: dst is the event buffer the
		// results stage reads. An Event built on the stack and then
		// appended is copied with loads wider than the stores that
		// built it, which makes the CPU wait for every earlier store.
		// Every field once, not zeroed first; and what settling needs
		// (kind, ids, price, quantities) read from the book's event, not
		// back from this one (profiles put 0.2–0.5 s of the matcher's 4 s
		// on such loads).
		n := len(dst)
		if n == cap(dst) {
			dst = slices.Grow(dst, len(bevs)-i)
		}
		dst = dst[:n+1]
		ev := &dst[n]
		be := &bevs[i]
		copyEvent(&ev.Event, be)
		ev.Handle = 0
		ev.Market, ev.CopyReason = m.id, CopyNone
		ev.TakerFee, ev.MakerFee, ev.Relation, ev.Amount = 0, 0, 0, 0
		switch be.Kind {
		case book.EvAccepted, book.EvTriggered, book.EvAmended:
			// Where the order sits now, or nothing of it is left once its
			// events are settled. (A trade may still take out one that
			// sits: finish forgets it then.)
			if h := be.Handle; h == 0 {
				ids = append(ids, be.OrderID)
			} else if k, ok := s.orders.index.Get(be.OrderID); ok {
				*s.orders.handle(k) = h
			}
		case book.EvTrade:
			s.trades++
			ev.TakerFee, ev.MakerFee = s.trade(m, be)
			if be.MakerRemaining == 0 {
				s.finish(m, be.MakerID)
			}
		case book.EvCancelled, book.EvExpired:
			s.finish(m, be.OrderID)
		}
	}
	for _, id := range ids {
		s.finish(m, id)
	}
	s.ids = ids
	return dst
}

// copyEvent copies the book's event src into dst, field by field, but
// for its Handle: where an order sits depends on the book's past (a book
// restored from a snapshot places its orders afresh), so it is not part
// of an outcome, and the engine's events leave it 0. Field by field: the
// book has just written src so, and a copy with loads wider than those
// stores would wait for them all (see book's addEvent).
// TestCopyEventFields fails if book.Event gains a field this leaves out.
func copyEvent(dst, src *book.Event) {
	dst.Kind, dst.Side, dst.Reason, dst.KeptPriority = src.Kind, src.Side, src.Reason, src.KeptPriority
	dst.OrderID, dst.Owner, dst.MakerID, dst.MakerOwner = src.OrderID, src.Owner, src.MakerID, src.MakerOwner
	dst.Price, dst.Qty, dst.Remaining, dst.MakerRemaining = src.Price, src.Qty, src.Remaining, src.MakerRemaining
}

// trade moves money for one fill and returns the fees charged.
func (s *State) trade(m *market, ev *book.Event) (takerFee, makerFee int64) {
	sp := &m.spec
	taker, maker := s.orders.get(ev.OrderID), s.orders.get(ev.MakerID)
	n := ev.Price * ev.Qty * sp.QuoteScale // bounded by createMarket
	if s.leaders.len() > 0 {
		// Every fill of a leader's order is mirrored, against whatever
		// it traded, a mirrored order included; fills of mirrored
		// orders never are (noteFill).
		s.noteFill(taker, m, ev, n)
		s.noteFill(maker, m, ev, n)
	}
	taker.filled += ev.Qty
	maker.filled += ev.Qty
	base := ev.Qty * sp.BaseScale
	takerFee, makerFee = feeOf(n, sp.TakerFeeBps), feeOf(n, sp.MakerFeeBps)
	buyer, seller := taker, maker
	buyFee, sellFee := takerFee, makerFee
	if ev.Side == book.Sell {
		buyer, seller = maker, taker
		buyFee, sellFee = makerFee, takerFee
	}
	// Buyer: pay notional + fee out of the reservation, get the base.
	part := n + buyFee
	if buyer.limit > 0 {
		c, _ := buyCost(m, buyer.limit, ev.Qty)
		part = min(c, buyer.locked)
	}
	bq := s.bal(buyer.account, sp.Quote)
	bq.locked -= part
	bq.avail += part - n - buyFee
	buyer.locked -= part
	s.bal(buyer.account, sp.Base).avail += base
	// Seller: give the base, get notional − fee.
	sb := s.bal(seller.account, sp.Base)
	sb.locked -= base
	seller.locked -= base
	s.bal(seller.account, sp.Quote).avail += n - sellFee
	s.bal(FeeAccount, sp.Quote).avail += buyFee + sellFee
	return takerFee, makerFee
}

// liveOrder returns the live order a cancel or amend names: by OrderID,
// or with OrderID 0 by the account's client order id in Ref. It returns
// ErrUnknownOrder if there is none; an order of another account is
// reported as unknown too.
//
// It returns the order's slab entry too, for its handle.
func (s *State) liveOrder(cmd *Command) (*order, int32, *market, error) {
	account := cmd.Account
	var rec *order
	var i int32
	if cmd.OrderID == 0 && !cmd.Ref.IsZero() {
		i, rec = s.clientIDLive(account, &cmd.Ref, refTagOf(cmd))
	} else if k, ok := s.orders.index.Get(cmd.OrderID); ok {
		i, rec = k, s.orders.at(k)
	}
	if rec == nil || rec.account != account {
		return nil, 0, nil, ErrUnknownOrder
	}
	m, _ := s.market(rec.market)
	return rec, i, m, nil
}

// handleOf returns where live order id sits in its book; 0 (which no
// book method accepts) if it is not live.
func (s *State) handleOf(id uint64) book.Handle {
	if i, ok := s.orders.index.Get(id); ok {
		return *s.orders.handle(i)
	}
	return 0
}

// bookOrder returns live order id as its book m describes it.
func (s *State) bookOrder(m *market, id uint64) (book.OrderInfo, bool) {
	return m.book.OrderAt(s.handleOf(id), id)
}

// bookCancel cancels live order id in its book m, appending the book's
// events to s.bevs[:0].
func (s *State) bookCancel(m *market, id uint64) ([]book.Event, error) {
	return m.book.CancelAt(s.bevs[:0], s.handleOf(id), id)
}

func (s *State) cancel(cmd *Command, dst []Event) (result, []Event) {
	rec, i, m, err := s.liveOrder(cmd)
	if err != nil {
		return result{Err: err}, dst
	}
	bevs, err := m.book.CancelAt(s.bevs[:0], *s.orders.handle(i), rec.id)
	s.bevs = bevs
	if err != nil {
		return result{Err: err}, dst
	}
	id := rec.id // settle frees rec
	return result{ID: id}, s.settle(m, bevs, dst)
}

func (s *State) cancelAll(cmd *Command, dst []Event) (result, []Event) {
	if !s.userAccount(cmd.Account) {
		return result{Err: ErrUnknownAccount}, dst
	}
	switch cmd.Cause {
	case book.ReasonNone, book.ReasonCancelAllAfter, book.ReasonDisconnect:
	default:
		return result{Err: ErrInvalidCommand}, dst
	}
	m, err := s.market(cmd.Market)
	if err != nil {
		return result{Err: err}, dst
	}
	// The account's live orders in the market, from its list (not by
	// walking the book: a cancel-all of an account with few orders cost
	// a book of a million 0.2 s), oldest first. settle uses s.ids.
	var ids []uint64
	for i := s.accounts.at(cmd.Account).orders - 1; i >= 0; i = s.orders.link(i).next {
		if rec := s.orders.at(i); rec.market == m.id {
			ids = append(ids, rec.id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		bevs, _ := s.bookCancel(m, id)
		if cmd.Cause != book.ReasonNone {
			for i := range bevs {
				if bevs[i].Kind == book.EvCancelled {
					bevs[i].Reason = cmd.Cause
				}
			}
		}
		s.bevs = bevs
		dst = s.settle(m, bevs, dst)
	}
	return result{ID: uint64(len(ids))}, dst
}

func (s *State) amend(cmd *Command, dst []Event) (result, []Event) {
	if s.isFrozen(cmd.Account) {
		// Before the order's lookup: a frozen account has none live, and
		// its amend is refused as frozen rather than as of an unknown
		// order.
		return result{Err: ErrAccountFrozen}, dst
	}
	rec, i, m, err := s.liveOrder(cmd)
	if err != nil {
		return result{Err: err}, dst
	}
	if m.halted {
		return result{Err: ErrMarketHalted}, dst
	}
	var o book.OrderInfo // as the book has it, if needed
	if cmd.Kind == CmdAmendTotal || m.spec.PriceBandBps != 0 {
		o, _ = m.book.OrderAt(*s.orders.handle(i), rec.id) // live: in its book (Check)
	}
	price, qty := cmd.Order.Price, cmd.Order.Qty
	if cmd.Kind == CmdAmendTotal {
		if price, qty, err = openOfTotal(m, rec, &o, price, qty); err != nil {
			return result{Err: err}, dst
		}
	}
	// The new reservation: base for a sell, cost at the new price for a
	// buy. Check it before touching the book; apply the difference after.
	var need int64
	var ok bool
	if rec.side == book.Sell {
		need, ok = mul(max(qty, 0), m.spec.BaseScale)
		if !ok {
			return result{Err: book.ErrQtyAboveMax}, dst
		}
	} else if price > 0 && qty > 0 {
		if need, err = buyCost(m, price, qty); err != nil {
			return result{Err: err}, dst
		}
	}
	if m.spec.PriceBandBps != 0 {
		if err := amendBand(m, rec, &o, price); err != nil {
			return result{Err: err}, dst
		}
	}
	b := s.bal(rec.account, s.assetOf(m, rec.side))
	if need-rec.locked > b.avail {
		return result{Err: ErrInsufficientFunds}, dst
	}
	bevs, err := m.book.AmendAt(s.bevs[:0], *s.orders.handle(i), rec.id, price, qty)
	s.bevs = bevs
	if err == nil && rec.origQty > 0 {
		rec.origQty = rec.filled + qty // the order's size is now this
		rec.amended = true
	}
	if err != nil {
		return result{Err: err}, dst
	}
	b.avail -= need - rec.locked
	b.locked += need - rec.locked
	rec.locked = need
	if rec.side == book.Buy {
		rec.limit = price
	}
	id := rec.id // settle may free rec
	return result{ID: id}, s.settle(m, bevs, dst)
}

// amendBand refuses (ErrPriceOutOfBand) an amend of resting order rec
// that moves its price further into the aggressive side to one beyond m's
// band around the last trade price, as a new order at that price would
// be. An amend that keeps the price, or moves it back towards the passive
// side (a buy lower, a sell higher), is not held to the band: the band or
// the last price may have moved since the order was placed, and its owner
// may move it back step by step. Nor is an amend of a pending stop, which
// the book refuses.
func amendBand(m *market, rec *order, o *book.OrderInfo, price int64) error {
	ok := o.ID != 0
	if !ok || o.Stop || price == o.Price || (rec.side == book.Buy) == (price < o.Price) {
		return nil
	}
	if outOfBand(m, rec.side, price, m.book.LastPrice()) {
		return ErrPriceOutOfBand
	}
	return nil
}

// openOfTotal converts the price and total quantity of a CmdAmendTotal
// into the price and open quantity of a CmdAmend, as of now: a price of 0
// keeps the order's price, a total of 0 keeps its open quantity, and a
// positive total must exceed what the order has filled and be at most the
// market's MaxQty.
func openOfTotal(m *market, rec *order, o *book.OrderInfo, price, total int64) (int64, int64, error) {
	if o.ID == 0 {
		return 0, 0, ErrUnknownOrder // every live order is in its book
	}
	if price == 0 {
		price = o.Price
	}
	switch {
	case total == 0:
		return price, o.Open, nil
	case total < 0:
		return price, total, nil // the book rejects it
	case total <= rec.filled:
		return 0, 0, ErrAmendBelowFilled
	case total > m.book.Rules().MaxQty:
		// The order's size is now total: held to MaxQty as a new order's
		// quantity is, however little of it is still open.
		return 0, 0, book.ErrQtyAboveMax
	}
	return price, total - rec.filled, nil
}
