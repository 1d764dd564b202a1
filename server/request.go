package server

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/instant-social-trading/ist/engine"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// Request decoders. Each parses a JSON body strictly: it must be an
// object, a string escape JSON does not allow ("\x", half a surrogate
// pair "\ud800") is refused (parse), unknown and repeated fields are
// rejected, and every field must have its type (decimals are strings,
// ids and basis points are integers). Byte slices in the decoded structs
// point into the parser's memory and are valid until the parser is
// reused.

var parsers fastjson.ParserPool

// decodeBody decodes the request body into r with dec, using a pooled
// parser; on failure it writes the error and returns false. On success
// the caller returns p to parsers once it is done with r (whose byte
// slices point into p). The order handlers call their decoders directly,
// so that r stays on the stack.
func decodeBody[R any](ctx *fasthttp.RequestCtx, r *R, dec func(*fastjson.Parser, []byte, *R) error) (p *fastjson.Parser, ok bool) {
	p = parsers.Get()
	if err := dec(p, ctx.PostBody(), r); err != nil {
		parsers.Put(p)
		writeError(ctx, err)
		return nil, false
	}
	return p, true
}

// parse parses body, a request body or a stream message, with p. Every
// decoder goes through it: it refuses an empty body, malformed JSON, a
// string escape that JSON does not allow, which fastjson would let
// through as text (checkEscapes, escapes.go), and bytes that are not
// UTF-8 (RFC 8259), which fastjson would keep in a string, to be shown
// back as U+FFFD (a client_order_id or ref other than the one sent).
func parse(p *fastjson.Parser, body []byte) (*fastjson.Value, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty body; a JSON object is required", errInvalid)
	}
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed JSON: %s", errInvalid, jsonCause(err))
	}
	if err := checkEscapes(body); err != nil {
		return nil, err
	}
	if !utf8.Valid(body) {
		return nil, utf8Error(body)
	}
	return v, nil
}

// jsonNesting are the prefixes fastjson's parse errors add at each level
// of nesting around the error itself.
var jsonNesting = [...]string{"cannot parse JSON: ", "cannot parse object: ", "cannot parse object value: ",
	"cannot parse object key: ", "cannot parse array: ", "cannot parse array value: ", "cannot parse string: "}

// jsonCause returns the message of err, a fastjson parse error, without
// the prefixes of the levels of nesting it came through: `unexpected
// value found: "tru}"; unparsed tail: "tru}"`, not "cannot parse JSON:
// cannot parse object: cannot parse object value: ..." (a body nested
// 300 deep made a message of 14 KB).
func jsonCause(err error) string {
	msg := err.Error()
	for trimmed := true; trimmed; {
		trimmed = false
		for _, p := range jsonNesting {
			if rest, ok := strings.CutPrefix(msg, p); ok {
				msg, trimmed = rest, true
			}
		}
	}
	return msg
}

// utf8Error is the error of parse for body, a JSON text that fastjson
// parsed but that is not UTF-8: "ref is not valid UTF-8 at byte 52".
// Bytes that are not UTF-8 can only be inside a string of body (else
// fastjson would not parse it), whose field escapeField names.
func utf8Error(body []byte) error {
	at := 0
	for at < len(body) {
		r, n := utf8.DecodeRune(body[at:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		at += n
	}
	what := "a string"
	switch field, key := escapeField(body, at); {
	case key:
		what = "a field name"
	case field != "":
		what = field
	}
	return fmt.Errorf("%w: %s is not valid UTF-8 at byte %d", errInvalid, what, at)
}

// object parses body as a JSON object and calls fn for each field.
func object(p *fastjson.Parser, body []byte, fn func(key []byte, v *fastjson.Value) error) error {
	v, err := parse(p, body)
	if err != nil {
		return err
	}
	o, err := v.Object()
	if err != nil {
		return fmt.Errorf("%w: body must be a JSON object", errInvalid)
	}
	return visit(o, fn)
}

// maxFields is the most fields a decoder may know: visit remembers that
// many keys to refuse repeats.
const maxFields = 32

// visit calls fn for each field of o, stopping at the first error. A key
// seen before (as unescaped: "side" and "\u0073ide" are one) is refused
// as a duplicate field, so that no decoder lets the last of two values
// win. It does not allocate: the keys fn accepted are kept on the stack
// and compared in turn. Every decoder refuses unknown fields and knows at
// most maxFields, so once maxFields distinct keys are kept any further
// accepted key repeats one of them.
func visit(o *fastjson.Object, fn func(key []byte, v *fastjson.Value) error) error {
	var ferr error
	var seen [maxFields][]byte
	n := 0
	o.Visit(func(k []byte, v *fastjson.Value) {
		if ferr != nil {
			return
		}
		for _, s := range seen[:n] {
			if string(s) == string(k) {
				ferr = fmt.Errorf("%w: duplicate field %q", errInvalid, k)
				return
			}
		}
		if ferr = fn(k, v); ferr == nil && n < maxFields {
			seen[n] = k
			n++
		}
	})
	return ferr
}

func str(v *fastjson.Value, key string) ([]byte, error) {
	b, err := v.StringBytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %s must be a string", errInvalid, key)
	}
	return b, nil
}

func boolean(v *fastjson.Value, key string) (bool, error) {
	b, err := v.Bool()
	if err != nil {
		return false, fmt.Errorf("%w: %s must be true or false", errInvalid, key)
	}
	return b, nil
}

func uintField(v *fastjson.Value, key string) (uint64, error) {
	n, err := v.Uint64()
	if err != nil {
		return 0, fmt.Errorf("%w: %s must be a non-negative integer", errInvalid, key)
	}
	return n, nil
}

func unknown(key []byte) error {
	return fmt.Errorf("%w: unknown field %q", errInvalid, key)
}

func missing(key string) error {
	return fmt.Errorf("%w: %s is required", errInvalid, key)
}

// signupReq is the body of POST /v1/accounts.
type signupReq struct{ name []byte }

func decodeSignup(p *fastjson.Parser, body []byte, r *signupReq) error {
	err := object(p, body, func(k []byte, v *fastjson.Value) (err error) {
		switch string(k) {
		case "name":
			r.name, err = str(v, "name")
		default:
			err = unknown(k)
		}
		return err
	})
	if err == nil && r.name == nil {
		err = missing("name")
	}
	return err
}

// marketReq is the body of POST /v1/admin/markets.
type marketReq struct {
	symbol, base, quote, tick, lot, minNotional, maxPrice, maxQty []byte
	makerBps, takerBps                                            uint64
	bandBps                                                       uint64 // price_band_bps, 0 when absent
	maxOpen                                                       uint64 // max_open_orders, 0 when absent
}

func decodeMarket(p *fastjson.Parser, body []byte, r *marketReq) error {
	err := object(p, body, func(k []byte, v *fastjson.Value) (err error) {
		switch string(k) {
		case "symbol":
			r.symbol, err = str(v, "symbol")
		case "base":
			r.base, err = str(v, "base")
		case "quote":
			r.quote, err = str(v, "quote")
		case "tick_size":
			r.tick, err = str(v, "tick_size")
		case "lot_size":
			r.lot, err = str(v, "lot_size")
		case "min_notional":
			r.minNotional, err = str(v, "min_notional")
		case "max_price":
			r.maxPrice, err = str(v, "max_price")
		case "max_quantity":
			r.maxQty, err = str(v, "max_quantity")
		case "maker_fee_bps":
			r.makerBps, err = uintField(v, "maker_fee_bps")
		case "taker_fee_bps":
			r.takerBps, err = uintField(v, "taker_fee_bps")
		case "price_band_bps":
			r.bandBps, err = uintField(v, "price_band_bps")
		case "max_open_orders":
			r.maxOpen, err = uintField(v, "max_open_orders")
		default:
			err = unknown(k)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, f := range []struct {
		v []byte
		n string
	}{{r.symbol, "symbol"}, {r.base, "base"}, {r.quote, "quote"}, {r.tick, "tick_size"}, {r.lot, "lot_size"}} {
		if f.v == nil {
			return missing(f.n)
		}
	}
	if r.makerBps > engine.MaxFeeBps || r.takerBps > engine.MaxFeeBps {
		return fmt.Errorf("%w: fees must be between 0 and %d bps", errInvalid, engine.MaxFeeBps)
	}
	if r.bandBps > engine.MaxPriceBandBps {
		return errBandRange
	}
	if r.maxOpen > engine.MaxOpenOrdersLimit {
		return errOpenLimitRange
	}
	return nil
}

// errOpenLimitRange is the error of a max_open_orders out of range.
var errOpenLimitRange = fmt.Errorf("%w: max_open_orders must be between 0 (no limit) and %d", errInvalid, engine.MaxOpenOrdersLimit)

// errBandRange is the error of a price_band_bps out of range.
var errBandRange = fmt.Errorf("%w: price_band_bps must be between 0 (none) and %d", errInvalid, engine.MaxPriceBandBps)

// marketRule is a market setting with an admin route of its own, POST
// /v1/admin/markets/{symbol}/<route> {"<field>":N}: its field, its
// highest value (0 is none) and the error of one above it.
type marketRule struct {
	field    string
	max      uint64
	errRange error
}

// The market settings with routes of their own (admin.go).
var (
	bandRule      = marketRule{"price_band_bps", engine.MaxPriceBandBps, errBandRange}
	openLimitRule = marketRule{"max_open_orders", engine.MaxOpenOrdersLimit, errOpenLimitRange}
)

// marketRuleReq is the body of a marketRule's route: the value to set,
// required (0: none).
type marketRuleReq struct {
	rule *marketRule
	v    uint64
}

func decodeMarketRule(p *fastjson.Parser, body []byte, r *marketRuleReq) error {
	has := false
	err := object(p, body, func(k []byte, v *fastjson.Value) (err error) {
		if string(k) != r.rule.field {
			return unknown(k)
		}
		r.v, err = uintField(v, r.rule.field)
		has = true
		return err
	})
	switch {
	case err != nil:
		return err
	case !has:
		return missing(r.rule.field)
	case r.v > r.rule.max:
		return r.rule.errRange
	}
	return nil
}

// marketFeesReq is the body of PATCH /v1/admin/markets/{symbol}: the
// fees to set, each optional (has: given), at least one given.
type marketFeesReq struct {
	makerBps, takerBps uint64
	hasMaker, hasTaker bool
}

func decodeMarketFees(p *fastjson.Parser, body []byte, r *marketFeesReq) error {
	err := object(p, body, func(k []byte, v *fastjson.Value) (err error) {
		switch string(k) {
		case "maker_fee_bps":
			r.makerBps, err = uintField(v, "maker_fee_bps")
			r.hasMaker = true
		case "taker_fee_bps":
			r.takerBps, err = uintField(v, "taker_fee_bps")
			r.hasTaker = true
		default:
			err = unknown(k)
		}
		return err
	})
	switch {
	case err != nil:
		return err
	case !r.hasMaker && !r.hasTaker:
		return fmt.Errorf("%w: give maker_fee_bps and/or taker_fee_bps", errInvalid)
	case r.makerBps > engine.MaxFeeBps || r.takerBps > engine.MaxFeeBps:
		return fmt.Errorf("%w: fees must be between 0 and %d bps", errInvalid, engine.MaxFeeBps)
	}
	return nil
}

// transferReq is the body of POST /v1/admin/deposits and /v1/withdrawals.
type transferReq struct {
	account            uint64
	hasAccount         bool
	asset, amount, ref []byte
}

func decodeTransfer(p *fastjson.Parser, body []byte, r *transferReq, admin bool) error {
	err := object(p, body, func(k []byte, v *fastjson.Value) (err error) {
		switch string(k) {
		case "account_id":
			if !admin {
				return unknown(k)
			}
			r.account, err = uintField(v, "account_id")
			r.hasAccount = true
		case "asset":
			r.asset, err = str(v, "asset")
		case "amount":
			r.amount, err = str(v, "amount")
		case "ref":
			r.ref, err = str(v, "ref")
		default:
			err = unknown(k)
		}
		return err
	})
	switch {
	case err != nil:
		return err
	case admin && !r.hasAccount:
		return missing("account_id")
	case r.asset == nil:
		return missing("asset")
	case r.amount == nil:
		return missing("amount")
	case len(r.ref) == 0:
		return missing("ref")
	}
	return nil
}

// orderReq is the body of POST /v1/orders.
type orderReq struct {
	market, side, typ, price, qty, quoteQty, stopPrice, displayQty, tif, expireAt, clientID, stp []byte
	postOnly                                                                                     bool
}

func decodeOrder(p *fastjson.Parser, body []byte, r *orderReq) error {
	v, err := parse(p, body)
	if err != nil {
		return err
	}
	return orderValue(v, r)
}

// maxBatch is the most orders of one POST /v1/orders/batch.
const maxBatch = 1000

// decodeBatch decodes {"orders":[...]} into rs (reused), and for each
// order its decoding error, if any: one bad order does not fail the
// batch.
func decodeBatch(p *fastjson.Parser, body []byte, rs []orderReq, errs []error) ([]orderReq, []error, error) {
	rs, errs = rs[:0], errs[:0]
	seen := false
	err := object(p, body, func(k []byte, v *fastjson.Value) error {
		if string(k) != "orders" {
			return unknown(k)
		}
		seen = true
		a, err := v.Array()
		if err != nil {
			return fmt.Errorf("%w: orders must be an array", errInvalid)
		}
		if len(a) == 0 || len(a) > maxBatch {
			return fmt.Errorf("%w: orders must hold 1 to %d orders", errInvalid, maxBatch)
		}
		for _, ov := range a {
			rs = append(rs, orderReq{})
			errs = append(errs, orderValue(ov, &rs[len(rs)-1]))
		}
		return nil
	})
	if err == nil && !seen {
		err = missing("orders")
	}
	return rs, errs, err
}

// orderValue decodes one order object.
func orderValue(ov *fastjson.Value, r *orderReq) error {
	o, err := ov.Object()
	if err != nil {
		return fmt.Errorf("%w: an order must be a JSON object", errInvalid)
	}
	err = visit(o, func(k []byte, v *fastjson.Value) (err error) {
		switch string(k) {
		case "market":
			r.market, err = str(v, "market")
		case "side":
			r.side, err = str(v, "side")
		case "type":
			r.typ, err = str(v, "type")
		case "price":
			r.price, err = str(v, "price")
		case "quantity":
			r.qty, err = str(v, "quantity")
		case "quote_quantity":
			r.quoteQty, err = str(v, "quote_quantity")
		case "stop_price":
			r.stopPrice, err = str(v, "stop_price")
		case "display_quantity":
			r.displayQty, err = str(v, "display_quantity")
		case "time_in_force":
			r.tif, err = str(v, "time_in_force")
		case "expire_at":
			r.expireAt, err = str(v, "expire_at")
		case "client_order_id":
			r.clientID, err = str(v, "client_order_id")
		case "stp":
			r.stp, err = str(v, "stp")
		case "post_only":
			r.postOnly, err = boolean(v, "post_only")
		default:
			err = unknown(k)
		}
		return err
	})
	switch {
	case err != nil:
		return err
	case r.market == nil:
		return missing("market")
	case r.side == nil:
		return missing("side")
	}
	return nil
}

// amendReq is the body of PATCH /v1/orders/{id}.
type amendReq struct{ price, qty []byte }

func decodeAmend(p *fastjson.Parser, body []byte, r *amendReq) error {
	err := object(p, body, func(k []byte, v *fastjson.Value) (err error) {
		switch string(k) {
		case "price":
			r.price, err = str(v, "price")
		case "quantity":
			r.qty, err = str(v, "quantity")
		default:
			err = unknown(k)
		}
		return err
	})
	if err == nil && r.price == nil && r.qty == nil {
		err = fmt.Errorf("%w: give price and/or quantity", errInvalid)
	}
	return err
}

// backupReq is the body of POST /v1/admin/backup.
type backupReq struct{ to []byte }

func decodeBackup(p *fastjson.Parser, body []byte, r *backupReq) error {
	err := object(p, body, func(k []byte, v *fastjson.Value) (err error) {
		switch string(k) {
		case "to":
			r.to, err = str(v, "to")
		default:
			err = unknown(k)
		}
		return err
	})
	if err == nil && len(r.to) == 0 {
		err = missing("to")
	}
	return err
}
