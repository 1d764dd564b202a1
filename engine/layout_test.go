package engine

import (
	"testing"
	"unsafe"
)

// The ring slot is a whole number of cache lines, with the matcher's
// outputs in the first, a trading command's fields in the next three and
// the producer's done and fut in one line with batchEnd (see slot and
// Command).
func TestSlotLayout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the padding is computed for 64-bit pointers")
	}
	var s slot
	if n := unsafe.Sizeof(s); n%64 != 0 {
		t.Errorf("slot is %d bytes, not a multiple of 64", n)
	}
	if end := unsafe.Offsetof(s.events) + unsafe.Sizeof(s.events); end > 64 {
		t.Errorf("out and events end at %d, past the first line", end)
	}
	if line, end := unsafe.Offsetof(s.done)/64, unsafe.Offsetof(s.batchEnd); end/64 != line {
		t.Errorf("done at %d and batchEnd at %d are not in one line", unsafe.Offsetof(s.done), end)
	}
	var c Command
	if off := unsafe.Offsetof(s.cmd); off != 64 {
		t.Errorf("cmd at %d, want 64", off)
	}
	if end := unsafe.Offsetof(c.Order) + unsafe.Sizeof(c.Order); end > 3*64 {
		t.Errorf("a trading command's fields end at %d, past three lines", end)
	}
	for name, off := range map[string]uintptr{"Tag": unsafe.Offsetof(c.Tag), "Ref": unsafe.Offsetof(c.Ref)} {
		if off > unsafe.Offsetof(c.Order) {
			t.Errorf("%s at %d, after Order", name, off)
		}
	}
}

// An order record (State.orders) fits in two cache lines: a place and a
// cancel touch most of its fields.
func TestOrderRecordSize(t *testing.T) {
	if n := unsafe.Sizeof(order{}); n > 128 {
		t.Errorf("order record is %d bytes, past two cache lines", n)
	}
}

// A market's fields that a place reads are within its first two cache
// lines: adding the price band to MarketSpec had pushed halted and maxFee
// into a third.
func TestMarketLayout(t *testing.T) {
	var m market
	for name, end := range map[string]uintptr{
		"spec":   unsafe.Offsetof(m.spec) + unsafe.Sizeof(m.spec),
		"book":   unsafe.Offsetof(m.book) + unsafe.Sizeof(m.book),
		"halted": unsafe.Offsetof(m.halted) + unsafe.Sizeof(m.halted),
		"maxFee": unsafe.Offsetof(m.maxFee) + unsafe.Sizeof(m.maxFee),
		"id":     unsafe.Offsetof(m.id) + unsafe.Sizeof(m.id),
	} {
		if end > 128 {
			t.Errorf("market.%s ends at %d, past two cache lines", name, end)
		}
	}
}
