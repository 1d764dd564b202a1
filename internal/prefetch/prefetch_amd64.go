package prefetch

// Line starts loading the cache line that holds addr into every cache
// level (PREFETCHT0), and returns at once.
//
//go:noescape
func Line(addr uintptr)
