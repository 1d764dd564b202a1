package engine

import "github.com/instant-social-trading/ist/book"

// touched collects the markets and accounts a batch changed, so that the
// matcher rebuilds only their views. Marks are batch numbers, so nothing
// is cleared between batches.
type touched struct {
	s         *State
	batch     uint64
	mMark     []uint64 // by market id
	aMark     []uint64 // by account id
	rMark     []uint64 // by relation id
	lMark     []uint64 // by leader account id
	markets   []uint32
	accounts  []uint64
	relations []uint64
	leaders   []uint64
	// inBatch lists the markets touched by the current batch of the
	// matcher's, not by all those since the last views (markets): the
	// books growAhead looks at after each batch. bMark marks them with
	// the batch's number, nBatch.
	inBatch []uint32
	bMark   []uint64
	nBatch  uint64
}

func newTouched(s *State) *touched { return &touched{s: s, batch: 1, nBatch: 1} }

// endBatch starts the next batch of inBatch.
func (t *touched) endBatch() {
	t.inBatch = t.inBatch[:0]
	t.nBatch++
}

// mark adds id to list unless marks says it is there for this batch.
func mark(marks *[]uint64, list *[]uint64, id uint64, batch uint64) {
	for len(*marks) <= int(id) {
		*marks = append(*marks, 0)
	}
	if (*marks)[id] != batch {
		(*marks)[id] = batch
		*list = append(*list, id)
	}
}

// relation marks relation id, its wallet and follower, and its leader.
func (t *touched) relation(id uint64) {
	if id < 1 || id > uint64(t.s.relations.len()) {
		return
	}
	mark(&t.rMark, &t.relations, id, t.batch)
	r := t.s.relations.at(id - 1)
	t.account(r.wallet)
	t.account(r.follower)
	t.account(r.leader)
	mark(&t.lMark, &t.leaders, r.leader, t.batch)
}

func (t *touched) market(id uint32) {
	for len(t.mMark) <= int(id) {
		t.mMark = append(t.mMark, 0)
		t.bMark = append(t.bMark, 0)
	}
	if t.bMark[id] != t.nBatch {
		t.bMark[id] = t.nBatch
		t.inBatch = append(t.inBatch, id)
	}
	if t.mMark[id] != t.batch {
		t.mMark[id] = t.batch
		t.markets = append(t.markets, id)
	}
}

func (t *touched) account(id uint64) {
	for len(t.aMark) <= int(id) {
		t.aMark = append(t.aMark, 0)
	}
	if t.aMark[id] != t.batch {
		t.aMark[id] = t.batch
		t.accounts = append(t.accounts, id)
	}
}

// command records what one applied command touched: what its kind
// changes, and what its events say (a failed command's too: the
// good-till-date orders that expired before it).
func (t *touched) command(cmd *Command, out result, evs []Event) {
	t.kind(cmd, out)
	t.events(evs)
}

// kind records what one applied command's kind changes, without its
// events (nothing for a failed or duplicate command). The matcher records
// a command's events a command later (see Engine.matcher).
func (t *touched) kind(cmd *Command, out result) {
	if out.Err != nil || out.Duplicate {
		return
	}
	switch cmd.Kind {
	case CmdCreateMarket:
		t.market(uint32(out.ID))
	case CmdHaltMarket, CmdResumeMarket, CmdSetPriceBand, CmdSetMaxOpenOrders:
		t.market(cmd.Market)
	case CmdSetMarketFees:
		// A change of the highest fee moves money between the available
		// and locked balances of the owners of live buys, without an
		// event (those cancelled have one).
		t.market(cmd.Market)
		if m, err := t.s.market(cmd.Market); err == nil {
			for o := range m.book.All() {
				if o.Side == book.Buy {
					t.account(o.Owner)
				}
			}
		}
	case CmdCreateAccount:
		t.account(out.ID)
	case CmdSetAccountFrozen:
		t.account(cmd.Account) // its view shows Frozen
	case CmdDeposit, CmdWithdraw, CmdPlace, CmdCancel, CmdCancelAll, CmdAmend, CmdAmendTotal:
		t.account(cmd.Account)
	case CmdSetLeaderProfile:
		t.account(cmd.Account)
		mark(&t.lMark, &t.leaders, cmd.Account, t.batch)
		// A lower rate lowers the open relations' (relation.shareBps).
		if l := t.s.accounts.at(cmd.Account).leader; l != 0 {
			for _, id := range t.s.leaders.at(uint64(l - 1)).rels {
				t.relation(id)
			}
		}
	case CmdFollow, CmdAmendFollow, CmdPauseFollow, CmdResumeFollow, CmdUnfollow:
		t.relation(out.ID)
	case CmdSettle:
		// A settlement may raise a relation's high-water mark without an
		// event (no fee due): every relation it looked at is touched.
		if cmd.Account == 0 {
			for i := range uint64(t.s.relations.len()) {
				if t.s.relations.at(i).status != RelationClosed {
					t.relation(uint64(i + 1))
				}
			}
		} else if l := t.s.accounts.at(cmd.Account).leader; l != 0 {
			for _, id := range t.s.leaders.at(uint64(l - 1)).rels {
				t.relation(id)
			}
		}
	}
}

// events records what evs touched.
func (t *touched) events(evs []Event) {
	for i := range evs {
		ev := &evs[i]
		if ev.Market != 0 {
			t.market(ev.Market)
		}
		t.account(ev.Owner)
		if ev.Kind == book.EvTrade {
			t.account(ev.MakerOwner)
			t.account(FeeAccount)
		}
		if ev.Relation != 0 && ev.Kind != EvCopySkipped {
			t.relation(ev.Relation)
		}
	}
}

// dirty reports whether something changed since the last views.
func (t *touched) dirty() bool {
	return len(t.markets) > 0 || len(t.accounts) > 0 || len(t.relations) > 0 || len(t.leaders) > 0
}

// views builds fresh views of everything touched into ab, and starts the
// next batch.
func (t *touched) views(depth int, ab *afterBatch) {
	s := t.s
	for _, id := range t.markets {
		if v, err := s.MarketView(id, depth); err == nil {
			ab.markets = append(ab.markets, v)
		}
	}
	for _, id := range t.accounts {
		if v, err := s.AccountView(id); err == nil {
			ab.accounts = append(ab.accounts, v)
		}
	}
	for _, id := range t.relations {
		if v, err := s.RelationView(id); err == nil {
			ab.relations = append(ab.relations, v)
		}
	}
	for _, id := range t.leaders {
		if v, err := s.LeaderView(id); err == nil {
			ab.leaders = append(ab.leaders, v)
		}
	}
	t.markets, t.accounts, t.relations, t.leaders = t.markets[:0], t.accounts[:0], t.relations[:0], t.leaders[:0]
	t.batch++
}
