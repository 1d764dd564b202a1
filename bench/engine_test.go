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
// loop makes it grow. On a loaded machine the loop may get little of the
// CPU, so it runs until CPUTime has grown by 10 ms (or a minute passed).
func TestCPUTime(t *testing.T) {
	if CPUTime() == 0 {
		t.Skip("CPUTime is not measured on " + runtime.GOOS)
	}
	c0, start := CPUTime(), time.Now()
	x := 0
	for CPUTime()-c0 < 10*time.Millisecond {
		for range 100_000 {
			x++
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("a busy loop of %v (%d turns) took %v of CPU", time.Since(start), x, CPUTime()-c0)
		}
	}
}
