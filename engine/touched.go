package engine

import "github.com/instant-social-trading/ist/book"

// touched collects the markets and accounts a batch changed, so that the
// matcher rebuilds only their views. Marks are batch numbers, so nothing
// is cleared between batches.
type touched struct {
	batch    uint64
	mMark    []uint64 // by market id
	aMark    []uint64 // by account id
	markets  []uint32
	accounts []uint64
}

func newTouched() *touched { return &touched{batch: 1} }

func (t *touched) market(id uint32) {
	for len(t.mMark) <= int(id) {
		t.mMark = append(t.mMark, 0)
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

// command records what one applied command touched.
func (t *touched) command(cmd *Command, out *Outcome, evs []Event) {
	if out.Err != nil || out.Duplicate {
		return
	}
	switch cmd.Kind {
	case CmdCreateMarket:
		t.market(uint32(out.ID))
	case CmdHaltMarket, CmdResumeMarket:
		t.market(cmd.Market)
	case CmdCreateAccount:
		t.account(out.ID)
	case CmdDeposit, CmdWithdraw, CmdPlace, CmdCancel, CmdCancelAll, CmdAmend:
		t.account(cmd.Account)
	}
	for i := range evs {
		ev := &evs[i]
		t.market(ev.Market)
		t.account(ev.Owner)
		if ev.Kind == book.EvTrade {
			t.account(ev.MakerOwner)
			t.account(FeeAccount)
		}
	}
}

// dirty reports whether something changed since the last views.
func (t *touched) dirty() bool { return len(t.markets) > 0 || len(t.accounts) > 0 }

// views builds fresh views of everything touched, appends them to ms and
// as, and starts the next batch.
func (t *touched) views(s *State, depth int, ms []*MarketView, as []*AccountView) ([]*MarketView, []*AccountView) {
	for _, id := range t.markets {
		if v, err := s.MarketView(id, depth); err == nil {
			ms = append(ms, v)
		}
	}
	for _, id := range t.accounts {
		if v, err := s.AccountView(id); err == nil {
			as = append(as, v)
		}
	}
	t.markets, t.accounts = t.markets[:0], t.accounts[:0]
	t.batch++
	return ms, as
}
