package server

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// User tokens: sign-up issues an account's first, POST /v1/tokens more
// (at most Options.MaxTokens live ones per account), DELETE
// /v1/tokens/{id} revokes one. The store keeps their SHA-256 hashes
// (store.go); the server holds every live token in memory, by hash and by
// id, under tokMu.
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
	revoked atomic.Bool // set once, when the token is revoked
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
	s.perAcct = make(map[uint64]int)
	for _, r := range recs {
		t := &liveToken{tokenRec: r}
		s.tokens[r.hash], s.byID[r.id] = t, t
		s.perAcct[r.account]++
	}
	return nil
}

// issueToken creates and stores a token for account. It fails with
// errTooManyTokens if the account already holds MaxTokens live tokens.
func (s *Server) issueToken(account uint64) (string, uint64, error) {
	tok := newToken()
	h := hashToken([]byte(tok))
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	if n := s.perAcct[account]; s.opts.MaxTokens > 0 && n >= s.opts.MaxTokens {
		return "", 0, fmt.Errorf("%w: the account holds %d live tokens, the most allowed; revoke one first",
			errTooManyTokens, n)
	}
	id, err := s.store.addToken(h, account)
	if err != nil {
		return "", 0, err
	}
	t := &liveToken{tokenRec: tokenRec{id: id, account: account, hash: h}}
	s.tokens[h], s.byID[id] = t, t
	s.perAcct[account]++
	return tok, id, nil
}

// revokeToken deletes token id of account and closes the streams
// authenticated with it: when it returns, they get no more messages.
func (s *Server) revokeToken(account, id uint64) error {
	s.tokMu.Lock()
	t, ok := s.byID[id]
	if !ok || t.account != account {
		s.tokMu.Unlock()
		return fmt.Errorf("%w: token %d", errNotFound, id)
	}
	if err := s.store.deleteToken(t.tokenRec); err != nil {
		s.tokMu.Unlock()
		return err
	}
	t.revoked.Store(true) // before it leaves the maps: see hub.authenticate
	delete(s.tokens, t.hash)
	delete(s.byID, id)
	if s.perAcct[account]--; s.perAcct[account] <= 0 {
		delete(s.perAcct, account)
	}
	s.tokMu.Unlock()
	s.hub.revoke(t)
	return nil
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

// bearer returns the token of the Authorization header.
func bearer(ctx *fasthttp.RequestCtx) []byte {
	h := ctx.Request.Header.Peek("Authorization")
	const p = "bearer "
	if len(h) <= len(p) || !bytes.EqualFold(h[:len(p)], []byte(p)) {
		return nil
	}
	return h[len(p):]
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
