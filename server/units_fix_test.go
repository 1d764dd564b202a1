package server

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/instant-social-trading/ist/engine"
)

// Every market spec units.rules accepts is one the engine's
// CmdCreateMarket accepts too, so that POST /v1/admin/markets can check
// before it creates the market's assets; and what the engine refuses,
// rules refuses.
func TestUnitsRulesAgreeWithEngine(t *testing.T) {
	st := engine.NewState()
	for _, a := range []string{"B", "Q"} {
		n, _ := engine.MakeName(a)
		if out, _ := st.Apply(&engine.Command{Kind: engine.CmdCreateAsset, Name: n}, nil); out.Err != nil {
			t.Fatal(out.Err)
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	// A value of about 10^k, k random: sizes over the whole int64 range.
	pick := func() int64 {
		switch rnd.IntN(8) {
		case 0:
			return 0
		case 1:
			return math.MaxInt64 - rnd.Int64N(3)
		}
		return max(1, int64(math.Pow(10, rnd.Float64()*18.9)))
	}
	// A tick or lot size: d × 10^k, so that tick × lot × 10^-8 is often whole.
	size := func() int64 {
		return int64(1+rnd.IntN(9)) * int64(math.Pow10(rnd.IntN(18)))
	}
	var accepted, refused int
	for i := 0; i < 20000; i++ {
		u, err := newUnits(size(), size())
		if err != nil {
			continue
		}
		minN, maxPrice, maxQty := pick(), pick(), pick()
		_, rerr := u.rules(minN, maxPrice, maxQty)
		name, _ := engine.MakeName(fmt.Sprint("M", i))
		out, _ := st.Apply(&engine.Command{Kind: engine.CmdCreateMarket, Name: name,
			Spec: u.spec(1, 2, minN, 10, 20, maxPrice, maxQty)}, nil)
		switch {
		case rerr == nil && out.Err != nil:
			t.Fatalf("units %+v, min_notional %d, max_price %d, max_quantity %d: rules accepted, engine refused: %v", u, minN, maxPrice, maxQty, out.Err)
		case rerr != nil && !errors.Is(rerr, errInvalid):
			t.Fatalf("rules error %v is not invalid_argument", rerr)
		case rerr != nil && out.Err == nil && minN == 0:
			t.Fatalf("units %+v, max_price %d, max_quantity %d: rules refused (%v), engine accepted", u, maxPrice, maxQty, rerr)
		case rerr == nil:
			accepted++
		default:
			refused++
		}
	}
	t.Logf("accepted %d, refused %d", accepted, refused)
	if accepted < 1000 || refused < 1000 {
		t.Fatalf("accepted %d, refused %d: the cases do not cover both", accepted, refused)
	}
}
