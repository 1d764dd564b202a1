package engine

import "github.com/instant-social-trading/ist/book"

// MarketView is an immutable picture of one market after the command with
// sequence number Seq. The matcher builds a new one after each batch that
// touched the market; it is published only once that batch is durable.
// Readers must not modify it.
type MarketView struct {
	Market  uint32
	Name    Name
	Seq     uint64
	Halted  bool
	Last    int64 // last trade price, 0 before the first trade
	Bids    []book.Level
	Asks    []book.Level
	Resting int // resting orders
	// MakerFeeBps and TakerFeeBps are the market's fees now (see
	// CmdSetMarketFees).
	MakerFeeBps, TakerFeeBps int32
}

// AccountView is an immutable picture of one account's balances after the
// command with sequence number Seq, published like MarketView.
type AccountView struct {
	Account  uint64
	Name     Name
	Seq      uint64
	Balances []Balance // by asset, only assets the account ever held
	// Relation is, for a copy wallet (the account a Follow creates for
	// its relation), the relation's id; 0 for every other account.
	Relation uint64
	// Frozen: an operator suspended the account (CmdSetAccountFrozen).
	Frozen bool
}

// Balance is an account's holding of one asset, in asset units.
type Balance struct {
	Asset     uint32
	Available int64
	Locked    int64
}

// MarketView returns a fresh view of market id (for the engine's matcher,
// or for tests driving a State directly).
func (s *State) MarketView(id uint32, depth int) (*MarketView, error) {
	m, err := s.market(id)
	if err != nil {
		return nil, err
	}
	return &MarketView{
		Market: id, Name: m.name, Seq: s.seq, Halted: m.halted, Last: m.book.LastPrice(),
		Bids: m.book.Depth(nil, book.Buy, depth), Asks: m.book.Depth(nil, book.Sell, depth),
		Resting: m.book.Len(), MakerFeeBps: m.spec.MakerFeeBps, TakerFeeBps: m.spec.TakerFeeBps,
	}, nil
}

// AccountView returns a fresh view of account id.
func (s *State) AccountView(id uint64) (*AccountView, error) {
	if id >= uint64(s.accounts.len()) {
		return nil, ErrUnknownAccount
	}
	a := s.accounts.at(id)
	v := &AccountView{Account: id, Name: a.name, Seq: s.seq, Balances: make([]Balance, 0, len(a.bal)),
		Relation: a.relation, Frozen: a.frozen}
	for i, b := range a.bal {
		if b.avail != 0 || b.locked != 0 {
			v.Balances = append(v.Balances, Balance{Asset: uint32(i + 1), Available: b.avail, Locked: b.locked})
		}
	}
	return v, nil
}

// AssetID returns the id of asset name.
func (s *State) AssetID(name Name) (uint32, bool) {
	id, ok := s.assetByName[name]
	return id, ok
}

// MarketID returns the id of market name.
func (s *State) MarketID(name Name) (uint32, bool) {
	id, ok := s.marketByName[name]
	return id, ok
}

// Directory lists the assets and markets, for resolving names to ids. It
// is immutable; the engine publishes a new one when either list changes
// and when a market's fees, price band or limit on open orders do
// (CmdSetMarketFees, CmdSetPriceBand, CmdSetMaxOpenOrders).
type Directory struct {
	Assets  []Name // by id-1
	Markets []MarketInfo
}

// MarketInfo describes one market.
type MarketInfo struct {
	ID   uint32
	Name Name
	// Spec is the market's spec, with its fees, price band and limit on
	// open orders as they are now (the last CmdSetMarketFees,
	// CmdSetPriceBand and CmdSetMaxOpenOrders, if any).
	Spec MarketSpec
}

// Asset returns the id of asset name.
func (d *Directory) Asset(name Name) (uint32, bool) {
	for i, a := range d.Assets {
		if a == name {
			return uint32(i + 1), true
		}
	}
	return 0, false
}

// Market returns the market called name.
func (d *Directory) Market(name Name) (MarketInfo, bool) {
	for _, m := range d.Markets {
		if m.Name == name {
			return m, true
		}
	}
	return MarketInfo{}, false
}

func (s *State) directory() *Directory {
	d := &Directory{Assets: append([]Name(nil), s.assets...)}
	for _, m := range s.markets {
		d.Markets = append(d.Markets, MarketInfo{ID: m.id, Name: m.name, Spec: m.spec})
	}
	return d
}

// RelationView is an immutable picture of one copy relation after the
// command with sequence number Seq, published like AccountView. The
// wallet's balances are in the AccountView of Wallet.
type RelationView struct {
	ID       uint64
	Seq      uint64
	Follower uint64
	Leader   uint64
	Wallet   uint64 // the account id of the relation's copy wallet
	Asset    uint32 // the wallet's quote asset
	Status   RelationStatus
	// Spec holds the sizing parameters: Mode, Value, MaxOrderQuote,
	// SlippageBps, StopLossBps (and Leader, Relation; its ProfitShareBps
	// is 0: the relation's rate is ProfitShareBps below).
	Spec CopySpec
	// ProfitShareBps is the profit share rate the relation pays its
	// leader at settlement and unfollow: the leader's rate when the
	// follow was made, lowered at once whenever the leader lowers its
	// rate below it, never raised (see CmdSetLeaderProfile). It may be
	// below the leader's current rate (LeaderView.ProfitShareBps), which
	// is the rate of new follows.
	ProfitShareBps int32
	// Allocation is the quote moved into the wallet; HWM the high-water
	// mark for profit share; ProfitPaid the profit share paid so far.
	Allocation, HWM, ProfitPaid int64
	// NAV is the wallet's value in quote at the last trade prices when
	// the view was built (0 once closed).
	NAV int64
}

// LeaderView is an immutable picture of one leader's profile.
type LeaderView struct {
	Account uint64
	Seq     uint64
	// ProfitShareBps is the leader's current rate: the rate of new
	// follows. Each relation pays its own (RelationView.ProfitShareBps).
	ProfitShareBps int32
	Relations      []uint64 // open (active or paused) relations, ascending
	// Active counts the active relations among Relations: the leader's
	// followers (COPY_TRADING.md, Leader statistics). Paused relations
	// still mirror sells but are not counted.
	Active int
}

// RelationView returns a fresh view of copy relation id.
func (s *State) RelationView(id uint64) (*RelationView, error) {
	if id < 1 || id > uint64(s.relations.len()) {
		return nil, ErrUnknownRelation
	}
	r := s.relations.at(id - 1)
	return &RelationView{ID: id, Seq: s.seq, Follower: r.follower, Leader: r.leader, Wallet: r.wallet,
		Asset: r.asset, Status: r.status, Spec: r.spec, ProfitShareBps: r.shareBps, Allocation: r.allocation,
		HWM: r.hwm, ProfitPaid: r.paid, NAV: s.nav(r)}, nil
}

// LeaderView returns a fresh view of leader account id.
func (s *State) LeaderView(account uint64) (*LeaderView, error) {
	if !s.validAccount(account) || s.accounts.at(account).leader == 0 {
		return nil, ErrNotLeader
	}
	L := s.leaderOf(account)
	v := &LeaderView{Account: account, Seq: s.seq, ProfitShareBps: L.profitShareBps,
		Relations: append([]uint64(nil), L.rels...)}
	for _, id := range L.rels {
		if s.relations.at(id-1).status == RelationActive {
			v.Active++
		}
	}
	return v, nil
}
