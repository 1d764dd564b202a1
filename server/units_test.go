package server

import (
	"errors"
	"math"
	"testing"
)

func TestUnits(t *testing.T) {
	u, err := newUnits(1_000_000, 10_000) // tick 0.01, lot 0.0001
	if err != nil {
		t.Fatal(err)
	}
	if u.qs != 100 {
		t.Fatalf("QuoteScale %d; want 100", u.qs)
	}
	sp := u.spec(1, 2, 100_000_000, 10, 20, 0, 0)
	if sp.BaseScale != 10_000 || sp.Rules.MinNotional != 1_000_000 {
		t.Fatalf("spec %+v", sp)
	}
	if n := sp.Rules.MaxPrice * sp.Rules.MaxQty; n > math.MaxInt64/2/sp.QuoteScale || n < 1<<40 {
		t.Fatalf("max price %d × max qty %d", sp.Rules.MaxPrice, sp.Rules.MaxQty)
	}
	if got := unitsOf(&sp); got != u {
		t.Fatalf("unitsOf %+v; want %+v", got, u)
	}
	p, err := u.price([]byte("100.5"), "price")
	if err != nil || p != 10050 {
		t.Fatalf("price %d %v", p, err)
	}
	if _, err := u.price([]byte("100.505"), "price"); !errors.Is(err, errInvalid) {
		t.Fatalf("off-tick price: %v", err)
	}
	q, err := u.qty([]byte("0.5"), "quantity")
	if err != nil || q != 5000 {
		t.Fatalf("qty %d %v", q, err)
	}
	if s := string(u.appendPrice(nil, 10050)); s != "100.5" {
		t.Fatal(s)
	}
	if s := string(u.appendQty(nil, 5000)); s != "0.5" {
		t.Fatal(s)
	}
	for _, tc := range [][2]int64{{0, 1}, {1, 1}, {1, 100}, {-1, 5}} {
		if _, err := newUnits(tc[0], tc[1]); err == nil {
			t.Errorf("newUnits(%d, %d) accepted", tc[0], tc[1])
		}
	}
}
