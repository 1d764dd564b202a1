package server

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"

	"github.com/instant-social-trading/ist/engine"
	"github.com/valyala/fasthttp"
)

// signup handles POST /v1/accounts: open sign-up, a new account and its
// first token. Besides the client address's anonymous rate limit, it is
// charged to the address's sign-up limit (Options.SignupRate).
func (s *Server) signup(ctx *fasthttp.RequestCtx) {
	if s.opts.DisableSignup {
		writeError(ctx, errSignupClosed)
		return
	}
	s.createAccount(ctx, true)
}

// signupLimited charges a valid sign-up to its client address's sign-up
// limit and, if the address has none left, answers 429 and returns true.
func (s *Server) signupLimited(ctx *fasthttp.RequestCtx) bool {
	if s.signupRL == nil {
		return false
	}
	ip := clientNet(ctx)
	if s.signupRL.allow(maphash.Bytes(s.signupRL.seed, ip[:])) {
		return false
	}
	writeError(ctx, fmt.Errorf("%w (sign-up: at most %s a second from one address, bursts of %d; to open accounts for your own users, POST /v1/admin/accounts)",
		errRateLimited, strconv.FormatFloat(s.opts.SignupRate, 'f', -1, 64), int(s.signupRL.burst)))
	ctx.Response.Header.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(1/s.opts.SignupRate)), 10))
	return true
}

// adminCreateAccount handles POST /v1/admin/accounts: an account and its
// first token, opened by the operator (or a back end holding the admin
// token) whether or not open sign-up is on, and not charged to the
// sign-up limit.
func (s *Server) adminCreateAccount(ctx *fasthttp.RequestCtx) {
	if err := s.admin(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	s.createAccount(ctx, false)
}

// createAccount opens the account the body names and answers 201 with it
// and its first token. A sign-up (open) is charged to the sign-up limit
// once its body is valid: a refused one costs only the anonymous rate.
func (s *Server) createAccount(ctx *fasthttp.RequestCtx, open bool) {
	var r signupReq
	p, ok := decodeBody(ctx, &r, decodeSignup)
	if !ok {
		return
	}
	defer parsers.Put(p)
	var name engine.Name
	if err := checkName("name", r.name, len(name)); err != nil { // names.go
		writeError(ctx, err)
		return
	}
	name, _ = engine.MakeName(string(r.name)) // checkName refused a zero byte
	if open && s.signupLimited(ctx) {
		return
	}
	res, err := s.do(&engine.Command{Kind: engine.CmdCreateAccount, Name: name}, nil)
	if err != nil {
		writeError(ctx, err)
		return
	}
	s.met.registrations.Inc()
	tok, tid, err := s.issueToken(res.ID)
	if err != nil {
		writeError(ctx, err)
		return
	}
	var arr [256]byte
	b := strconvUint(append(arr[:0], `{"id":`...), res.ID)
	b = appendStr(b, "name", name.String())
	b = appendStr(b, "token", tok)
	b = appendUint(b, "token_id", tid)
	writeJSON(ctx, 201, append(b, '}'))
}

// getAccount handles GET /v1/account: the caller's balances.
func (s *Server) getAccount(ctx *fasthttp.RequestCtx) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	s.waitViews()
	v, ok := s.eng.Account(acct)
	if !ok {
		writeError(ctx, fmt.Errorf("%w: account %d", errNotFound, acct))
		return
	}
	var arr [1024]byte
	writeJSON(ctx, 200, s.appendAccount(arr[:0], v))
}

// appendAccount appends an account object with its balances and whether
// it is frozen (POST /v1/admin/accounts/{id}/freeze).
func (s *Server) appendAccount(b []byte, v *engine.AccountView) []byte {
	b = strconvUint(append(b, `{"id":`...), v.Account)
	b = appendStr(b, "name", v.Name.String())
	b = appendBool(b, "frozen", v.Frozen)
	b = append(b, `,"balances":[`...)
	for i, bal := range v.Balances {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(append(b, `{"asset":`...), s.assetName(bal.Asset))
		b = appendAmount(b, "available", bal.Available)
		b = appendAmount(b, "locked", bal.Locked)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// waitViews waits until the engine's views show every command durable
// now: a client reads what its earlier requests wrote. It returns the
// error of a timeout; most callers then serve the older view.
func (s *Server) waitViews() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.RequestTimeout)
	defer cancel()
	return s.eng.WaitViews(ctx, s.eng.DurableSeq())
}

// newToken handles POST /v1/tokens: another token for the caller.
func (s *Server) newToken(ctx *fasthttp.RequestCtx) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	s.writeNewToken(ctx, acct)
}

// writeNewToken issues a token for acct and answers it (201).
func (s *Server) writeNewToken(ctx *fasthttp.RequestCtx, acct uint64) {
	tok, tid, err := s.issueToken(acct)
	if err != nil {
		writeError(ctx, err)
		return
	}
	var arr [256]byte
	b := strconvUint(append(arr[:0], `{"id":`...), tid)
	b = appendUint(b, "account_id", acct)
	b = appendStr(b, "token", tok)
	writeJSON(ctx, 201, append(b, '}'))
}

// revoke handles DELETE /v1/tokens/{id}: any token of the caller's but
// its last (409 last_token).
func (s *Server) revoke(ctx *fasthttp.RequestCtx, id uint64) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	s.writeRevoke(ctx, acct, id, false)
}

// writeRevoke revokes token id of acct and answers.
func (s *Server) writeRevoke(ctx *fasthttp.RequestCtx, acct, id uint64, last bool) {
	if err := s.revokeToken(acct, id, last); err != nil {
		writeError(ctx, err)
		return
	}
	var arr [64]byte
	b := strconvUint(append(arr[:0], `{"id":`...), id)
	writeJSON(ctx, 200, append(b, `,"revoked":true}`...))
}

// listTokens handles GET /v1/tokens: the ids of the caller's live tokens,
// the one of the request marked current. Tokens themselves are never
// shown again, nor their hashes.
func (s *Server) listTokens(ctx *fasthttp.RequestCtx) {
	t, err := userToken(s.requestToken(ctx))
	if err != nil {
		writeError(ctx, err)
		return
	}
	s.writeTokens(ctx, t.account, t.id)
}

// writeTokens answers the live tokens of acct; current is the request's
// token id (0: none, and no "current" fields).
func (s *Server) writeTokens(ctx *fasthttp.RequestCtx, acct, current uint64) {
	ids := s.accountTokens(acct)
	b := strconvUint(append(make([]byte, 0, 64+32*len(ids)), `{"account_id":`...), acct)
	b = append(b, `,"tokens":[`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconvUint(append(b, `{"id":`...), id)
		if current != 0 {
			b = appendBool(b, "current", id == current)
		}
		b = append(b, '}')
	}
	writeJSON(ctx, 200, append(b, "]}"...))
}

// adminTokens handles GET and POST /v1/admin/accounts/{id}/tokens: the
// live tokens of a user account, or a new one (201), which counts
// against Options.MaxTokens like any. An unknown account, the fee account
// and a copy wallet are 404.
func (s *Server) adminTokens(ctx *fasthttp.RequestCtx, m string, acct uint64) {
	if err := s.admin(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	if err := s.userAccount(acct); err != nil {
		writeError(ctx, err)
		return
	}
	if m == "GET" {
		s.writeTokens(ctx, acct, 0)
		return
	}
	s.writeNewToken(ctx, acct)
}

// adminRevoke handles DELETE /v1/admin/accounts/{id}/tokens/{token_id}:
// any token of the account, its last included (the operator's decision),
// closing its streams as a user's revocation does.
func (s *Server) adminRevoke(ctx *fasthttp.RequestCtx, acct, id uint64) {
	if err := s.admin(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	s.writeRevoke(ctx, acct, id, true)
}

// userAccount returns a not_found error unless acct is a user account:
// one the engine knows, not the fee account (0) nor a copy wallet.
func (s *Server) userAccount(acct uint64) error {
	s.waitViews() // an account just signed up
	if v, ok := s.eng.Account(acct); ok && acct != 0 && v.Relation == 0 {
		return nil
	}
	return fmt.Errorf("%w: no user account %d", errNotFound, acct)
}

// withdraw handles POST /v1/withdrawals.
func (s *Server) withdraw(ctx *fasthttp.RequestCtx) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	s.transfer(ctx, acct, false)
}

// transfer runs a deposit (to the body's account_id) or a withdrawal
// from acct (a user's, or the fee account's), once the caller is
// authorized for it, and answers {"account_id","asset","amount","ref",
// "duplicate"}: 201, or 200 for a resend of a ref already used.
func (s *Server) transfer(ctx *fasthttp.RequestCtx, acct uint64, deposit bool) {
	p := parsers.Get()
	defer parsers.Put(p)
	var r transferReq
	if err := decodeTransfer(p, ctx.PostBody(), &r, deposit); err != nil {
		writeError(ctx, err)
		return
	}
	if deposit {
		acct = r.account
	}
	name, ok := engine.MakeName(string(r.asset))
	if !ok {
		writeError(ctx, fmt.Errorf("%w: bad asset name", errInvalid))
		return
	}
	asset, ok := s.markets().dir.Asset(name)
	if !ok {
		writeError(ctx, fmt.Errorf("%w: asset %q", errNotFound, r.asset))
		return
	}
	amt, err := amount(r.amount, "amount")
	if err != nil {
		writeError(ctx, err)
		return
	}
	if amt <= 0 {
		writeError(ctx, fmt.Errorf("%w: amount must be positive", errInvalid))
		return
	}
	if err := checkRef("ref", r.ref); err != nil {
		writeError(ctx, err)
		return
	}
	ref, _ := engine.MakeRef(string(r.ref))
	kind := engine.CmdWithdraw
	if deposit {
		kind = engine.CmdDeposit
	}
	res, err := s.do(&engine.Command{Kind: kind, Account: acct, Asset: asset, Amount: amt, Ref: ref}, nil)
	if deposit && errors.Is(err, engine.ErrUnknownAccount) { // unknown, the fee account or a copy wallet
		err = fmt.Errorf("%w: no user account %d", errNotFound, acct)
	}
	if err != nil {
		writeError(ctx, err)
		return
	}
	var arr [256]byte
	b := strconvUint(append(arr[:0], `{"account_id":`...), acct)
	b = appendStr(b, "asset", name.String())
	b = appendAmount(b, "amount", amt)
	b = appendStr(b, "ref", ref.String())
	b = appendBool(b, "duplicate", res.Duplicate)
	status := 201
	if res.Duplicate {
		status = 200
	}
	writeJSON(ctx, status, append(b, '}'))
}
