// Package ahead makes a large array on another goroutine before its owner
// needs it, so that the owner does not wait for it.
//
// The engine's tables grow into arrays twice their size. Making such an
// array costs the goroutine that makes it far more than it seems: the Go
// runtime zeroes memory it reuses, and when that memory has been returned
// to the operating system, every page of it faults on the way. A 64-MB
// table takes 5–30 ms, and the matcher, which makes it, stalls every
// order meanwhile. A table that sees its growth coming asks for the array
// with Ask, a little before it is full; whoever owns the goroutines runs
// the function Ask returns on another one; and the table's growth Takes
// the array if it is ready, or makes one itself if not.
//
//	var next ahead.Array[slot]
//	if nearlyFull {
//		if f := next.Ask(2 * len(slots)); f != nil {
//			go f()
//		}
//	}
//	...
//	slots = next.Take(2 * len(slots)) // the one made ahead, or a new one
//
// Whether the array was ready changes nothing but how long Take takes:
// it returns a zeroed array of the length asked for either way, so a
// deterministic state machine stays deterministic.
package ahead

import "sync/atomic"

// MinBytes is the size below which an array is not worth making ahead:
// smaller ones take the owner well under 0.1 ms to make.
const MinBytes = 256 << 10

// Array is one array of T made ahead of need. The zero Array is ready for
// use. Ask and Take are called by the owner, on one goroutine; the
// function Ask returns may run on any goroutine, concurrently with them.
// An Array must not be copied after its first use.
type Array[T any] struct {
	asked atomic.Int64        // length asked for; 0 if none
	ready atomic.Pointer[[]T] // made, not yet taken
}

// Ask returns a function that makes a zeroed array of n elements for a
// later Take, or nil if an array of n is already asked for. Ask drops an
// array of another length that was made and not taken.
func (a *Array[T]) Ask(n int) func() {
	if n <= 0 || a.asked.Load() == int64(n) {
		return nil
	}
	a.asked.Store(int64(n))
	a.ready.Store(nil)
	return func() {
		s := make([]T, n)
		if a.asked.Load() == int64(n) {
			a.ready.Store(&s)
		}
	}
}

// Take returns a zeroed array of n elements: the one asked for if it is
// of length n and ready, a new one otherwise. Either way nothing is asked
// for afterwards, and an array made for another length is dropped. (One
// still being made when Take gives up on it is dropped when it is done,
// or, if it is done at that very moment, at the next Ask or Take.)
func (a *Array[T]) Take(n int) []T {
	asked := a.asked.Swap(0)
	if p := a.ready.Swap(nil); p != nil && asked == int64(n) && len(*p) == n {
		return *p
	}
	return make([]T, n)
}

// Ready returns the array made and not yet taken, or nil, without taking
// it: for tests that check a growth took it.
func (a *Array[T]) Ready() []T {
	if p := a.ready.Load(); p != nil {
		return *p
	}
	return nil
}

// Asked returns the length asked for, or 0.
func (a *Array[T]) Asked() int { return int(a.asked.Load()) }
