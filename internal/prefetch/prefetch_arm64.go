package prefetch

// Line starts loading the cache line that holds addr for a read (PRFM
// PLDL1KEEP), and returns at once.
//
//go:noescape
func Line(addr uintptr)
