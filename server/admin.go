package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/instant-social-trading/ist/engine"
	"github.com/valyala/fasthttp"
)

// createMarket handles POST /v1/admin/markets: it creates the base and
// quote assets if they do not exist, then the market. Everything the
// engine would refuse is checked before the first of these commands, so
// that a refused market leaves no asset behind.
func (s *Server) createMarket(ctx *fasthttp.RequestCtx) {
	if err := s.admin(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	var r marketReq
	p, ok := decodeBody(ctx, &r, decodeMarket)
	if !ok {
		return
	}
	defer parsers.Put(p)
	if string(r.symbol) != string(r.base)+"-"+string(r.quote) {
		writeError(ctx, fmt.Errorf("%w: symbol must be BASE-QUOTE", errInvalid))
		return
	}
	if string(r.base) == string(r.quote) {
		writeError(ctx, fmt.Errorf("%w: base and quote must differ", errInvalid))
		return
	}
	sym, ok1 := engine.MakeName(string(r.symbol))
	base, ok2 := engine.MakeName(string(r.base))
	quote, ok3 := engine.MakeName(string(r.quote))
	if !ok1 || !ok2 || !ok3 || !validName(string(r.symbol)) {
		writeError(ctx, fmt.Errorf("%w: names must be 1 to 24 letters, digits, '_' or '-'", errInvalid))
		return
	}
	u, minN, maxPrice, maxQty, err := r.numbers()
	if err == nil {
		err = cmp.Or(checkAssetName(base), checkAssetName(quote))
	}
	if err == nil {
		dir := s.markets().dir
		err = cmp.Or(checkAssetCase(dir, base), checkAssetCase(dir, quote))
	}
	if err == nil {
		_, err = u.rules(minN, maxPrice, maxQty)
	}
	if err != nil { // before any command: bad input changes nothing
		writeError(ctx, err)
		return
	}
	if _, ok := s.markets().dir.Market(sym); ok {
		writeError(ctx, fmt.Errorf("%w: market %s exists", engine.ErrDuplicateName, sym))
		return
	}
	bid, err := s.ensureAsset(base)
	if err != nil {
		writeError(ctx, err)
		return
	}
	qid, err := s.ensureAsset(quote)
	if err != nil {
		writeError(ctx, err)
		return
	}
	spec := u.spec(bid, qid, minN, int32(r.makerBps), int32(r.takerBps), maxPrice, maxQty)
	spec.PriceBandBps, spec.MaxOpenOrders = int32(r.bandBps), int32(r.maxOpen)
	res, err := s.do(&engine.Command{Kind: engine.CmdCreateMarket, Name: sym, Spec: spec}, nil)
	if err != nil {
		writeError(ctx, err)
		return
	}
	s.waitSeq(res.Seq)
	m, ok := s.marketByID(uint32(res.ID))
	if !ok {
		writeError(ctx, fmt.Errorf("server: market %d missing from the directory", res.ID))
		return
	}
	var arr [512]byte
	writeJSON(ctx, 201, s.appendMarket(arr[:0], m))
}

// numbers parses the market's sizes and bounds: its units (tick and lot
// sizes), min_notional (10^-8 quote; 0 when absent) and max_price (steps)
// and max_quantity (lots), each 0 when absent. The caller still checks
// them together with units.rules.
func (r *marketReq) numbers() (u units, minN, maxPrice, maxQty int64, err error) {
	tick8, err := amount(r.tick, "tick_size")
	if err != nil {
		return u, 0, 0, 0, err
	}
	lot8, err := amount(r.lot, "lot_size")
	if err != nil {
		return u, 0, 0, 0, err
	}
	if u, err = newUnits(tick8, lot8); err != nil {
		return u, 0, 0, 0, err
	}
	if r.minNotional != nil {
		if minN, err = amount(r.minNotional, "min_notional"); err != nil {
			return u, 0, 0, 0, err
		}
	}
	if r.maxPrice != nil {
		if maxPrice, err = u.price(r.maxPrice, "max_price"); err == nil && maxPrice == 0 {
			err = fmt.Errorf("%w: max_price must be positive", errInvalid)
		}
	}
	if r.maxQty != nil && err == nil {
		if maxQty, err = u.qty(r.maxQty, "max_quantity"); err == nil && maxQty == 0 {
			err = fmt.Errorf("%w: max_quantity must be positive", errInvalid)
		}
	}
	return u, minN, maxPrice, maxQty, err
}

// validName reports whether s uses only letters, digits, '_' and '-'.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// checkAssetName returns an error unless name is a valid asset name.
func checkAssetName(name engine.Name) error {
	if !validName(name.String()) || strings.Contains(name.String(), "-") {
		return fmt.Errorf("%w: asset names use letters, digits and '_'", errInvalid)
	}
	return nil
}

// checkAssetCase returns an error if name is not an asset of dir but
// differs from one only in case ("usdt" beside "USDT"): a second asset
// that reads as the first, with balances and deposits of its own.
func checkAssetCase(dir *engine.Directory, name engine.Name) error {
	if _, ok := dir.Asset(name); ok {
		return nil
	}
	for _, a := range dir.Assets {
		if strings.EqualFold(a.String(), name.String()) {
			return fmt.Errorf("%w: asset %s differs from the existing asset %s only in case", errInvalid, name, a)
		}
	}
	return nil
}

// ensureAsset returns the id of asset name, creating it if needed.
func (s *Server) ensureAsset(name engine.Name) (uint32, error) {
	if err := checkAssetName(name); err != nil {
		return 0, err
	}
	if id, ok := s.markets().dir.Asset(name); ok {
		return id, nil
	}
	res, err := s.do(&engine.Command{Kind: engine.CmdCreateAsset, Name: name}, nil)
	if errors.Is(err, engine.ErrDuplicateName) { // created concurrently
		s.waitSeq(s.eng.DurableSeq())
		if id, ok := s.markets().dir.Asset(name); ok {
			return id, nil
		}
	}
	if err != nil {
		return 0, err
	}
	s.waitSeq(res.Seq)
	return uint32(res.ID), nil
}

// waitSeq waits until the views show command seq.
func (s *Server) waitSeq(seq uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.RequestTimeout)
	defer cancel()
	_ = s.eng.WaitViews(ctx, seq)
}

// deposit handles POST /v1/admin/deposits.
func (s *Server) deposit(ctx *fasthttp.RequestCtx) {
	if err := s.admin(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	s.transfer(ctx, 0, true)
}

// haltMarket handles POST /v1/admin/markets/{symbol}/halt and /resume.
func (s *Server) haltMarket(ctx *fasthttp.RequestCtx, sym string, halt bool) {
	if err := s.admin(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	m, ok := s.marketByName([]byte(sym))
	if !ok {
		writeError(ctx, fmt.Errorf("%w: market %q", errNotFound, sym))
		return
	}
	kind := engine.CmdResumeMarket
	if halt {
		kind = engine.CmdHaltMarket
	}
	res, err := s.do(&engine.Command{Kind: kind, Market: m.id}, nil)
	if err != nil {
		writeError(ctx, err)
		return
	}
	s.waitSeq(res.Seq)
	var arr [128]byte
	b := appendString(append(arr[:0], `{"symbol":`...), m.name)
	b = appendBool(b, "halted", halt)
	writeJSON(ctx, 200, append(b, '}'))
}

// setMarketFees handles PATCH /v1/admin/markets/{symbol}
// {"maker_fee_bps":N,"taker_fee_bps":M}: either or both (an omitted one
// keeps its value), 0 to 1000 each. It answers 200 with the market as GET
// /v1/markets shows it, once the change is durable and the market list
// shows it. The engine brings every live buy of the market to the new
// highest fee (engine.CmdSetMarketFees): a buy whose owner cannot pay a
// raise is cancelled (its order shows status cancelled). Fee changes are
// made one at a time, so that each reads the fees the last one left.
func (s *Server) setMarketFees(ctx *fasthttp.RequestCtx, sym string) {
	if err := s.admin(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	var r marketFeesReq
	p, ok := decodeBody(ctx, &r, decodeMarketFees)
	if !ok {
		return
	}
	parsers.Put(p) // r holds no bytes of the body
	s.feesMu.Lock()
	defer s.feesMu.Unlock()
	// An omitted fee keeps its value as the market list shows it: that
	// list must show every fee change made, or the omitted one would be
	// put back to what the last change replaced.
	if err := s.waitViews(); err != nil {
		writeError(ctx, fmt.Errorf("%w: the market list lags the engine (%v); retry", errUnavailable, err))
		return
	}
	m, ok := s.marketByName([]byte(sym))
	if !ok {
		writeError(ctx, fmt.Errorf("%w: market %q", errNotFound, sym))
		return
	}
	cmd := engine.Command{Kind: engine.CmdSetMarketFees, Market: m.id, Spec: engine.MarketSpec{
		MakerFeeBps: m.spec.MakerFeeBps, TakerFeeBps: m.spec.TakerFeeBps}}
	if r.hasMaker {
		cmd.Spec.MakerFeeBps = int32(r.makerBps)
	}
	if r.hasTaker {
		cmd.Spec.TakerFeeBps = int32(r.takerBps)
	}
	s.changeMarket(ctx, &cmd)
}

// changeMarket submits cmd, a change of market cmd.Market's rules, and
// answers 200 with the market as GET /v1/markets shows it once the change
// is durable and the market list shows it.
func (s *Server) changeMarket(ctx *fasthttp.RequestCtx, cmd *engine.Command) {
	res, err := s.do(cmd, nil)
	if err != nil {
		writeError(ctx, err)
		return
	}
	s.waitSeq(res.Seq)
	now, ok := s.marketByID(cmd.Market)
	if !ok {
		writeError(ctx, fmt.Errorf("server: market %d missing from the directory", cmd.Market))
		return
	}
	var arr [512]byte
	writeJSON(ctx, 200, s.appendMarket(arr[:0], now))
}

// setPriceBand handles POST /v1/admin/markets/{symbol}/price-band
// {"price_band_bps":N}: the market's price band, 0 (none) to 10000,
// halted or not (engine.CmdSetPriceBand). Orders from then on are held to
// it; open orders and pending stops are untouched. It answers 200 with the
// market as GET /v1/markets shows it, once the change is durable and the
// market list shows it; setting the band a market has is 200 too.
func (s *Server) setPriceBand(ctx *fasthttp.RequestCtx, sym string) {
	s.setMarketRule(ctx, sym, &bandRule, func(v int32) engine.Command {
		return engine.Command{Kind: engine.CmdSetPriceBand, Spec: engine.MarketSpec{PriceBandBps: v}}
	})
}

// setMaxOpenOrders handles POST /v1/admin/markets/{symbol}/max-open-orders
// {"max_open_orders":N}: the most open orders (pending stops included)
// one account may have in the market, 0 (no limit) to 1,000,000, halted
// or not (engine.CmdSetMaxOpenOrders). From then on an order that could
// rest (a gtc or gtd limit, a stop) by an account with that many is
// refused with 400 too_many_open_orders; open orders are untouched, even
// where an account has more than the new limit. It answers as
// setPriceBand does.
func (s *Server) setMaxOpenOrders(ctx *fasthttp.RequestCtx, sym string) {
	s.setMarketRule(ctx, sym, &openLimitRule, func(v int32) engine.Command {
		return engine.Command{Kind: engine.CmdSetMaxOpenOrders, Spec: engine.MarketSpec{MaxOpenOrders: v}}
	})
}

// setMarketRule handles the route of rule for market sym: the admin
// token, the body, the market, then the command cmd makes of the value,
// through changeMarket.
func (s *Server) setMarketRule(ctx *fasthttp.RequestCtx, sym string, rule *marketRule, cmd func(v int32) engine.Command) {
	if err := s.admin(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	r := marketRuleReq{rule: rule}
	p, ok := decodeBody(ctx, &r, decodeMarketRule)
	if !ok {
		return
	}
	parsers.Put(p) // r holds no bytes of the body
	m, ok := s.marketByName([]byte(sym))
	if !ok {
		writeError(ctx, fmt.Errorf("%w: market %q", errNotFound, sym))
		return
	}
	c := cmd(int32(r.v)) // r.v ≤ rule.max, far below 2^31
	c.Market = m.id
	s.changeMarket(ctx, &c)
}

// freezeAccount handles POST /v1/admin/accounts/{id}/freeze and
// /unfreeze (engine.CmdSetAccountFrozen). A freeze cancels every open
// order and pending stop of the account in every market, oldest first;
// while frozen, the account's orders, amends, withdrawals and
// copy-trading changes are refused with 403 account_frozen, and its
// follows skip their leaders' fills (reason account_frozen). It answers
// 200 {"account_id","frozen","cancelled":[order ids]} once the change is
// durable and the account's view shows it; freezing a frozen account (or
// unfreezing one that is not) is 200 with nothing cancelled. An id that
// is not a user account (the fee account 0, a copy wallet, none) is 404.
func (s *Server) freezeAccount(ctx *fasthttp.RequestCtx, id uint64, frozen bool) {
	if err := s.admin(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	res, err := s.do(&engine.Command{Kind: engine.CmdSetAccountFrozen, Account: id, Frozen: frozen}, nil)
	if err != nil {
		writeError(ctx, err)
		return
	}
	s.waitSeq(res.Seq)
	b := strconvUint(append(make([]byte, 0, 128), `{"account_id":`...), id)
	b = appendBool(b, "frozen", frozen)
	writeJSON(ctx, 200, appendCancelledIDs(b, res.Events))
}

// backup handles POST /v1/admin/backup {"to": DIR}: an online backup to a
// directory of the server's machine that must not exist yet.
func (s *Server) backup(ctx *fasthttp.RequestCtx) {
	if err := s.admin(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	var r backupReq
	p, ok := decodeBody(ctx, &r, decodeBackup)
	if !ok {
		return
	}
	defer parsers.Put(p)
	dir := string(r.to)
	seq, err := s.backupTo(dir)
	if err != nil {
		writeError(ctx, fmt.Errorf("%w: %v", errInvalid, err))
		return
	}
	var arr [256]byte
	b := appendString(append(arr[:0], `{"to":`...), dir)
	b = appendUint(b, "sequence", seq) // the backup holds every command up to it
	writeJSON(ctx, 201, append(b, '}'))
}

// listAccounts handles GET /v1/admin/accounts?limit=&after=: accounts
// with ids above after, in id order, with their balances and their kind:
// "user", or "copy_wallet" for the wallet of a copy relation (created by
// a follow, nameless), with its relation_id and owner_id (the follower).
func (s *Server) listAccounts(ctx *fasthttp.RequestCtx) {
	if err := s.admin(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	limit, err := queryLimit(ctx)
	if err != nil {
		writeError(ctx, err)
		return
	}
	after, err := queryUint(ctx, "after", 0)
	if err != nil {
		writeError(ctx, err)
		return
	}
	s.waitViews()
	b := append(make([]byte, 0, 4096), `{"accounts":[`...)
	// Account ids are dense: 0 is the fee account, users from 1.
	for id, n := after+1, 0; n < limit; id, n = id+1, n+1 {
		v, ok := s.eng.Account(id)
		if !ok {
			break
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = s.appendAccount(b, v)
		b = appendAccountKind(b[:len(b)-1], s.eng, v) // into the object
	}
	writeJSON(ctx, 200, append(b, "]}"...))
}

// appendAccountKind appends the kind of account v ("user" or
// "copy_wallet") and, for a copy wallet, its relation_id and owner_id,
// closing the object.
func appendAccountKind(b []byte, e *engine.Engine, v *engine.AccountView) []byte {
	if v.Relation == 0 {
		return append(appendStr(b, "kind", "user"), '}')
	}
	b = appendStr(b, "kind", "copy_wallet")
	b = appendUint(b, "relation_id", v.Relation)
	if r, ok := e.Relation(v.Relation); ok {
		b = appendUint(b, "owner_id", r.Follower)
	}
	return append(b, '}')
}
