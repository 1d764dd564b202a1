package prefetch_test

import (
	"testing"
	"unsafe"

	"github.com/instant-social-trading/ist/internal/prefetch"
)

// TestLineChangesNothing prefetches every line of a table, and addresses
// no program may read (nil, the top of the address space): a prefetch
// neither faults nor writes.
func TestLineChangesNothing(t *testing.T) {
	table := make([]uint64, 4096)
	for i := range table {
		table[i] = uint64(i) * 3
	}
	for i := range table {
		prefetch.Line(uintptr(unsafe.Pointer(&table[i])))
	}
	prefetch.Line(0)
	prefetch.Line(^uintptr(0))
	for i, v := range table {
		if v != uint64(i)*3 {
			t.Fatalf("table[%d] = %d after prefetching, want %d", i, v, i*3)
		}
	}
}

func ExampleLine() {
	table := make([]uint64, 1<<20)
	next := 12345 // a key the caller will look up after other work
	prefetch.Line(uintptr(unsafe.Pointer(&table[next])))
	// ... other work, while the line loads ...
	_ = table[next]
	// Output:
}

// BenchmarkLine is the cost of one call, the line already cached.
func BenchmarkLine(b *testing.B) {
	var x [8]uint64
	p := uintptr(unsafe.Pointer(&x[0]))
	for b.Loop() {
		prefetch.Line(p)
	}
}
