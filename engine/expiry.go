package engine

import (
	"fmt"
	"math"

	"github.com/instant-social-trading/ist/book"
	"github.com/tidwall/btree"
)

// Good-till-date orders. A place with Command.ExpireAt rests as a GTC
// order until the first command whose Time reaches ExpireAt; before that
// command is applied (whatever its kind), the order expires. The state
// keeps the expiry times in an expiryIndex, and the earliest of them in
// State.nextExpiry, so that each command pays one comparison; nothing
// here reads a clock.

// expiryKey orders the pending expiries: by time, then by order id.
type expiryKey struct {
	at int64
	id uint64
}

func expiryLess(a, b expiryKey) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.id < b.id
}

// expiryIndex holds the expiry time of every live good-till-date order:
// by order id (for finish, which knows only the id) and in (time, id)
// order (for expire). Both are empty until the first such order.
type expiryIndex struct {
	byID  map[uint64]int64
	queue *btree.BTreeG[expiryKey]
}

func (x *expiryIndex) len() int { return len(x.byID) }

// checkExpiry validates the expiry of place cmd: a GTC limit or
// stop-limit order, expiring after the command's time.
func checkExpiry(cmd *Command) error {
	o := &cmd.Order
	if o.TIF != book.GTC || (o.Type != book.Limit && o.Type != book.StopLimit) {
		return book.ErrInvalidTIF
	}
	if cmd.ExpireAt <= cmd.Time || cmd.ExpireAt < 0 {
		return ErrInvalidExpiry
	}
	return nil
}

// addExpiry records that live order id expires at at.
func (s *State) addExpiry(id uint64, at int64) {
	x := &s.expiries
	if x.queue == nil {
		x.byID = make(map[uint64]int64)
		x.queue = btree.NewBTreeGOptions(expiryLess, btree.Options{NoLocks: true})
	}
	x.byID[id] = at
	x.queue.Set(expiryKey{at, id})
	s.nextExpiry = min(s.nextExpiry, at)
}

// dropExpiry forgets the expiry of order id, if it has one.
func (s *State) dropExpiry(id uint64) {
	x := &s.expiries
	at, ok := x.byID[id]
	if !ok {
		return
	}
	delete(x.byID, id)
	x.queue.Delete(expiryKey{at, id})
	if at == s.nextExpiry {
		s.nextExpiry = math.MaxInt64
		if k, ok := x.queue.Min(); ok {
			s.nextExpiry = k.at
		}
	}
}

// expire expires every good-till-date order whose time is at or before
// now, in (time, order id) order: each leaves its book as a cancel does,
// its reservation released, reported as EvExpired with reason
// book.ReasonExpired.
func (s *State) expire(now int64, dst []Event) []Event {
	for s.nextExpiry <= now {
		k, _ := s.expiries.queue.Min()
		if rec := s.orders.get(k.id); rec != nil {
			m := s.markets[rec.market-1]
			bevs, _ := s.bookCancel(m, k.id) // live: in its book (Check)
			for i := range bevs {
				if bevs[i].Kind == book.EvCancelled {
					bevs[i].Kind, bevs[i].Reason = book.EvExpired, book.ReasonExpired
				}
			}
			s.bevs = bevs
			dst = s.settle(m, bevs, dst) // finish forgets the expiry
		}
		s.dropExpiry(k.id) // whatever happened: the loop moves on
	}
	return dst
}

// ExpireAt returns the expiry time of live order id if it is a
// good-till-date order.
func (s *State) ExpireAt(id uint64) (int64, bool) {
	at, ok := s.expiries.byID[id]
	return at, ok
}

// NextExpiry returns the earliest expiry time of a live good-till-date
// order, and false if there is none: the time at which a command (a
// CmdTick if nothing else) is owed for them to expire on time.
func (s *State) NextExpiry() (int64, bool) {
	return s.nextExpiry, s.nextExpiry != math.MaxInt64
}

// checkExpiries verifies the expiry index: exactly the live orders
// marked gtd are in it, as resting limit orders or pending stop-limits,
// in both of its halves, and nextExpiry is its earliest time.
func (s *State) checkExpiries() error {
	x := &s.expiries
	n := 0
	for i := range s.orders.end() {
		rec := s.orders.at(i)
		if rec.id == 0 || !rec.gtd {
			continue
		}
		n++
		at, ok := x.byID[rec.id]
		if !ok || at <= 0 {
			return fmt.Errorf("engine: good-till-date order %d without an expiry time", rec.id)
		}
		if _, ok := x.queue.Get(expiryKey{at, rec.id}); !ok {
			return fmt.Errorf("engine: good-till-date order %d not in the expiry queue", rec.id)
		}
		m := s.markets[rec.market-1]
		o, live := s.bookOrder(m, rec.id)
		if !live || o.TIF != book.GTC || (o.Type != book.Limit && o.Type != book.StopLimit) {
			return fmt.Errorf("engine: good-till-date order %d is not a live GTC limit or stop-limit: %+v", rec.id, o)
		}
	}
	qn := 0
	if x.queue != nil {
		qn = x.queue.Len()
	}
	if n != len(x.byID) || n != qn {
		return fmt.Errorf("engine: %d good-till-date orders, %d expiry times, %d queued", n, len(x.byID), qn)
	}
	want := int64(math.MaxInt64)
	if qn > 0 {
		k, _ := x.queue.Min()
		want = k.at
	}
	if s.nextExpiry != want {
		return fmt.Errorf("engine: next expiry %d, the earliest is %d", s.nextExpiry, want)
	}
	return nil
}
