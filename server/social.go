package server

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2"
	"github.com/instant-social-trading/ist/engine"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// Social copy-trading (API.md "Social copy-trading", COPY_TRADING.md).
// The engine owns leaders, relations and their wallets; the server adds
// leader profiles (display name and bio, kept in the metadata store under
// "social/leader/" account(8) as JSON) and the statistics of
// leaderstats.go.

// Limits of a leader profile.
const (
	maxDisplayName = 64   // characters
	maxBio         = 1000 // characters
	recentTrades   = 20   // fills on a leader's page
	followFills    = 10   // wallet fills in each follow of GET /v1/social/follows
)

// leaderProfile is the server's part of a leader's profile.
type leaderProfile struct {
	DisplayName string `json:"display_name"`
	Bio         string `json:"bio"`
}

// socialState holds the leader profiles, loaded from the store on first
// use.
type socialState struct {
	once     sync.Once
	mu       sync.RWMutex
	profiles map[uint64]leaderProfile

	// putMu serializes PUT /v1/social/leader per account (striped by
	// account id): each reads the profile and the profit share it does
	// not change, then writes them all back.
	putMu [64]sync.Mutex
}

const profilePrefix = "social/leader/"

func profileKey(account uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(profilePrefix), account)
}

// loadProfiles reads every stored profile (once).
func (s *Server) loadProfiles() {
	s.social.once.Do(func() {
		s.social.profiles = map[uint64]leaderProfile{}
		it, err := s.store.db.NewIter(&pebble.IterOptions{LowerBound: []byte(profilePrefix),
			UpperBound: []byte("social/leader0")})
		if err != nil {
			s.log.Error().Err(err).Msg("reading leader profiles")
			return
		}
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			k := it.Key()
			var p leaderProfile
			if len(k) != len(profilePrefix)+8 || json.Unmarshal(it.Value(), &p) != nil {
				s.log.Warn().Bytes("key", k).Msg("bad leader profile record")
				continue
			}
			s.social.profiles[binary.BigEndian.Uint64(k[len(profilePrefix):])] = p
		}
	})
}

// profile returns the stored profile of account, if any.
func (s *Server) profile(account uint64) (leaderProfile, bool) {
	s.loadProfiles()
	s.social.mu.RLock()
	defer s.social.mu.RUnlock()
	p, ok := s.social.profiles[account]
	return p, ok
}

// setProfile stores the profile of account.
func (s *Server) setProfile(account uint64, p leaderProfile) error {
	s.loadProfiles()
	v, _ := json.Marshal(p) // strings only: never fails
	s.social.mu.Lock()
	defer s.social.mu.Unlock()
	if err := s.store.set(profileKey(account), v); err != nil {
		return err
	}
	s.social.profiles[account] = p
	return nil
}

// displayName is the profile's display name, or the account's name.
func (s *Server) displayName(account uint64) string {
	if p, ok := s.profile(account); ok && p.DisplayName != "" {
		return p.DisplayName
	}
	if v, ok := s.eng.Account(account); ok {
		return v.Name.String()
	}
	return ""
}

// Request bodies.

// leaderReq is the body of PUT /v1/social/leader.
type leaderReq struct {
	displayName, bio []byte
	shareBps         uint64
	hasShare         bool
}

func decodeLeader(p *fastjson.Parser, body []byte, r *leaderReq) error {
	err := object(p, body, func(k []byte, v *fastjson.Value) (err error) {
		switch string(k) {
		case "display_name":
			r.displayName, err = str(v, "display_name")
		case "bio":
			r.bio, err = str(v, "bio")
		case "profit_share_bps":
			r.shareBps, err = uintField(v, "profit_share_bps")
			r.hasShare = true
		default:
			err = unknown(k)
		}
		return err
	})
	if err == nil && len(r.displayName) > 0 { // empty: the account's name
		if e := validDisplayText(string(r.displayName), maxDisplayName); e != nil {
			err = fmt.Errorf("%w: display_name %w", errInvalid, e)
		}
	}
	switch {
	case err != nil:
		return err
	case !utf8.Valid(r.bio) || utf8.RuneCount(r.bio) > maxBio:
		return fmt.Errorf("%w: bio must be valid UTF-8 of at most %d characters", errInvalid, maxBio)
	case r.shareBps > engine.MaxProfitShareBps:
		return fmt.Errorf("%w: profit_share_bps must be 0 to %d", errInvalid, engine.MaxProfitShareBps)
	}
	return nil
}

// validDisplayText returns nil if s is fit to show other users as a
// name (a leader's display_name): valid UTF-8 of 1 to max characters
// (runes, as OpenAPI's maxLength counts), without control (Cc), format
// (Cf: bidi overrides such as U+202E, zero-width characters) or line and
// paragraph separator (Zl, Zp) characters, not blank, and without white
// space at either end (refused, not trimmed, so that it is stored as
// sent: the rule of account names, names.go, which also caps bytes).
// Its error says what s "must" be, for the caller to name the field.
func validDisplayText(s string, max int) error {
	if !utf8.ValidString(s) {
		return errors.New("must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n == 0 || n > max {
		return fmt.Errorf("must be 1 to %d characters", max)
	}
	for _, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return fmt.Errorf("must not contain control or format characters (%U)", r)
		}
	}
	if strings.TrimSpace(s) == "" {
		return errors.New("must not be blank")
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return errors.New("must not begin or end with white space")
	}
	return nil
}

// copyParams are the sizing fields shared by POST and PATCH
// /v1/social/follows.
type copyParams struct {
	mode, value, maxOrderQuote []byte
	slippage, stopLoss         uint64
	hasSlippage, hasStopLoss   bool
}

// field decodes one sizing field; ok is false if k is not one.
func (c *copyParams) field(k []byte, v *fastjson.Value) (ok bool, err error) {
	switch string(k) {
	case "mode":
		c.mode, err = str(v, "mode")
	case "value":
		c.value, err = str(v, "value")
	case "max_order_quote":
		c.maxOrderQuote, err = str(v, "max_order_quote")
	case "slippage_bps":
		c.slippage, err = uintField(v, "slippage_bps")
		c.hasSlippage = true
	case "stop_loss_bps":
		c.stopLoss, err = uintField(v, "stop_loss_bps")
		c.hasStopLoss = true
	default:
		return false, nil
	}
	return true, err
}

// check validates the ranges of the integer fields.
func (c *copyParams) check() error {
	switch {
	case c.slippage > engine.MaxSlippageBps:
		return fmt.Errorf("%w: slippage_bps must be 1 to %d (0: the default %d)", errInvalid, engine.MaxSlippageBps, engine.DefaultSlippageBps)
	case c.stopLoss >= 10000:
		return fmt.Errorf("%w: stop_loss_bps must be 0 (none) to 9999", errInvalid)
	}
	return nil
}

// followReq is the body of POST /v1/social/follows.
type followReq struct {
	leader     uint64
	hasLeader  bool
	allocation []byte
	asset      []byte
	// maxShare is max_profit_share_bps, the highest profit share rate
	// the follower accepts (CopySpec.MaxProfitShareBps), if hasMaxShare.
	maxShare    uint64
	hasMaxShare bool
	copyParams
}

func decodeFollow(p *fastjson.Parser, body []byte, r *followReq) error {
	err := object(p, body, func(k []byte, v *fastjson.Value) (err error) {
		if ok, err := r.field(k, v); ok {
			return err
		}
		switch string(k) {
		case "leader_id":
			r.leader, err = uintField(v, "leader_id")
			r.hasLeader = true
		case "allocation":
			r.allocation, err = str(v, "allocation")
		case "asset":
			r.asset, err = str(v, "asset")
		case "max_profit_share_bps":
			r.maxShare, err = uintField(v, "max_profit_share_bps")
			r.hasMaxShare = true
		default:
			err = unknown(k)
		}
		return err
	})
	switch {
	case err != nil:
		return err
	case !r.hasLeader:
		return missing("leader_id")
	case r.allocation == nil:
		return missing("allocation")
	case r.maxShare > engine.MaxProfitShareBps:
		return fmt.Errorf("%w: max_profit_share_bps must be 0 to %d", errInvalid, engine.MaxProfitShareBps)
	}
	return r.check()
}

// followAmendReq is the body of PATCH /v1/social/follows/{id}: the
// sizing fields to change and top_up, quote to add to the wallet.
type followAmendReq struct {
	topUp []byte
	copyParams
}

func decodeFollowAmend(p *fastjson.Parser, body []byte, r *followAmendReq) error {
	n := 0
	err := object(p, body, func(k []byte, v *fastjson.Value) (err error) {
		n++
		if ok, err := r.field(k, v); ok {
			return err
		}
		if string(k) == "top_up" {
			r.topUp, err = str(v, "top_up")
			return err
		}
		return unknown(k)
	})
	switch {
	case err != nil:
		return err
	case n == 0:
		return fmt.Errorf("%w: give at least one of mode, value, max_order_quote, slippage_bps, stop_loss_bps, top_up", errInvalid)
	}
	return r.check()
}

var copyModeNames = [...]string{engine.CopyProportional: "proportional", engine.CopyFixedQuote: "fixed_quote",
	engine.CopyMultiplier: "multiplier"}

// spec applies the given fields of c to sp (a relation's current spec, or
// the zero spec for a new one).
func (c *copyParams) spec(sp *engine.CopySpec) error {
	if c.mode != nil {
		i, err := lookup(copyModeNames[1:], c.mode, "mode")
		if err != nil {
			return err
		}
		sp.Mode = engine.CopyMode(i + 1)
	} else if sp.Mode == 0 {
		sp.Mode = engine.CopyProportional
	}
	switch {
	case c.value != nil:
		v, err := amount(c.value, "value")
		if err != nil {
			return err
		}
		if v <= 0 {
			return fmt.Errorf("%w: value must be positive", errInvalid)
		}
		sp.Value = v // ValueOne is 10^8, the server's unit: "1" is 1.0 or 1 quote
	case sp.Value == 0 && sp.Mode == engine.CopyFixedQuote:
		return fmt.Errorf("%w: value (quote per leader order) is required for mode fixed_quote", errInvalid)
	case sp.Value == 0:
		sp.Value = engine.ValueOne
	}
	if c.maxOrderQuote != nil {
		v, err := amount(c.maxOrderQuote, "max_order_quote")
		if err != nil {
			return err
		}
		sp.MaxOrderQuote = v
	}
	if c.hasSlippage {
		sp.SlippageBps = int32(c.slippage)
	}
	if c.hasStopLoss {
		sp.StopLossBps = int32(c.stopLoss)
	}
	return nil
}

// Handlers.

// routeSocial routes the social endpoints with an id in the path (the
// others are fixedRoutes); ok is false for other paths.
func (s *Server) routeSocial(ctx *fasthttp.RequestCtx, m, p string) (route string, ok bool) {
	if rest, ok := segment(p, "/v1/social/leaders/", ""); ok {
		const r = "/v1/social/leaders/{account_id}"
		return s.only(ctx, m, "GET", r, func(ctx *fasthttp.RequestCtx) {
			id, err := parseID(rest)
			if err != nil {
				writeError(ctx, err)
				return
			}
			s.getLeader(ctx, id)
		}), true
	}
	rest, found := strings.CutPrefix(p, "/v1/social/follows/")
	if !found || rest == "" {
		return "", false
	}
	sid, op, _ := strings.Cut(rest, "/")
	id, err := parseID(sid)
	switch op {
	case "":
		const r = "/v1/social/follows/{id}"
		if err != nil {
			writeError(ctx, err)
			return r, true
		}
		switch m {
		case "DELETE":
			s.unfollow(ctx, id)
		case "PATCH":
			s.amendFollow(ctx, id)
		default:
			methodNotAllowed(ctx, "PATCH, DELETE")
		}
		return r, true
	case "fills":
		const r = "/v1/social/follows/{id}/fills"
		return s.only(ctx, m, "GET", r, func(ctx *fasthttp.RequestCtx) {
			if err != nil {
				writeError(ctx, err)
				return
			}
			s.listFollowFills(ctx, id)
		}), true
	case "pause", "resume":
		r := "/v1/social/follows/{id}/" + op
		return s.only(ctx, m, "POST", r, func(ctx *fasthttp.RequestCtx) {
			if err != nil {
				writeError(ctx, err)
				return
			}
			kind := engine.CmdPauseFollow
			if op == "resume" {
				kind = engine.CmdResumeFollow
			}
			s.followCommand(ctx, id, kind, engine.CloseKeep)
		}), true
	}
	return "", false
}

// putLeader handles PUT /v1/social/leader.
func (s *Server) putLeader(ctx *fasthttp.RequestCtx) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	var r leaderReq
	p, ok := decodeBody(ctx, &r, decodeLeader)
	if !ok {
		return
	}
	defer parsers.Put(p)
	// The command carries the whole profile: the fields not in the
	// request come from the stored profile and the leader's view. Updates
	// of one account are serialized from that read to their result, and
	// the read waits for every durable command's view, so that a
	// concurrent update of other fields is never overwritten with what it
	// changed.
	mu := &s.social.putMu[acct%uint64(len(s.social.putMu))]
	mu.Lock()
	defer mu.Unlock()
	if err := s.waitViews(); err != nil {
		writeError(ctx, fmt.Errorf("%w: %w", errUnavailable, err))
		return
	}
	prof, _ := s.profile(acct)
	if r.displayName != nil {
		prof.DisplayName = string(r.displayName)
	}
	if r.bio != nil {
		prof.Bio = string(r.bio)
	}
	share := int32(r.shareBps)
	if !r.hasShare {
		if v, ok := s.eng.Leader(acct); ok {
			share = v.ProfitShareBps
		}
	}
	res, err := s.do(&engine.Command{Kind: engine.CmdSetLeaderProfile, Account: acct,
		Copy: engine.CopySpec{ProfitShareBps: share}}, nil)
	if err != nil {
		writeError(ctx, err)
		return
	}
	if err := s.setProfile(acct, prof); err != nil {
		writeError(ctx, err)
		return
	}
	s.waitSeq(res.Seq)
	v, ok := s.eng.Leader(acct)
	if !ok {
		writeError(ctx, fmt.Errorf("%w: leader %d", errNotFound, acct))
		return
	}
	writeJSON(ctx, 200, append(s.appendLeaderProfile(make([]byte, 0, 512), v), '}'))
}

// appendLeaderProfile appends the fields of a leader's profile, leaving
// the object open. Its profit_share_bps is the leader's current rate,
// the rate of new follows; each follow shows its own (appendFollow).
func (s *Server) appendLeaderProfile(b []byte, v *engine.LeaderView) []byte {
	prof, _ := s.profile(v.Account)
	b = strconvUint(append(b, `{"account_id":`...), v.Account)
	b = appendStr(b, "display_name", s.displayName(v.Account))
	b = appendStr(b, "bio", prof.Bio)
	b = appendInt(b, "profit_share_bps", int64(v.ProfitShareBps))
	return appendInt(b, "followers", int64(v.Active)) // active relations: paused ones are not counted
}

// appendRatio appends a ratio field as a decimal string with 6 places
// ("0.052100"); NaN and infinities become "0".
func appendRatio(b []byte, key string, v float64) []byte {
	return appendRatioField(b, key, v, false)
}

// appendRatioField is appendRatio, without the leading comma if first.
func appendRatioField(b []byte, key string, v float64, first bool) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	b = append(appendKey(b, key, first), '"')
	b = strconv.AppendFloat(b, v, 'f', 6, 64)
	return append(b, '"')
}

// appendStats appends the statistics of a leaderboard row as fields of an
// object (first: without a leading comma).
func (s *Server) appendStats(b []byte, r *leaderRow, first bool) []byte {
	if r.Valuation == 0 {
		b = append(appendKey(b, "valuation_asset", first), "null"...)
	} else {
		b = appendString(appendKey(b, "valuation_asset", first), s.assetName(r.Valuation))
	}
	b = appendRatio(b, "roi", r.ROI)
	b = appendAmount(b, "pnl", r.PnL)
	b = appendRatio(b, "win_rate", r.WinRate)
	b = appendInt(b, "round_trips", int64(r.RoundTrips))
	b = appendRatio(b, "max_drawdown", r.MaxDrawdown)
	b = appendAmount(b, "aum", r.AUM)
	b = appendInt(b, "active_followers", int64(r.Followers))
	b = appendAmount(b, "copier_pnl", r.CopierPnL)
	b = appendRatio(b, "copy_gap", r.CopyGap)
	return appendAmount(b, "profit_share_income", r.ProfitShare)
}

var windowNames = []string{"7d", "30d", "all"}

// listLeaders handles GET /v1/social/leaders?sort=&window=&limit=.
func (s *Server) listLeaders(ctx *fasthttp.RequestCtx) {
	q := ctx.QueryArgs()
	sortKey := string(q.Peek("sort"))
	if sortKey == "" {
		sortKey = "roi"
	}
	if !slices.Contains([]string{"roi", "pnl", "followers", "aum"}, sortKey) {
		writeError(ctx, fmt.Errorf("%w: sort must be roi, pnl, followers or aum", errInvalid))
		return
	}
	wname := string(q.Peek("window"))
	if wname == "" {
		wname = "30d"
	}
	w, ok := parseWindow(wname)
	if !ok {
		writeError(ctx, fmt.Errorf("%w: window must be 7d, 30d or all", errInvalid))
		return
	}
	limit, err := queryLimit(ctx)
	if err != nil {
		writeError(ctx, err)
		return
	}
	s.waitViews()
	rows := s.leaderBoard(sortKey, w, limit) // waits for the statistics if it computes
	b := append(make([]byte, 0, 128+400*len(rows)), `{"sort":`...)
	b = appendString(b, sortKey)
	b = appendStr(b, "window", wname)
	b = append(b, `,"leaders":[`...)
	for i := range rows {
		r := &rows[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = strconvUint(append(b, `{"rank":`...), uint64(i+1))
		b = appendUint(b, "account_id", r.Leader)
		b = appendStr(b, "display_name", s.displayName(r.Leader))
		if v, ok := s.eng.Leader(r.Leader); ok {
			b = appendInt(b, "profit_share_bps", int64(v.ProfitShareBps))
		}
		b = append(s.appendStats(b, r, false), '}')
	}
	writeJSON(ctx, 200, append(b, "]}"...))
}

// getLeader handles GET /v1/social/leaders/{account_id}: profile, stats
// per window and recent trades.
func (s *Server) getLeader(ctx *fasthttp.RequestCtx, id uint64) {
	s.waitViews()
	s.waitStats(s.eng.DurableSeq())
	v, ok := s.eng.Leader(id)
	if !ok {
		writeError(ctx, fmt.Errorf("%w: leader %d", errNotFound, id))
		return
	}
	b := s.appendLeaderProfile(make([]byte, 0, 8192), v)
	b = append(b, `,"stats":{`...)
	for i, name := range windowNames {
		w, _ := parseWindow(name)
		r := s.leaderRow(id, w)
		b = append(appendKey(b, name, i == 0), '{')
		b = append(s.appendStats(b, &r, true), '}')
	}
	b = append(b, `},"recent_trades":[`...)
	fills := s.rm.fills(nil, id, 0, 0, math.MaxInt)
	fills = fills[max(0, len(fills)-recentTrades):]
	n := 0
	for i := len(fills) - 1; i >= 0; i-- { // newest first
		m, ok := s.marketByID(fills[i].Market)
		if !ok {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = s.appendFill(b, &fills[i], m)
	}
	writeJSON(ctx, 200, append(b, "]}"...))
}

// defaultAsset is the wallet asset of a follow that names none: USDT if
// a market quotes it, else the quote asset of market 1.
func (s *Server) defaultAsset() (uint32, bool) {
	c := s.markets()
	if c.dir == nil {
		return 0, false
	}
	if id, ok := c.dir.Asset(engine.Name{'U', 'S', 'D', 'T'}); ok && c.quoted(id) {
		return id, true
	}
	if m, ok := c.byID[1]; ok {
		return m.spec.Quote, true
	}
	return 0, false
}

// quoted reports whether some market quotes asset: a follow's wallet
// holds its asset and mirrors only the leader's fills in markets quoted
// in it.
func (c *marketCache) quoted(asset uint32) bool {
	for _, m := range c.list {
		if m.spec.Quote == asset {
			return true
		}
	}
	return false
}

// follow handles POST /v1/social/follows.
func (s *Server) follow(ctx *fasthttp.RequestCtx) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	var r followReq
	p, ok := decodeBody(ctx, &r, decodeFollow)
	if !ok {
		return
	}
	defer parsers.Put(p)
	var asset uint32
	var err error
	if r.asset != nil {
		name, ok := engine.MakeName(string(r.asset))
		if ok {
			asset, ok = s.markets().dir.Asset(name)
		}
		if !ok {
			writeError(ctx, fmt.Errorf("%w: asset %q", errNotFound, r.asset))
			return
		}
	} else if asset, err = s.defaultAssetErr(); err != nil {
		writeError(ctx, err)
		return
	}
	if !s.markets().quoted(asset) {
		writeError(ctx, fmt.Errorf("%w: asset %s is the quote asset of no market: a follow's wallet, in that asset, could copy no trade",
			errInvalid, s.assetName(asset)))
		return
	}
	alloc, err := amount(r.allocation, "allocation")
	if err != nil {
		writeError(ctx, err)
		return
	}
	if alloc <= 0 {
		writeError(ctx, fmt.Errorf("%w: allocation must be positive", errInvalid))
		return
	}
	var sp engine.CopySpec
	if err := r.spec(&sp); err != nil {
		writeError(ctx, err)
		return
	}
	sp.Leader = r.leader
	sp.HasMaxProfitShare, sp.MaxProfitShareBps = r.hasMaxShare, int32(r.maxShare)
	res, err := s.do(&engine.Command{Kind: engine.CmdFollow, Account: acct, Asset: asset, Amount: alloc, Copy: sp}, nil)
	if errors.Is(err, engine.ErrProfitShareAboveMax) {
		err = fmt.Errorf("%w: leader %d's profit share rate is above your max_profit_share_bps %d (it was raised); "+
			"nothing was moved: see its current profit_share_bps and follow again", err, r.leader, r.maxShare)
	}
	if err != nil {
		writeError(ctx, err)
		return
	}
	s.answerFollow(ctx, 201, res.Seq, res.ID, nil, nil)
}

func (s *Server) defaultAssetErr() (uint32, error) {
	if id, ok := s.defaultAsset(); ok {
		return id, nil
	}
	return 0, fmt.Errorf("%w: asset is required (no USDT and no market to take a quote asset from)", errInvalid)
}

// answerFollow waits for the views and the statistics of command seq
// and answers with relation id; returned, if not nil, is the quote its
// close returned; extra, if not nil, appends more fields.
func (s *Server) answerFollow(ctx *fasthttp.RequestCtx, status int, seq, id uint64, returned *int64, extra func([]byte) []byte) {
	s.waitSeq(seq)
	s.waitStats(seq)
	v, ok := s.eng.Relation(id)
	if !ok {
		writeError(ctx, fmt.Errorf("%w: follow %d", errNotFound, id))
		return
	}
	b := s.appendFollow(make([]byte, 0, 2048), v, s.followNAV(v), false, returned)
	if extra != nil {
		b = extra(b)
	}
	writeJSON(ctx, status, append(b, '}'))
}

// followNAV returns the NAV of open follow v at the last trade prices:
// the statistics' (leaderStats.relationNAV), as of the last result they
// applied, so that it moves with others' trades; v.NAV, which the engine
// values only when the relation itself changes (its commands, mirrored
// fills, settlements), if they do not know it open. A closed follow's is
// v.NAV (0).
func (s *Server) followNAV(v *engine.RelationView) int64 {
	if v.Status == engine.RelationClosed {
		return v.NAV
	}
	if nav, ok := s.stats.relationNAV(v.ID); ok {
		return nav
	}
	return v.NAV
}

// followPnL returns the PnL of follow v (open: nav, its followNAV, −
// allocation; closed: its NAV at close − allocation) and whether it is
// known: the statistics keep what a closed follow returned
// (leaderStats.closed), and returned, the quote it returned.
func (s *Server) followPnL(v *engine.RelationView, nav int64) (pnl, returned int64, ok bool) {
	if v.Status != engine.RelationClosed {
		return nav - v.Allocation, 0, true
	}
	nav, quote, ok := s.stats.closed(v.ID)
	return nav - v.Allocation, quote, ok
}

// appendReturnedBalances appends "returned_balances" of closed follow
// id: what its wallet held at close, by asset (its quote, and base
// unsold with close=keep or left by a close=market sale), which went back
// to the main balance; null if the statistics do not know it (a close
// they missed, or one before a release kept it).
func (s *Server) appendReturnedBalances(b []byte, id uint64) []byte {
	_, _, bal, ok := s.stats.closedBal(id)
	if !ok || bal == nil {
		return append(b, `,"returned_balances":null`...)
	}
	b = append(b, `,"returned_balances":[`...)
	n := 0
	for i, v := range bal {
		if v == 0 {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = appendString(append(b, `{"asset":`...), s.assetName(uint32(i+1)))
		b = appendAmount(b, "amount", v)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendCloseInfo appends "close_reason" (unfollow or stop_loss) and
// "closed_at" of closed relation id, both null if not known (closed
// before a release kept them).
func (s *Server) appendCloseInfo(b []byte, id uint64) []byte {
	reason, at, ok := s.stats.closeInfo(id)
	if !ok {
		return append(b, `,"close_reason":null,"closed_at":null`...)
	}
	b = appendStr(b, "close_reason", reason.String())
	return appendTime(b, "closed_at", at)
}

// appendFollow appends a follow object, leaving it open; with fills, the
// wallet's latest fills too. An open follow's nav is nav (followNAV),
// its pnl and roi from it. A closed follow has a null nav, and the
// quote its close returned: returned if not nil, else as the statistics
// know it. Its profit_share_bps is the relation's own rate
// (RelationView.ProfitShareBps), which may be below its leader's.
func (s *Server) appendFollow(b []byte, v *engine.RelationView, nav int64, fills bool, returned *int64) []byte {
	b = strconvUint(append(b, `{"id":`...), v.ID)
	b = appendUint(b, "leader_id", v.Leader)
	b = appendStr(b, "leader_name", s.displayName(v.Leader))
	b = appendUint(b, "follower_id", v.Follower)
	b = appendStr(b, "status", v.Status.String())
	b = appendStr(b, "asset", s.assetName(v.Asset))
	b = appendAmount(b, "allocation", v.Allocation)
	pnl, quote, known := s.followPnL(v, nav)
	if v.Status == engine.RelationClosed {
		b = append(b, `,"nav":null`...)
		switch {
		case returned != nil:
			b = appendAmount(b, "returned", *returned)
		case known:
			b = appendAmount(b, "returned", quote)
		default:
			b = append(b, `,"returned":null`...)
		}
		b = s.appendReturnedBalances(b, v.ID)
		b = s.appendCloseInfo(b, v.ID)
	} else {
		b = appendAmount(b, "nav", nav)
	}
	if known {
		b = appendAmount(b, "pnl", pnl)
		b = appendRatio(b, "roi", float64(pnl)/float64(max(v.Allocation, 1)))
	} else {
		b = append(b, `,"pnl":null,"roi":null`...)
	}
	b = appendAmount(b, "high_water_mark", v.HWM)
	b = appendAmount(b, "profit_share_paid", v.ProfitPaid)
	b = appendInt(b, "profit_share_bps", int64(v.ProfitShareBps)) // the relation's own rate, not the leader's current one
	mode := "proportional"
	if int(v.Spec.Mode) < len(copyModeNames) && v.Spec.Mode > 0 {
		mode = copyModeNames[v.Spec.Mode]
	}
	b = appendStr(b, "mode", mode)
	b = appendAmount(b, "value", v.Spec.Value)
	b = appendAmount(b, "max_order_quote", v.Spec.MaxOrderQuote)
	b = appendInt(b, "slippage_bps", int64(v.Spec.SlippageBps))
	b = appendInt(b, "stop_loss_bps", int64(v.Spec.StopLossBps))
	b = appendUint(b, "wallet_account_id", v.Wallet)
	b = appendUint(b, "sequence", v.Seq)
	b = append(b, `,"balances":[`...)
	if w, ok := s.eng.Account(v.Wallet); ok {
		for i, bal := range w.Balances {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(append(b, `{"asset":`...), s.assetName(bal.Asset))
			b = appendAmount(b, "available", bal.Available)
			b = appendAmount(b, "locked", bal.Locked)
			b = append(b, '}')
		}
	}
	b = append(b, ']')
	if fills {
		b = append(b, `,"fills":[`...)
		fs := s.rm.fills(nil, v.Wallet, 0, 0, math.MaxInt)
		fs = fs[max(0, len(fs)-followFills):]
		n := 0
		for i := len(fs) - 1; i >= 0; i-- {
			m, ok := s.marketByID(fs[i].Market)
			if !ok {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = s.appendFill(b, &fs[i], m)
		}
		b = append(b, ']')
	}
	return b
}

// listFollows handles GET /v1/social/follows?status=&limit=&after=: the
// caller's relations by follow id, open and closed (status all, the
// default) or only the open or the closed ones, with their PnL, wallet
// balances and latest fills; all of them (at most engine.MaxFollowsEver)
// unless limit (1 to 1,000) or after (a follow id) pages them as GET
// /v1/social/followers does; and totals per asset (followTotals) over
// every follow of the caller, whatever the page shows.
func (s *Server) listFollows(ctx *fasthttp.RequestCtx) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	status := string(ctx.QueryArgs().Peek("status"))
	if status != "" && status != "open" && status != "closed" && status != "all" {
		writeError(ctx, fmt.Errorf("%w: status must be open, closed or all", errInvalid))
		return
	}
	limit, after := math.MaxInt, uint64(0)
	if ctx.QueryArgs().Has("limit") || ctx.QueryArgs().Has("after") {
		var err error
		if limit, err = queryLimit(ctx); err == nil {
			after, err = queryAfter(ctx)
		}
		if err != nil {
			writeError(ctx, err)
			return
		}
	}
	s.waitViews()
	s.waitStats(s.eng.DurableSeq())
	var rels []*engine.RelationView
	for _, id := range s.stats.followerRelations(acct) {
		if v, ok := s.eng.Relation(id); ok {
			rels = append(rels, v)
		}
	}
	if s.chargeFollows(ctx, len(rels)) { // the totals value every one
		return
	}
	b := append(make([]byte, 0, 256+2048*min(len(rels), limit)), `{"follows":[`...)
	var totals []followTotal
	shown := 0
	for _, v := range rels {
		nav := s.followNAV(v)
		closed := v.Status == engine.RelationClosed
		if v.ID > after && shown < limit && (status == "" || status == "all" || (status == "closed") == closed) {
			if shown > 0 {
				b = append(b, ',')
			}
			shown++
			b = append(s.appendFollow(b, v, nav, true, nil), '}')
		}
		j := slices.IndexFunc(totals, func(t followTotal) bool { return t.asset == v.Asset })
		if j < 0 {
			j = len(totals)
			totals = append(totals, followTotal{asset: v.Asset})
		}
		t := &totals[j]
		if !closed {
			t.alloc += v.Allocation
			t.nav += nav
		}
		if pnl, _, ok := s.followPnL(v, nav); ok {
			t.pnl += pnl
		}
	}
	b = append(b, ']')
	slices.SortFunc(totals, func(a, b followTotal) int { return cmp.Compare(a.asset, b.asset) })
	switch len(totals) {
	case 0:
		b = append(b, `,"total_allocation":"0","total_nav":"0","total_pnl":"0"`...)
	case 1:
		b = appendAmount(b, "total_allocation", totals[0].alloc)
		b = appendAmount(b, "total_nav", totals[0].nav)
		b = appendAmount(b, "total_pnl", totals[0].pnl)
	default: // amounts of different assets do not add up
		b = append(b, `,"total_allocation":null,"total_nav":null,"total_pnl":null`...)
	}
	b = append(b, `,"totals":[`...)
	for i, t := range totals {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(append(b, `{"asset":`...), s.assetName(t.asset))
		b = appendAmount(b, "allocation", t.alloc)
		b = appendAmount(b, "nav", t.nav)
		b = append(appendAmount(b, "pnl", t.pnl), '}')
	}
	writeJSON(ctx, 200, append(b, "]}"...))
}

// followTotal is the totals of a follower's follows in one asset: the
// allocation and NAV of the open ones, the PnL of all (closed ones: what
// they returned − allocation; those whose return the statistics do not
// know are left out).
type followTotal struct {
	asset           uint32
	alloc, nav, pnl int64
}

// listFollowers handles GET /v1/social/followers?status=&limit=&after=:
// the relations following the caller, by follow id, open ones (status
// open, the default: all of them unless limit or after is given) valued
// at the last trade prices (followNAV); with status closed or all, also
// or only the closed ones (paged, limit default 100), with the quote
// they returned and their PnL at close as the statistics know them
// (null if not), so that a leader sees what every follow paid it.
func (s *Server) listFollowers(ctx *fasthttp.RequestCtx) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	status := string(ctx.QueryArgs().Peek("status"))
	if status != "" && status != "open" && status != "closed" && status != "all" {
		writeError(ctx, fmt.Errorf("%w: status must be open, closed or all", errInvalid))
		return
	}
	limit, after := math.MaxInt, uint64(0)
	if ctx.QueryArgs().Has("limit") || ctx.QueryArgs().Has("after") || (status != "" && status != "open") {
		var err error
		if limit, err = queryLimit(ctx); err == nil {
			after, err = queryAfter(ctx)
		}
		if err != nil {
			writeError(ctx, err)
			return
		}
	}
	s.waitViews()
	s.waitStats(s.eng.DurableSeq())
	var ids []uint64
	if status != "closed" {
		if lv, ok := s.eng.Leader(acct); ok {
			ids = append(ids, lv.Relations...)
		}
	}
	if status == "closed" || status == "all" {
		ids = append(ids, s.stats.closedRelations(acct)...)
	}
	slices.Sort(ids)
	var rels []*engine.RelationView
	for _, id := range ids {
		if id <= after {
			continue
		}
		if len(rels) == limit {
			break
		}
		if v, ok := s.eng.Relation(id); ok {
			rels = append(rels, v)
		}
	}
	if s.chargeFollows(ctx, len(rels)) {
		return
	}
	b := append(make([]byte, 0, 256+512*len(rels)), `{"followers":[`...)
	for i, v := range rels {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconvUint(append(b, `{"follow_id":`...), v.ID)
		b = appendUint(b, "follower_id", v.Follower)
		if a, ok := s.eng.Account(v.Follower); ok {
			b = appendStr(b, "follower_name", a.Name.String())
		}
		b = appendStr(b, "status", v.Status.String())
		b = appendStr(b, "asset", s.assetName(v.Asset))
		b = appendAmount(b, "allocation", v.Allocation)
		nav := s.followNAV(v)
		pnl, quote, known := s.followPnL(v, nav)
		switch {
		case v.Status != engine.RelationClosed:
			b = appendAmount(b, "nav", nav)
		case known:
			b = append(b, `,"nav":null`...)
			b = appendAmount(b, "returned", quote)
		default:
			b = append(b, `,"nav":null,"returned":null`...)
		}
		if v.Status == engine.RelationClosed {
			b = s.appendCloseInfo(b, v.ID)
		}
		if known {
			b = appendAmount(b, "pnl", pnl)
		} else {
			b = append(b, `,"pnl":null`...)
		}
		b = appendAmount(b, "profit_share_paid", v.ProfitPaid)
		b = appendInt(b, "profit_share_bps", int64(v.ProfitShareBps))
		b = append(b, '}')
	}
	writeJSON(ctx, 200, append(b, "]}"...))
}

// listFollowFills handles GET /v1/social/follows/{id}/fills?market=
// &limit=&after=: the fills of the wallet of the caller's follow id, open
// or closed, paged as GET /v1/fills pages the caller's own (the follow
// object shows only the latest few). Someone else's follow is not found.
func (s *Server) listFollowFills(ctx *fasthttp.RequestCtx, id uint64) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	v, ok := s.eng.Relation(id)
	if !ok || v.Follower != acct {
		writeError(ctx, fmt.Errorf("%w: follow %d", engine.ErrUnknownRelation, id))
		return
	}
	s.writeFills(ctx, v.Wallet)
}

// followCommand runs pause, resume or unfollow on relation id of the
// caller and answers with the follow (200).
func (s *Server) followCommand(ctx *fasthttp.RequestCtx, id uint64, kind engine.CommandKind, close engine.ClosePolicy) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	var evs [16]engine.Event
	res, err := s.do(&engine.Command{Kind: kind, Account: acct,
		Copy: engine.CopySpec{Relation: id, Close: close}}, evs[:0])
	if err != nil {
		writeError(ctx, relationErr(err, id))
		return
	}
	if kind != engine.CmdUnfollow {
		s.answerFollow(ctx, 200, res.Seq, id, nil, nil)
		return
	}
	var returned, share int64
	for i := range res.Events {
		ev := &res.Events[i]
		if ev.Relation != id {
			continue
		}
		switch ev.Kind {
		case engine.EvCopyClosed:
			returned += ev.Amount
		case engine.EvProfitShare:
			share += ev.Amount
		}
	}
	s.answerFollow(ctx, 200, res.Seq, id, &returned, func(b []byte) []byte {
		return appendAmount(b, "profit_share", share)
	})
}

// relationErr adds the relation id to the engine's relation errors.
func relationErr(err error, id uint64) error {
	switch {
	case errors.Is(err, engine.ErrUnknownRelation):
		return fmt.Errorf("%w: follow %d", err, id)
	case errors.Is(err, engine.ErrRelationClosed):
		return fmt.Errorf("%w: follow %d", err, id)
	}
	return err
}

// unfollow handles DELETE /v1/social/follows/{id}?close=market|keep.
func (s *Server) unfollow(ctx *fasthttp.RequestCtx, id uint64) {
	close := engine.CloseKeep
	switch c := string(ctx.QueryArgs().Peek("close")); c {
	case "", "keep":
	case "market":
		close = engine.CloseMarket
	default:
		writeError(ctx, fmt.Errorf("%w: close must be market or keep", errInvalid))
		return
	}
	s.followCommand(ctx, id, engine.CmdUnfollow, close)
}

// amendFollow handles PATCH /v1/social/follows/{id}.
func (s *Server) amendFollow(ctx *fasthttp.RequestCtx, id uint64) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	var r followAmendReq
	p, ok := decodeBody(ctx, &r, decodeFollowAmend)
	if !ok {
		return
	}
	defer parsers.Put(p)
	var top int64
	var err error
	if r.topUp != nil {
		if top, err = amount(r.topUp, "top_up"); err != nil {
			writeError(ctx, err)
			return
		}
	}
	// The command carries the whole spec: the fields not in the request
	// come from the relation's view. Amendments of one relation are
	// serialized from that read to their result, and the read waits for
	// every durable command's view, so that a concurrent amendment of
	// other fields is never overwritten with what it changed.
	mu := &s.amendMu[id%uint64(len(s.amendMu))]
	mu.Lock()
	defer mu.Unlock()
	if err := s.waitViews(); err != nil {
		writeError(ctx, fmt.Errorf("%w: %w", errUnavailable, err))
		return
	}
	v, ok := s.eng.Relation(id)
	if !ok || v.Follower != acct {
		writeError(ctx, relationErr(engine.ErrUnknownRelation, id))
		return
	}
	sp := v.Spec
	if r.mode != nil && r.value == nil && string(r.mode) != v.Spec.Mode.String() {
		writeError(ctx, fmt.Errorf("%w: a new mode needs its value", errInvalid))
		return
	}
	if err := r.spec(&sp); err != nil {
		writeError(ctx, err)
		return
	}
	sp.Relation = id
	res, err := s.do(&engine.Command{Kind: engine.CmdAmendFollow, Account: acct, Amount: top, Copy: sp}, nil)
	if err != nil {
		writeError(ctx, relationErr(err, id))
		return
	}
	s.answerFollow(ctx, 200, res.Seq, id, nil, nil)
}

// Settle submits a CmdSettle for every leader: profit share is paid on
// relations above their high-water mark and stop-losses are checked. istd
// calls it on a schedule (--settle-interval). It returns once the command
// is durable. Once Shutdown (or Close) has started, it returns an error
// wrapping ErrClosed.
func (s *Server) Settle(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("server: settle: %w", ErrClosed)
	}
	res, err := s.eng.Do(ctx, &engine.Command{Kind: engine.CmdSettle}, nil)
	if errors.Is(err, engine.ErrClosed) && s.closed.Load() { // a Shutdown started meanwhile
		return fmt.Errorf("server: settle: %w", ErrClosed)
	}
	if err != nil {
		return err
	}
	return res.Err
}

// adminSettle handles POST /v1/admin/settle[?leader_id=]: one settlement
// now, of every relation or of one leader's.
func (s *Server) adminSettle(ctx *fasthttp.RequestCtx) {
	if err := s.admin(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	leader, err := queryUint(ctx, "leader_id", 0)
	if err != nil {
		writeError(ctx, err)
		return
	}
	var evs [64]engine.Event
	res, err := s.do(&engine.Command{Kind: engine.CmdSettle, Account: leader}, evs[:0])
	if err != nil {
		writeError(ctx, err)
		return
	}
	var paid, closed int
	var amount int64
	for i := range res.Events {
		switch ev := &res.Events[i]; ev.Kind {
		case engine.EvProfitShare:
			paid++
			amount += ev.Amount
		case engine.EvCopyClosed:
			closed++
		}
	}
	var arr [256]byte
	b := strconvUint(append(arr[:0], `{"sequence":`...), res.Seq)
	b = appendInt(b, "profit_share_payments", int64(paid))
	b = appendAmount(b, "profit_share_amount", amount)
	b = appendInt(b, "closed", int64(closed))
	writeJSON(ctx, 200, append(b, '}'))
}
