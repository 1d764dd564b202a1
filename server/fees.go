package server

import "github.com/valyala/fasthttp"

// feeAccount handles GET /v1/admin/fees: the exchange's fee account
// (the engine's account 0), whose balances are every fee charged and not
// withdrawn, in the asset charged (a market's quote). It is not a user:
// GET /v1/admin/accounts lists users and copy wallets from id 1.
func (s *Server) feeAccount(ctx *fasthttp.RequestCtx) {
	if err := s.admin(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	s.waitViews()
	v, ok := s.eng.Account(0)
	if !ok {
		writeError(ctx, errNotFound)
		return
	}
	writeJSON(ctx, 200, s.appendAccount(make([]byte, 0, 512), v))
}
