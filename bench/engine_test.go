package bench

import (
	"runtime"
	"testing"
	"time"
)

// TestEngineClosedLoop runs a small closed loop and checks what it
// reports: every command served, none refused, a book left behind, and
// the CPU it used.
func TestEngineClosedLoop(t *testing.T) {
	res, err := EngineClosedLoop(EngineConfig{Producers: 4, Commands: 40_000, Accounts: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Commands != 40_000 || res.CmdsPerSec <= 0 || res.Elapsed <= 0 {
		t.Fatalf("commands %d, %.0f/s over %v", res.Commands, res.CmdsPerSec, res.Elapsed)
	}
	if res.Rejected != 0 || res.Trades == 0 || res.Resting == 0 {
		t.Fatalf("rejected %d, trades %d, resting %d", res.Rejected, res.Trades, res.Resting)
	}
	if CPUTime() != 0 && (res.CPUCores <= 0 || res.CPUCores > float64(runtime.NumCPU())+0.5) {
		t.Fatalf("cpu cores %.2f on %d CPUs", res.CPUCores, runtime.NumCPU())
	}
}

// TestCPUTime checks that CPUTime counts this process's work: a busy
// loop adds at least part of its wall time.
func TestCPUTime(t *testing.T) {
	if CPUTime() == 0 {
		t.Skip("CPUTime is not measured on " + runtime.GOOS)
	}
	c0, start := CPUTime(), time.Now()
	x := 0
	for time.Since(start) < 50*time.Millisecond {
		x++
	}
	if d := CPUTime() - c0; d < 10*time.Millisecond {
		t.Fatalf("a 50-ms busy loop (%d turns) took %v of CPU", x, d)
	}
}
