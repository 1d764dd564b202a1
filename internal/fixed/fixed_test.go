package fixed

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestMulDivAgainstBig(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vals := []int64{0, 1, 2, 3, 7, 10_000, 1 << 31, 1 << 40, math.MaxInt64 / 3, math.MaxInt64 - 1, math.MaxInt64}
	for range 20_000 {
		vals = append(vals[:11], r.Int64(), r.Int64N(1<<20), r.Int64N(1<<40))
		a, b, c := vals[r.IntN(len(vals))], vals[r.IntN(len(vals))], vals[r.IntN(len(vals))]
		got := MulDiv(a, b, c)
		want := int64(0)
		if a > 0 && b > 0 && c > 0 {
			q := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
			q.Quo(q, big.NewInt(c))
			want = math.MaxInt64
			if q.IsInt64() {
				want = q.Int64()
			}
		}
		if got != want {
			t.Fatalf("MulDiv(%d, %d, %d) = %d, want %d", a, b, c, got, want)
		}
		wantCeil := int64(0)
		if a > 0 && b > 0 && c > 0 {
			q := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
			q.Add(q, big.NewInt(c-1))
			q.Quo(q, big.NewInt(c))
			wantCeil = math.MaxInt64
			if q.IsInt64() {
				wantCeil = q.Int64()
			}
		}
		if got := MulDivCeil(a, b, c); got != wantCeil {
			t.Fatalf("MulDivCeil(%d, %d, %d) = %d, want %d", a, b, c, got, wantCeil)
		}
		p := new(big.Int).Mul(big.NewInt(max(a, 0)), big.NewInt(max(b, 0)))
		wantP := int64(math.MaxInt64)
		if p.IsInt64() {
			wantP = p.Int64()
		}
		if got := MulSat(a, b); got != wantP {
			t.Fatalf("MulSat(%d, %d) = %d, want %d", a, b, got, wantP)
		}
	}
}

func TestSatAddCeilDiv(t *testing.T) {
	if SatAdd(math.MaxInt64-1, 5) != math.MaxInt64 || SatAdd(2, 3) != 5 {
		t.Fatal("SatAdd")
	}
	if CeilDiv(7, 2) != 4 || CeilDiv(8, 2) != 4 || CeilDiv(0, 3) != 0 || CeilDiv(math.MaxInt64, 2) != 1<<62 {
		t.Fatal("CeilDiv")
	}
}
