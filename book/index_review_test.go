package book

import "testing"

// A delete that empties the old table of a growing index ends the growth
// (as a put's move would): check, which the engine's Check runs after
// every command, found the index "growing" with an empty old table ("old
// table holds 0 keys, counted 0") on an engine state restored from a
// snapshot whose book then lost every order still in the old table to
// cancels before its next place.
func TestIndexDeleteEmptiesOldTable(t *testing.T) {
	x := newIDIndex(0)
	key := uint64(0)
	for x.left == 0 {
		key++
		x.put(key, int32(key))
	}
	if x.oldN == 0 {
		t.Fatal("the growth moved everything at once")
	}
	for k := uint64(1); k <= key; k++ {
		x.del(k)
		if err := x.check(); err != nil {
			t.Fatalf("after deleting %d of %d: %v", k, key, err)
		}
	}
	if x.n != 0 || x.left != 0 {
		t.Fatalf("%d keys, %d old slots left", x.n, x.left)
	}
}
