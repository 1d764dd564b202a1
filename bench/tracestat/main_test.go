package main

import (
	"bytes"
	"runtime/trace"
	"strings"
	"sync"
	"testing"
	"time"
)

// spinner burns the CPU for d; its goroutines are what the test looks for.
func spinner(d time.Duration, wg *sync.WaitGroup) {
	defer wg.Done()
	for t := time.Now(); time.Since(t) < d; {
	}
}

// sleeper blocks for d.
func sleeper(d time.Duration, wg *sync.WaitGroup) {
	defer wg.Done()
	time.Sleep(d)
}

// TestRead traces two goroutines that spin for 50 ms and one that sleeps
// for 50 ms, and checks that read names them by the function they
// started in and puts their time in the right state.
func TestRead(t *testing.T) {
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go spinner(50*time.Millisecond, &wg)
	go spinner(50*time.Millisecond, &wg)
	go sleeper(50*time.Millisecond, &wg)
	wg.Wait()
	trace.Stop()
	s, err := read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var spin, sleep *times
	for f, x := range s.byFunc {
		switch {
		case strings.HasSuffix(f, ".spinner"):
			spin = x
		case strings.HasSuffix(f, ".sleeper"):
			sleep = x
		}
	}
	if spin == nil || sleep == nil {
		t.Fatalf("spinner or sleeper not found among %d start functions", len(s.byFunc))
	}
	if spin.n != 2 || sleep.n != 1 {
		t.Fatalf("goroutines: %d spinners, %d sleepers, want 2 and 1", spin.n, sleep.n)
	}
	// Two spinners of 50 ms each: running (or runnable, on one P) ≥ 100 ms
	// together; the sleeper waits ≥ 50 ms and hardly runs.
	if got := spin.running + spin.runnable; got < int64(95*time.Millisecond) {
		t.Fatalf("spinners running+runnable %v, want ≥ 95ms", time.Duration(got))
	}
	if sleep.waiting < int64(45*time.Millisecond) || sleep.running > int64(10*time.Millisecond) {
		t.Fatalf("sleeper waiting %v, running %v", time.Duration(sleep.waiting), time.Duration(sleep.running))
	}
	if s.span <= 0 || s.procsRunning <= 0 {
		t.Fatalf("span %d, Ps running %d", s.span, s.procsRunning)
	}
	var out bytes.Buffer
	s.print(&out, 5)
	if !strings.Contains(out.String(), "spinner") {
		t.Fatalf("print: no spinner row in\n%s", out.String())
	}
}

// blocker and lateBlocker wait on ch.
func blocker(ch chan struct{})     { <-ch }
func lateBlocker(ch chan struct{}) { <-ch }

// TestReadToTheEnd traces a goroutine that was blocked before the trace
// began and stays blocked until it ends, and one that blocks soon after
// the trace begins and stays blocked: each waits about the trace's span,
// not nothing (a goroutine's state when the tracer first reports it held
// since the trace began; its state when the trace ends lasts to the end).
func TestReadToTheEnd(t *testing.T) {
	ch := make(chan struct{})
	defer close(ch)
	go blocker(ch)
	time.Sleep(10 * time.Millisecond) // blocked before the trace starts
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	go lateBlocker(ch)
	time.Sleep(50 * time.Millisecond)
	trace.Stop()
	s, err := read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".blocker", ".lateBlocker"} {
		var b *times
		for f, x := range s.byFunc {
			if strings.HasSuffix(f, name) {
				b = x
			}
		}
		if b == nil {
			t.Fatalf("%s not found among %d start functions", name, len(s.byFunc))
		}
		if b.waiting < int64(45*time.Millisecond) {
			t.Errorf("%s waiting %v, want ≥ 45ms (span %v)", name, time.Duration(b.waiting), time.Duration(s.span))
		}
	}
}
