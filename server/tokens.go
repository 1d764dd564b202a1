package server

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// User tokens: sign-up issues an account's first, POST /v1/tokens more
// (at most Options.MaxTokens live ones per account), DELETE
// /v1/tokens/{id} revokes one but never the account's last (409
// last_token), GET /v1/tokens lists the caller's. The operator issues
// and revokes any account's tokens, its last included
// (/v1/admin/accounts/{id}/tokens, accounts.go). The store keeps
// their SHA-256 hashes (store.go); the server holds every live token in
// memory, by hash, by id and by account, under tokMu.
//
// Every authenticated request reads the maps (lookupToken, RLock), so
// tokMu is never held across a store write, which waits for an fsync:
//
//	issue:  lock: check the cap, hold a slot    unlock
//	        store the token (synced)
//	        lock: publish it (or free the slot)  unlock
//	revoke: lock: mark it revoked, take it out of the maps, hold its slot  unlock
//	        close its streams; delete it from the store (synced)
//	        lock: free the slot (or, if the delete failed, put it back)  unlock
//
// A held slot counts against the cap, so the cap holds under concurrent
// issues, and a revoked token's slot is free only once its deletion is
// durable. A revoked token stops authenticating as soon as it leaves the
// maps, before its deletion is durable; revoke answers only after.
// Token writes to the store are ordered by tokWriteMu (the store numbers
// tokens from its "seq/token" key), which lookups never take.
//
// A request's bearer token is hashed and looked up once: the rate
// limiter (ratelimit.go) must know whether it is a live token before the
// handler runs, and keeps what it found on the request (requestToken),
// where account and admin find it.
//
// Revoking a token closes every stream authenticated with it (hub.revoke,
// stream.go). revoked is set before the token leaves the maps, and the
// hub checks it when it binds a stream to a token, so a stream whose
// token is revoked while it authenticates is closed too.

// DefaultMaxTokens is the most live tokens an account may hold when
// Options.MaxTokens is zero.
const DefaultMaxTokens = 100

// liveToken is a user token held in memory. Its fields other than
// revoked never change.
type liveToken struct {
	tokenRec
	// slot numbers the token among its account's (acctTokens.slots),
	// and bucket is the key of its rate limiter bucket (ratelimit.go),
	// that of its account's slot: a token issued after one was revoked
	// takes the lowest free slot, and with it that slot's bucket, as it
	// was left. So an account never has more buckets than the most
	// tokens it held at once (Options.MaxTokens), and issuing and
	// revoking tokens in turn does not buy a full bucket each time.
	slot    int
	bucket  uint64
	revoked atomic.Bool // set once, when the token is revoked
}

// acctTokens are an account's tokens in memory (under tokMu): the live
// ones, and the slots held by issues and revocations whose store write is
// under way. slots[i] is true while slot i is taken: by a live token, or
// by one being revoked until its deletion is durable.
type acctTokens struct {
	live  []*liveToken
	held  int
	slots []bool
}

// takeSlot returns the account's lowest free slot, taking it.
func (a *acctTokens) takeSlot() int {
	i := slices.Index(a.slots, false)
	if i < 0 {
		i = len(a.slots)
		a.slots = append(a.slots, false)
	}
	a.slots[i] = true
	return i
}

// tokenBucket returns the rate limiter key of slot of account.
func (s *Server) tokenBucket(account uint64, slot int) uint64 {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], account)
	binary.LittleEndian.PutUint64(b[8:], uint64(slot))
	return maphash.Bytes(s.tokSeed, b[:])
}

// What requestToken finds besides a user token.
var (
	adminToken   = &liveToken{} // the admin token
	unknownToken = &liveToken{} // no token of ours (made up or revoked)
)

// tokenKey is the request user value under which requestToken keeps its
// result.
type tokenKey struct{}

// loadTokens reads the user tokens into memory.
func (s *Server) loadTokens() error {
	recs, err := s.store.tokens()
	if err != nil {
		return err
	}
	s.tokens = make(map[[32]byte]*liveToken, len(recs))
	s.byID = make(map[uint64]*liveToken, len(recs))
	s.perAcct = make(map[uint64]*acctTokens)
	s.tokSeed = maphash.MakeSeed()
	for _, r := range recs {
		s.publishToken(&liveToken{tokenRec: r}, -1)
	}
	return nil
}

// acct returns the tokens of account, creating them. The caller holds
// tokMu for writing.
func (s *Server) acct(account uint64) *acctTokens {
	a := s.perAcct[account]
	if a == nil {
		a = &acctTokens{}
		s.perAcct[account] = a
	}
	return a
}

// publishToken puts t in the maps, in slot (its account's lowest free
// one if slot is negative). The caller holds tokMu for writing.
func (s *Server) publishToken(t *liveToken, slot int) {
	a := s.acct(t.account)
	if slot < 0 {
		slot = a.takeSlot()
	}
	t.slot, t.bucket = slot, s.tokenBucket(t.account, slot)
	s.tokens[t.hash], s.byID[t.id] = t, t
	a.live = append(a.live, t)
}

// release frees a slot account held, and forgets an account left without
// tokens. The caller holds tokMu for writing.
func (s *Server) release(account uint64, a *acctTokens) {
	if a.held--; a.held == 0 && len(a.live) == 0 {
		delete(s.perAcct, account)
	}
}

// issueToken creates and stores a token for account. It fails with
// errTooManyTokens if the account already holds MaxTokens live tokens.
// The caller checks that account is a user account.
func (s *Server) issueToken(account uint64) (string, uint64, error) {
	tok := newToken()
	h := hashToken([]byte(tok))
	s.tokMu.Lock()
	a := s.acct(account)
	if n := len(a.live) + a.held; s.opts.MaxTokens > 0 && n >= s.opts.MaxTokens {
		s.tokMu.Unlock()
		return "", 0, fmt.Errorf("%w: the account holds %d live tokens, the most allowed; revoke one first",
			errTooManyTokens, n)
	}
	a.held++ // a stays in perAcct while it holds a slot
	s.tokMu.Unlock()

	var id uint64
	err := s.beforeTokenWrite()
	if err == nil {
		s.tokWriteMu.Lock()
		id, err = s.store.addToken(h, account)
		s.tokWriteMu.Unlock()
	}

	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	if err == nil {
		s.publishToken(&liveToken{tokenRec: tokenRec{id: id, account: account, hash: h}}, -1)
	}
	s.release(account, a)
	if err != nil {
		return "", 0, err
	}
	return tok, id, nil
}

// revokeToken deletes token id of account and closes the streams
// authenticated with it: when it returns, they get no more messages and
// the deletion is durable. Unless last is true, it refuses to revoke the
// account's last live token (errLastToken): the account and its funds
// would be out of reach of its owner.
func (s *Server) revokeToken(account, id uint64, last bool) error {
	s.tokMu.Lock()
	t, ok := s.byID[id]
	if !ok || t.account != account {
		s.tokMu.Unlock()
		return fmt.Errorf("%w: token %d", errNotFound, id)
	}
	a := s.perAcct[account]
	if !last && len(a.live) == 1 {
		s.tokMu.Unlock()
		return fmt.Errorf("%w: token %d is the account's last live token: revoking it would lock the account out; "+
			"issue another first (POST /v1/tokens)", errLastToken, id)
	}
	t.revoked.Store(true) // before it leaves the maps: see hub.authenticate
	delete(s.tokens, t.hash)
	delete(s.byID, id)
	a.live = slices.DeleteFunc(a.live, func(x *liveToken) bool { return x == t })
	a.held++ // its slot (and slots[t.slot]), until the deletion is durable
	s.tokMu.Unlock()

	s.hub.revoke(t)
	err := s.beforeTokenWrite()
	if err == nil {
		err = s.store.deleteToken(t.tokenRec)
	}

	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	if err != nil {
		// The store still holds it, and so must memory: as a new value,
		// since revoked is set once, in its slot. Its streams stay closed.
		s.publishToken(&liveToken{tokenRec: t.tokenRec}, t.slot)
	} else {
		a.slots[t.slot] = false // its bucket goes to the next token issued
	}
	s.release(account, a)
	return err
}

// beforeTokenWrite runs the tests' hook, if any, before a token's store
// write: an error stands for the write's.
func (s *Server) beforeTokenWrite() error {
	if s.tokenWriteHook == nil {
		return nil
	}
	return s.tokenWriteHook()
}

// accountTokens returns the ids of account's live tokens, in order.
func (s *Server) accountTokens(account uint64) []uint64 {
	s.tokMu.RLock()
	var ids []uint64
	if a := s.perAcct[account]; a != nil {
		ids = make([]uint64, len(a.live))
		for i, t := range a.live {
			ids[i] = t.id
		}
	}
	s.tokMu.RUnlock()
	slices.Sort(ids)
	return ids
}

// lookupToken returns the live user token tok, adminToken or
// unknownToken.
func (s *Server) lookupToken(tok []byte) *liveToken {
	h := hashToken(tok)
	s.tokMu.RLock()
	t := s.tokens[h]
	s.tokMu.RUnlock()
	switch {
	case t != nil:
		return t
	case subtle.ConstantTimeCompare(h[:], s.adminHash[:]) == 1:
		return adminToken
	}
	return unknownToken
}

// requestToken returns what the request's bearer token is (a live user
// token, adminToken or unknownToken), or nil if it has none. The token is
// looked up once per request: the result is kept on the request (a
// pointer in its user values: no allocation).
func (s *Server) requestToken(ctx *fasthttp.RequestCtx) *liveToken {
	if t, ok := ctx.UserValue(tokenKey{}).(*liveToken); ok {
		return t
	}
	tok := bearer(ctx)
	if tok == nil {
		return nil
	}
	t := s.lookupToken(tok)
	ctx.SetUserValue(tokenKey{}, t)
	return t
}

// userToken returns t if it is a user token not revoked, else the error
// of authenticating with it (t nil: no token).
func userToken(t *liveToken) (*liveToken, error) {
	switch {
	case t == nil:
		return nil, errUnauth
	case t == adminToken:
		return nil, fmt.Errorf("%w: the admin token is not a user token", errForbidden)
	case t == unknownToken, t.revoked.Load():
		return nil, errUnauth
	}
	return t, nil
}

// bearer returns the token of the Authorization header, nil if there is
// none. The scheme is case-insensitive and the token follows it after one
// or more spaces (RFC 9110 11.4: auth-scheme 1*SP token68).
func bearer(ctx *fasthttp.RequestCtx) []byte {
	h := ctx.Request.Header.Peek("Authorization")
	const p = "bearer "
	if len(h) <= len(p) || !bytes.EqualFold(h[:len(p)], []byte(p)) {
		return nil
	}
	if t := bytes.TrimLeft(h[len(p):], " "); len(t) > 0 {
		return t
	}
	return nil
}

// account authenticates a user request.
func (s *Server) account(ctx *fasthttp.RequestCtx) (uint64, error) {
	t, err := userToken(s.requestToken(ctx))
	if err != nil {
		return 0, err
	}
	return t.account, nil
}

// authed returns the request's account, or writes the error and returns
// false.
func (s *Server) authed(ctx *fasthttp.RequestCtx) (uint64, bool) {
	acct, err := s.account(ctx)
	if err != nil {
		writeError(ctx, err)
		return 0, false
	}
	return acct, true
}

// streamToken authenticates a stream's token.
func (s *Server) streamToken(tok string) (*liveToken, error) {
	if tok == "" {
		return nil, errUnauth
	}
	return userToken(s.lookupToken([]byte(tok)))
}

// admin authenticates an admin request: no token, a made-up one or a
// revoked one is unauthenticated (401), as on user endpoints; a live
// user token is forbidden (403).
func (s *Server) admin(ctx *fasthttp.RequestCtx) error {
	switch t := s.requestToken(ctx); {
	case t == adminToken:
		return nil
	case t == nil, t == unknownToken, t.revoked.Load():
		return errUnauth
	}
	return fmt.Errorf("%w: admin token required", errForbidden)
}
