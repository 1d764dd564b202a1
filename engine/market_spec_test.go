package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// CmdCreateMarket says which rule a spec breaks, wrapping ErrInvalidSpec
// (and book.ErrInvalidRules for what the book refuses). Before, all were
// a bare ErrInvalidSpec, the zero book.Rules included, which the book
// accepts but the engine's overflow bound does not.
func TestCreateMarketSpecErrors(t *testing.T) {
	good := MarketSpec{Base: 1, Quote: 2, BaseScale: 100, QuoteScale: 10,
		Rules: book.Rules{TickSize: 1, LotSize: 1, MaxPrice: 1 << 30, MaxQty: 1 << 20}}
	for _, c := range []struct {
		name string
		edit func(sp *MarketSpec)
		want string
		book bool
	}{
		{"zero rules", func(sp *MarketSpec) { sp.Rules = book.Rules{} },
			"max_price 0 × max_qty 0 × quote_scale 10 overflows int64/2 (0 is no limit): set Rules.MaxPrice and Rules.MaxQty", false},
		{"no max price", func(sp *MarketSpec) { sp.Rules.MaxPrice = 0 }, "max_price 0 × max_qty 1048576", false},
		{"notional too large", func(sp *MarketSpec) { sp.Rules.MaxPrice, sp.Rules.MaxQty = 1<<40, 1<<20 }, "overflows int64/2", false},
		{"base units overflow", func(sp *MarketSpec) { sp.BaseScale, sp.Rules.MaxPrice, sp.Rules.MaxQty = 1<<40, 1, 1<<30 },
			"max_qty 1073741824 × base_scale 1099511627776 overflows int64", false},
		{"same asset", func(sp *MarketSpec) { sp.Quote = 1 }, "base and quote are the same asset", false},
		{"scale 0", func(sp *MarketSpec) { sp.QuoteScale = 0 }, "quote_scale 0 must be at least 1", false},
		{"fee", func(sp *MarketSpec) { sp.TakerFeeBps = 1001 }, "taker fee 1001 bps must be 0..1000", false},
		{"book rules", func(sp *MarketSpec) { sp.Rules.LotSize, sp.Rules.MinQty = 3, 4 }, "min quantity 4 not a multiple of lot 3", true},
	} {
		sc := newScenario(t)
		sp := good
		c.edit(&sp)
		out := sc.do(Command{Kind: CmdCreateMarket, Name: Name{'X'}, Spec: sp})
		if !errors.Is(out.Err, ErrInvalidSpec) || errors.Is(out.Err, book.ErrInvalidRules) != c.book ||
			!strings.Contains(out.Err.Error(), c.want) {
			t.Errorf("%s: %v; want ErrInvalidSpec saying %q (book.ErrInvalidRules: %v)", c.name, out.Err, c.want, c.book)
		}
		if len(sc.s.markets) != 2 {
			t.Errorf("%s: %d markets, want the 2 of genesis", c.name, len(sc.s.markets))
		}
	}
	sc := newScenario(t)
	if out := sc.do(Command{Kind: CmdCreateMarket, Name: Name{'X'}, Spec: good}); out.Err != nil {
		t.Fatalf("good spec: %v", out.Err)
	}
}
