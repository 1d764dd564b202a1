//go:build !amd64 && !arm64

package prefetch

// Line does nothing on this architecture: prefetching is only a hint.
func Line(addr uintptr) {}
