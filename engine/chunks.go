package engine

import "iter"

// chunkList is an append-only list of T in fixed-size chunks of
// chunkLen elements: it grows by a chunk, never by copying what it
// holds, so that the command that outgrows it does not stall the
// matcher. (The accounts and the deposit refs were slices; at 1.28M
// accounts, or 1.23M deposit refs, the append that copied them all took
// 0.28 s and 0.24 s.) Only the list of chunks, a pointer each, is copied
// as it grows. The accounts, the deposit refs, the copy relations and the
// leader profiles are kept so.
type chunkList[T any] struct {
	chunks [][]T
	n      int // elements: indexes [0, n)
}

// The chunks hold 1,024 elements: 96 KiB of accounts, 64 KiB of deposit
// refs, 48 KiB of leader profiles.
const (
	chunkBits = 10
	chunkLen  = 1 << chunkBits
)

// len returns the number of elements.
func (c *chunkList[T]) len() int { return c.n }

// at returns element i, which must be below len.
func (c *chunkList[T]) at(i uint64) *T {
	return &c.chunks[i>>chunkBits][i&(chunkLen-1)]
}

// add appends v and returns its index.
func (c *chunkList[T]) add(v T) uint64 {
	if c.n == len(c.chunks)*chunkLen {
		c.chunks = append(c.chunks, make([]T, chunkLen))
	}
	i := uint64(c.n)
	c.n++
	*c.at(i) = v
	return i
}

// reset removes every element, keeping the chunks.
func (c *chunkList[T]) reset() {
	for _, ch := range c.chunks {
		clear(ch)
	}
	c.n = 0
}

// all yields the elements with their indexes, in order.
func (c *chunkList[T]) all() iter.Seq2[uint64, *T] {
	return func(yield func(uint64, *T) bool) {
		for i := range uint64(c.n) {
			if !yield(i, c.at(i)) {
				return
			}
		}
	}
}

// accountTable holds the accounts by id; 0 is the fee account.
type accountTable = chunkList[account]

// newAccountTable returns a table holding the fee account, id 0.
func newAccountTable() accountTable {
	var t accountTable
	t.add(account{})
	return t
}
