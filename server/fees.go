package server

import (
	"github.com/instant-social-trading/ist/engine"
	"github.com/valyala/fasthttp"
)

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

// withdrawFees handles POST /v1/admin/fees/withdrawals: the exchange
// takes fee revenue out of the fee account, {"asset","amount","ref"} as
// a user's POST /v1/withdrawals, and is answered alike (account_id 0).
// The ref is required and makes it idempotent within the fee account's
// own window of refs (engine.WithdrawalRefWindow), apart from the
// users' withdrawal refs and from deposit refs: an identical resend is
// 200 "duplicate":true, a reuse with another asset or amount 409
// ref_conflict; more than the fee account holds is 400
// insufficient_funds and keeps no ref.
func (s *Server) withdrawFees(ctx *fasthttp.RequestCtx) {
	if err := s.admin(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	s.transfer(ctx, engine.FeeAccount, false)
}
