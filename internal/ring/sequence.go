package ring

import "sync/atomic"

// cacheLine is the size we pad to. 64 bytes is the line size of current
// amd64 and most arm64 cores; x/sys/cpu.CacheLinePad is not worth a
// dependency here.
const cacheLine = 64

// Sequence is a cursor: a position in the stream of ring sequences, padded
// on both sides to its own cache line so that two cursors written by
// different goroutines never share a line (false sharing).
//
// The zero value is a cursor at 0, "nothing processed yet" (sequences start
// at 1). One goroutine owns a Sequence and is its only writer; any goroutine
// may Load it. A Sequence must not be copied after first use.
type Sequence struct {
	_ [cacheLine]byte
	v atomic.Int64
	_ [cacheLine - 8]byte
}

// Load returns the cursor's value.
func (s *Sequence) Load() int64 { return s.v.Load() }

// Store sets the cursor to v. Cursors only move forward; the owner stores
// the last sequence it has finished with.
func (s *Sequence) Store(v int64) { s.v.Store(v) }

// CompareAndSwap sets the cursor to new if it holds old and reports whether
// it did. It is for cursors shared by several writers (the claim counter).
func (s *Sequence) CompareAndSwap(old, new int64) bool {
	return s.v.CompareAndSwap(old, new)
}
