// Package prefetch asks the CPU to start loading a cache line that the
// caller will read soon, without waiting for it.
//
// The matcher's time goes to cache misses on large hash tables, one
// command after another, each miss waited for in turn. Where the address
// a later command will need is known early (the client order id table's
// slot of a command still in the ring, the oldest done id the window will
// forget), a prefetch issued a few commands ahead lets those misses
// overlap with the work in between.
//
// Line is a hint only: it never faults, changes no memory, and is a no-op
// on architectures without an implementation. Pass the address as a
// uintptr (uintptr(unsafe.Pointer(p))): the line is only loaded, never
// dereferenced by Go, so the garbage collector need not see it.
//
//	prefetch.Line(uintptr(unsafe.Pointer(&table[home(key)])))
//	// ... other work ...
//	v := table[home(key)] // likely in the cache by now
package prefetch
