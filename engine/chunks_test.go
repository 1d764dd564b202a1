package engine

import "testing"

// A chunkList never moves what it holds: an element's address is the same
// after the list has grown by many chunks, and every element keeps its
// value; reset empties it and keeps its chunks.
func TestChunkListNeverMoves(t *testing.T) {
	var c chunkList[depositRef]
	first := c.at(c.add(depositRef{amount: 0}))
	for i := 1; i < 5*chunkLen+3; i++ {
		if got := c.add(depositRef{amount: int64(i)}); got != uint64(i) {
			t.Fatalf("add %d returned %d", i, got)
		}
	}
	if c.at(0) != first || c.len() != 5*chunkLen+3 {
		t.Fatalf("element 0 moved, or %d elements", c.len())
	}
	for i, d := range c.all() {
		if d.amount != int64(i) {
			t.Fatalf("element %d holds %d", i, d.amount)
		}
	}
	chunks := len(c.chunks)
	c.reset()
	if c.len() != 0 || len(c.chunks) != chunks || c.chunks[0][0] != (depositRef{}) {
		t.Fatalf("after reset: %d elements, %d chunks", c.len(), len(c.chunks))
	}
	s := NewState()
	if s.accounts.len() != 1 || s.accounts.at(FeeAccount).name != (Name{}) {
		t.Fatalf("a new state has %d accounts, want the fee account only", s.accounts.len())
	}
}
