package server

import (
	"context"
	"errors"
	"strings"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/valyala/fasthttp"
)

// Errors of the server. Handlers wrap them with details; writeError maps
// them (and the engine's and book's sentinels) to API error codes.
var (
	errInvalid       = errors.New("server: invalid argument")
	errNotFound      = errors.New("server: not found")
	errUnauth        = errors.New("server: missing or invalid token")
	errForbidden     = errors.New("server: forbidden")
	errSignupClosed  = errors.New("server: sign-up is disabled")
	errUnavailable   = errors.New("server: not ready")
	errTooLarge      = errors.New("server: request body too large")
	errHeaderLarge   = errors.New("server: request headers too large")
	errRateLimited   = errors.New("server: rate limit exceeded; retry later")
	errDupClientID   = errors.New("server: duplicate client_order_id")
	errTooManyTokens = errors.New("server: too many tokens")
	errLastToken     = errors.New("server: last live token")
	errInternal      = errors.New("server: internal error") // a handler panicked: a bug
	errOverloaded    = errors.New("server: overloaded; retry later")
)

// ErrInvalidOptions is the error of Open when Options hold a value it
// cannot use (the error says which).
var ErrInvalidOptions = errors.New("server: invalid options")

// apiError is an error as the API reports it.
type apiError struct {
	status int
	code   string
}

// classify maps an error to its HTTP status and API code.
func classify(err error) apiError {
	switch {
	case errors.Is(err, errInvalid):
		return apiError{400, "invalid_argument"}
	case errors.Is(err, errNotFound):
		return apiError{404, "not_found"}
	case errors.Is(err, errUnauth):
		return apiError{401, "unauthenticated"}
	case errors.Is(err, errForbidden), errors.Is(err, errSignupClosed):
		return apiError{403, "forbidden"}
	case errors.Is(err, errRateLimited):
		return apiError{429, "rate_limited"}
	case errors.Is(err, errTooManyTokens):
		return apiError{409, "too_many_tokens"}
	case errors.Is(err, errLastToken):
		return apiError{409, "last_token"}
	case errors.Is(err, errTooLarge):
		return apiError{413, "invalid_argument"}
	case errors.Is(err, errHeaderLarge):
		return apiError{431, "invalid_argument"}
	case errors.Is(err, errUnavailable), errors.Is(err, engine.ErrClosed):
		return apiError{503, "unavailable"}
	case errors.Is(err, engine.ErrFull), errors.Is(err, errOverloaded):
		return apiError{503, "overloaded"}
	case errors.Is(err, context.DeadlineExceeded):
		return apiError{503, "overloaded"}
	case errors.Is(err, book.ErrWouldCross):
		return apiError{400, "would_cross"}
	case errors.Is(err, engine.ErrPriceOutOfBand):
		return apiError{400, "price_out_of_band"}
	case errors.Is(err, engine.ErrTooManyOpenOrders):
		return apiError{400, "too_many_open_orders"}
	case errors.Is(err, engine.ErrInsufficientFunds):
		return apiError{400, "insufficient_funds"}
	case errors.Is(err, engine.ErrMarketHalted):
		return apiError{409, "market_halted"}
	case errors.Is(err, engine.ErrAccountFrozen):
		return apiError{403, "account_frozen"}
	case errors.Is(err, engine.ErrUnknownAsset), errors.Is(err, engine.ErrUnknownMarket),
		errors.Is(err, engine.ErrUnknownAccount), errors.Is(err, engine.ErrUnknownOrder),
		errors.Is(err, book.ErrUnknownOrder):
		return apiError{404, "not_found"}
	case errors.Is(err, engine.ErrDuplicateName):
		return apiError{409, "already_exists"}
	case errors.Is(err, engine.ErrRefConflict):
		return apiError{409, "ref_conflict"}
	case errors.Is(err, errDupClientID), errors.Is(err, engine.ErrDuplicateClientID):
		return apiError{409, "duplicate_client_order_id"}
	case errors.Is(err, engine.ErrNotLeader), errors.Is(err, engine.ErrUnknownRelation):
		return apiError{404, "not_found"}
	case errors.Is(err, engine.ErrLeaderCannotFollow):
		return apiError{409, "leader_cannot_follow"}
	case errors.Is(err, engine.ErrFollowerCannotLead):
		return apiError{409, "follower_cannot_lead"}
	case errors.Is(err, engine.ErrAlreadyFollowing):
		return apiError{409, "already_following"}
	case errors.Is(err, engine.ErrTooManyFollows):
		return apiError{409, "too_many_follows"}
	case errors.Is(err, engine.ErrTooManyFollowers):
		return apiError{409, "too_many_followers"}
	case errors.Is(err, engine.ErrRelationClosed):
		return apiError{409, "relation_closed"}
	case errors.Is(err, engine.ErrProfitShareAboveMax):
		return apiError{409, "profit_share_above_max"}
	case errors.Is(err, engine.ErrSelfFollow), errors.Is(err, engine.ErrInvalidCopySpec):
		return apiError{400, "invalid_argument"}
	case errors.Is(err, engine.ErrJournal):
		return apiError{500, "internal"}
	case errors.Is(err, engine.ErrInvalidCommand), errors.Is(err, engine.ErrInvalidName),
		errors.Is(err, engine.ErrInvalidSpec), errors.Is(err, engine.ErrInvalidAmount),
		errors.Is(err, engine.ErrOverflow), errors.Is(err, engine.ErrStopNeedsLimit),
		errors.Is(err, engine.ErrAmendBelowFilled), errors.Is(err, engine.ErrInvalidExpiry):
		return apiError{400, "invalid_argument"}
	case strings.HasPrefix(err.Error(), "book: "):
		return apiError{400, "invalid_argument"} // every other book rejection is bad input
	}
	return apiError{500, "internal"}
}

// writeError writes err as an API error.
func writeError(ctx *fasthttp.RequestCtx, err error) {
	var arr [256]byte
	writeJSON(ctx, classify(err).status, appendErrorObject(arr[:0], err))
}

// appendErrorObject appends {"error":{"code":...,"message":...}}.
func appendErrorObject(b []byte, err error) []byte {
	ae := classify(err)
	b = append(b, `{"error":{"code":`...)
	b = appendString(b, ae.code)
	b = append(b, `,"message":`...)
	b = appendString(b, trimWrap(err.Error()))
	return append(b, "}}"...)
}

// wrapped are the sentinels handlers wrap with details: an error message
// shows the details without the sentinel's text, which its code says.
var wrapped = [...]string{
	errInvalid.Error() + ": ", errNotFound.Error() + ": ", errDupClientID.Error() + ": ",
	errUnauth.Error() + ": ", errForbidden.Error() + ": ", errTooManyTokens.Error() + ": ",
	errLastToken.Error() + ": ", engine.ErrProfitShareAboveMax.Error() + ": ",
}

// trimWrap returns msg without the prefixes of our own wrapping
// ("server: invalid argument: ...") and, for an error not wrapped, the
// package's ("server: rate limit exceeded; retry later"), also where a
// sentinel of ours is wrapped inside the message (`price "1e3": server:
// not a decimal number`).
func trimWrap(msg string) string {
	for _, p := range wrapped {
		msg = strings.TrimPrefix(msg, p)
	}
	return strings.ReplaceAll(strings.TrimPrefix(msg, "server: "), ": server: ", ": ")
}
