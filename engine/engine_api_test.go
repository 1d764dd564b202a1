package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Tests of the Engine's API contracts: what a caller may do wrong and what
// it is then told, and what the engine promises about Close, Do's dst and
// callbacks.

// mustPanic fails unless fn panics with a message that starts with want.
func mustPanic(t *testing.T, want string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("no panic, want %q", want)
			return
		}
		if msg := fmt.Sprint(r); !strings.HasPrefix(msg, want) {
			t.Errorf("panic %q, want %q", msg, want)
		}
	}()
	fn()
}

// within fails the test unless ch yields within d (a deadlock otherwise
// hangs the whole test binary until its timeout).
func within[T any](t *testing.T, d time.Duration, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: still waiting after %v", what, d)
		panic("unreachable")
	}
}
