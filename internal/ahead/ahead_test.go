package ahead_test

import (
	"sync"
	"testing"

	"github.com/instant-social-trading/ist/internal/ahead"
)

func TestTakeReady(t *testing.T) {
	var a ahead.Array[int64]
	f := a.Ask(1000)
	if f == nil {
		t.Fatal("Ask(1000) = nil on a fresh Array")
	}
	if a.Ask(1000) != nil {
		t.Fatal("a second Ask of the same length returned a function")
	}
	if a.Asked() != 1000 {
		t.Fatalf("Asked = %d, want 1000", a.Asked())
	}
	f()
	s := a.Take(1000)
	if len(s) != 1000 || cap(s) != 1000 {
		t.Fatalf("Take: len %d cap %d, want 1000", len(s), cap(s))
	}
	s[0] = 1
	// Nothing is asked for any more: the next Take makes a new array.
	if s2 := a.Take(1000); &s2[0] == &s[0] || s2[0] != 0 {
		t.Fatal("a second Take returned the first one's array")
	}
	if a.Asked() != 0 {
		t.Fatalf("Asked = %d after Take, want 0", a.Asked())
	}
}

func TestTakeNotReady(t *testing.T) {
	var a ahead.Array[int64]
	f := a.Ask(100)
	s := a.Take(100) // before f ran: a new array
	if len(s) != 100 {
		t.Fatalf("len %d, want 100", len(s))
	}
	f() // too late: what it makes is dropped
	s[0] = 7
	if s2 := a.Take(100); &s2[0] == &s[0] || s2[0] != 0 {
		t.Fatal("Take returned a used array")
	}
}

func TestTakeOtherLength(t *testing.T) {
	var a ahead.Array[byte]
	a.Ask(64)()
	if s := a.Take(128); len(s) != 128 {
		t.Fatalf("len %d, want 128", len(s))
	}
	// The 64 made ahead was dropped by the Take of 128.
	a.Ask(32)()
	if f := a.Ask(64); f == nil {
		t.Fatal("Ask(64) after Ask(32) = nil")
	}
	if s := a.Take(64); len(s) != 64 {
		t.Fatalf("len %d, want 64", len(s))
	}
	if a.Ask(0) != nil || a.Ask(-1) != nil {
		t.Fatal("Ask of nothing returned a function")
	}
}

// TestConcurrent runs the made-ahead functions on other goroutines while
// the owner takes; the race detector checks the hand-over.
func TestConcurrent(t *testing.T) {
	var a ahead.Array[int32]
	var wg sync.WaitGroup
	for i := range 200 {
		n := 1 + i%7*100
		if f := a.Ask(n); f != nil {
			wg.Go(f)
		}
		if i%3 == 0 {
			s := a.Take(n)
			if len(s) != n {
				t.Fatalf("len %d, want %d", len(s), n)
			}
			for j := range s {
				if s[j] != 0 {
					t.Fatal("Take returned an array not zeroed")
				}
				s[j] = int32(j + 1)
			}
		}
	}
	wg.Wait()
}
