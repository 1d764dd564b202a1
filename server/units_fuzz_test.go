package server

import (
	"errors"
	"testing"

	"github.com/instant-social-trading/ist/engine"
)

// FuzzMarketUnits feeds arbitrary sizes and bounds of a market (the
// decimal strings of POST /v1/admin/markets) and an arbitrary price and
// quantity through the server's conversions:
//
//   - every refusal is invalid_argument;
//   - a market that marketReq.numbers and units.rules accept is one the
//     engine's CmdCreateMarket accepts (the handler checks before it
//     creates the market's assets), with unitsOf giving the units back;
//   - a price or quantity that units.price or units.qty accepts is not
//     negative, and formats (appendPrice, appendQty) to a string that
//     parses back to the same steps or lots.
func FuzzMarketUnits(f *testing.F) {
	f.Add("0.01", "0.0001", "1", "", "", "100.5", "0.5")
	f.Add("0.00000001", "1", "", "", "", "0.00000001", "1")
	f.Add("1", "0.00000001", "0", "92233720368", "1", "92233720368", "0.00000001")
	f.Add("25", "0.5", "10", "1000000", "2000", "975", "1.5")
	f.Add("0.01", "0.0001", "1", "0.01", "0.0001", "1e2", "-1")
	f.Add("92233720368.54775807", "0.00000001", "", "", "", "0", "00.10")
	f.Add("0.1", "0.1", "", "", "", "0.30", "0.3000000")
	f.Fuzz(func(t *testing.T, tick, lot, minNotional, maxPrice, maxQty, price, qty string) {
		r := marketReq{tick: []byte(tick), lot: []byte(lot)}
		for _, f := range []struct {
			s string
			p *[]byte
		}{{minNotional, &r.minNotional}, {maxPrice, &r.maxPrice}, {maxQty, &r.maxQty}} {
			if f.s != "" {
				*f.p = []byte(f.s)
			}
		}
		u, minN, maxP, maxQ, err := r.numbers()
		if err == nil {
			_, err = u.rules(minN, maxP, maxQ)
		}
		if err != nil {
			if !errors.Is(err, errInvalid) {
				t.Fatalf("error %v is not invalid_argument", err)
			}
			return
		}
		st := engine.NewState()
		for _, a := range []string{"B", "Q"} {
			n, _ := engine.MakeName(a)
			if out, _ := st.Apply(&engine.Command{Seq: st.Seq() + 1, Kind: engine.CmdCreateAsset, Name: n}, nil); out.Err != nil {
				t.Fatal(out.Err)
			}
		}
		sp := u.spec(1, 2, minN, 10, 20, maxP, maxQ)
		name, _ := engine.MakeName("B-Q")
		if out, _ := st.Apply(&engine.Command{Seq: st.Seq() + 1, Kind: engine.CmdCreateMarket, Name: name, Spec: sp}, nil); out.Err != nil {
			t.Fatalf("tick %q lot %q min %q max %q × %q: the server accepted spec %+v, the engine refused it: %v",
				tick, lot, minNotional, maxPrice, maxQty, sp, out.Err)
		}
		if back := unitsOf(&sp); back != u {
			t.Fatalf("unitsOf(%+v) = %+v, want %+v", sp, back, u)
		}
		if steps, err := u.price([]byte(price), "price"); err == nil {
			out := u.appendPrice(nil, steps)
			if again, err := u.price(out, "price"); steps < 0 || err != nil || again != steps {
				t.Fatalf("price %q: %d steps, formatted %q, parsed %d, %v", price, steps, out, again, err)
			}
		} else if !errors.Is(err, errInvalid) {
			t.Fatalf("price error %v is not invalid_argument", err)
		}
		if lots, err := u.qty([]byte(qty), "quantity"); err == nil {
			out := u.appendQty(nil, lots)
			if again, err := u.qty(out, "quantity"); lots < 0 || err != nil || again != lots {
				t.Fatalf("quantity %q: %d lots, formatted %q, parsed %d, %v", qty, lots, out, again, err)
			}
		} else if !errors.Is(err, errInvalid) {
			t.Fatalf("quantity error %v is not invalid_argument", err)
		}
	})
}
