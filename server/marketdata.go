package server

import (
	"fmt"

	"github.com/instant-social-trading/ist/book"
	"github.com/valyala/fasthttp"
)

// appendMarket appends a market object.
func (s *Server) appendMarket(b []byte, m *mkt) []byte {
	b = strconvUint(append(b, `{"id":`...), uint64(m.id))
	b = appendStr(b, "symbol", m.name)
	b = appendStr(b, "base", m.base)
	b = appendStr(b, "quote", m.quote)
	b = append(appendKey(b, "tick_size", false), '"')
	b = append(AppendDecimal(b, m.u.tick8, Scale), '"')
	b = append(appendKey(b, "lot_size", false), '"')
	b = append(AppendDecimal(b, m.u.lot8, Scale), '"')
	b = append(appendKey(b, "min_notional", false), '"')
	b = append(appendScaled(b, m.spec.Rules.MinNotional, m.u.qs), '"')
	b = appendPriceField(b, "max_price", m.spec.Rules.MaxPrice, m.u)
	b = appendQtyField(b, "max_quantity", m.spec.Rules.MaxQty, m.u)
	b = appendInt(b, "maker_fee_bps", int64(m.spec.MakerFeeBps))
	b = appendInt(b, "taker_fee_bps", int64(m.spec.TakerFeeBps))
	b = appendInt(b, "price_band_bps", int64(m.spec.PriceBandBps))
	b = appendInt(b, "max_open_orders", int64(m.spec.MaxOpenOrders))
	halted := false
	if v, ok := s.eng.Market(m.id); ok {
		halted = v.Halted
	}
	b = appendBool(b, "halted", halted)
	return append(b, '}')
}

// listMarkets handles GET /v1/markets.
func (s *Server) listMarkets(ctx *fasthttp.RequestCtx) {
	var arr [2048]byte
	b := append(arr[:0], `{"markets":[`...)
	for i, m := range s.markets().list {
		if i > 0 {
			b = append(b, ',')
		}
		b = s.appendMarket(b, m)
	}
	writeJSON(ctx, 200, append(b, "]}"...))
}

// getMarket handles GET /v1/markets/{symbol}: the market as GET
// /v1/markets lists it (its rules, fees, price band, limit on open
// orders and whether it is halted).
func (s *Server) getMarket(ctx *fasthttp.RequestCtx, sym string) {
	m, ok := s.marketByName([]byte(sym))
	if !ok {
		writeError(ctx, fmt.Errorf("%w: market %q", errNotFound, sym))
		return
	}
	var arr [512]byte
	writeJSON(ctx, 200, s.appendMarket(arr[:0], m))
}

// getBook handles GET /v1/markets/{symbol}/book?depth=: the latest
// published view, once the views show every command acknowledged so far
// (it waits up to RequestTimeout: they lag by about a millisecond), so
// that an order placed, amended or cancelled shows in the book read
// after it; depth levels per side: 1 to Options.BookDepth (what the view
// holds), default 50 or BookDepth if less.
func (s *Server) getBook(ctx *fasthttp.RequestCtx, sym string) {
	m, ok := s.marketByName([]byte(sym))
	if !ok {
		writeError(ctx, fmt.Errorf("%w: market %q", errNotFound, sym))
		return
	}
	maxDepth := uint64(s.opts.BookDepth)
	depth, err := queryUint(ctx, "depth", min(DefaultBookDepth, maxDepth))
	if err == nil && (depth < 1 || depth > maxDepth) {
		err = fmt.Errorf("%w: depth must be 1 to %d (the server's book depth, istd --book-depth)", errInvalid, maxDepth)
	}
	if err != nil {
		writeError(ctx, err)
		return
	}
	_ = s.waitViews() // on a timeout, the latest view as it is
	v, ok := s.eng.Market(m.id)
	var arr [4096]byte
	b := append(arr[:0], `{"market":`...)
	b = appendString(b, m.name)
	if !ok {
		writeJSON(ctx, 200, append(b, `,"sequence":0,"bids":[],"asks":[]}`...))
		return
	}
	b = appendUint(b, "sequence", v.Seq)
	b = append(appendKey(b, "bids", false), '[')
	b = appendLevels(b, v.Bids, int(depth), m.u)
	b = append(appendKey(b, "asks", false), '[')
	b = appendLevels(b, v.Asks, int(depth), m.u)
	writeJSON(ctx, 200, append(b, '}'))
}

// appendLevels appends up to n levels as [price, quantity] pairs and the
// closing bracket.
func appendLevels(b []byte, lv []book.Level, n int, u units) []byte {
	for i, l := range lv {
		if i >= n {
			break
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(u.appendPrice(append(b, `["`...), l.Price), `","`...)
		b = append(u.appendQty(b, l.Qty), `"]`...)
	}
	return append(b, ']')
}
