// Command tracestat reads a Go execution trace (istbench's --trace, or
// runtime/trace) and prints, for each kind of goroutine (named by the
// function it started in), how long its goroutines spent running,
// runnable (ready, waiting for a P), waiting (blocked) and in system
// calls, and how long the Ps were running. It answers what a CPU profile
// cannot: whether a pipeline stage is slow because it works, or because
// it waits for a CPU behind other goroutines.
//
//	go run ./cmd/istbench http --profile-phase batch --trace /tmp/b.trace
//	(cd bench/tracestat && go run . /tmp/b.trace)
//
// It is its own module (golang.org/x/exp/trace reads the traces), so the
// main module does not depend on x/exp.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"golang.org/x/exp/trace"
)

func main() {
	top := flag.Int("n", 20, "rows to print, most running first")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: tracestat [-n rows] TRACE")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracestat:", err)
		os.Exit(1)
	}
	defer f.Close()
	s, err := read(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracestat:", err)
		os.Exit(1)
	}
	s.print(os.Stdout, *top)
}

// times is how long goroutines spent in each state, in ns.
type times struct {
	n                                   int // goroutines
	running, runnable, waiting, syscall int64
}

// add counts d ns in state st.
func (x *times) add(st trace.GoState, d int64) {
	switch st {
	case trace.GoRunning:
		x.running += d
	case trace.GoRunnable:
		x.runnable += d
	case trace.GoWaiting:
		x.waiting += d
	case trace.GoSyscall:
		x.syscall += d
	}
}

// stats is what read gathers: per start function, and the Ps' running
// time over the trace's span.
type stats struct {
	span, procsRunning int64
	byFunc             map[string]*times
}

// read reads a whole trace.
func read(r io.Reader) (*stats, error) {
	tr, err := trace.NewReader(r)
	if err != nil {
		return nil, err
	}
	s := &stats{byFunc: map[string]*times{}}
	name := map[trace.GoID]string{}
	goSince := map[trace.GoID]trace.Time{}
	goState := map[trace.GoID]trace.GoState{}
	pSince := map[trace.ProcID]trace.Time{}
	pState := map[trace.ProcID]trace.ProcState{}
	var first, last trace.Time
	of := func(g trace.GoID) *times {
		n := name[g]
		if n == "" {
			n = "(unknown)"
		}
		t := s.byFunc[n]
		if t == nil {
			t = &times{}
			s.byFunc[n] = t
		}
		return t
	}
	for {
		ev, err := tr.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if first == 0 {
			first = ev.Time()
		}
		last = ev.Time()
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		switch st.Resource.Kind {
		case trace.ResourceProc:
			p := st.Resource.Proc()
			from, to := st.Proc()
			if _, ok := pSince[p]; !ok && from == trace.ProcUndetermined {
				// A P that was there when the trace began (see the
				// goroutines' case below).
				pSince[p], pState[p] = first, to
			}
			if t, ok := pSince[p]; ok && pState[p] == trace.ProcRunning {
				s.procsRunning += int64(ev.Time() - t)
			}
			pSince[p], pState[p] = ev.Time(), to
		case trace.ResourceGoroutine:
			g := st.Resource.Goroutine()
			if _, ok := name[g]; !ok {
				// The outermost frame of the first stack seen: the
				// function the goroutine started in.
				outer := ""
				for fr := range st.Stack.Frames() {
					outer = fr.Func
				}
				if outer != "" {
					name[g] = outer
					of(g).n++
				}
			}
			from, to := st.Goroutine()
			if _, ok := goSince[g]; !ok && from == trace.GoUndetermined {
				// A goroutine that was there when the trace began: the
				// tracer reports its state when it first touches it (for
				// one blocked throughout, at the end of the trace's first
				// generation), and it was in that state until then.
				goSince[g], goState[g] = first, to
			}
			if t, ok := goSince[g]; ok {
				of(g).add(goState[g], int64(ev.Time()-t))
			}
			goSince[g], goState[g] = ev.Time(), to
		}
	}
	// What each goroutine and P was doing when the trace ended lasted to
	// its end: one that blocked and stayed blocked has no transition
	// after that.
	for g, t := range goSince {
		of(g).add(goState[g], int64(last-t))
	}
	for p, t := range pSince {
		if pState[p] == trace.ProcRunning {
			s.procsRunning += int64(last - t)
		}
	}
	s.span = int64(last - first)
	return s, nil
}

// print writes the top rows, most running first.
func (s *stats) print(w io.Writer, top int) {
	fmt.Fprintf(w, "span %.3f s; Ps running %.3f s\n", sec(s.span), sec(s.procsRunning))
	fns := make([]string, 0, len(s.byFunc))
	for f := range s.byFunc {
		fns = append(fns, f)
	}
	sort.Slice(fns, func(i, j int) bool {
		a, b := s.byFunc[fns[i]], s.byFunc[fns[j]]
		if a.running != b.running {
			return a.running > b.running
		}
		return fns[i] < fns[j]
	})
	fmt.Fprintf(w, "%-64s %5s %9s %9s %9s %9s\n", "started in", "n", "running", "runnable", "waiting", "syscall")
	for _, f := range fns[:min(top, len(fns))] {
		t := s.byFunc[f]
		fmt.Fprintf(w, "%-64.64s %5d %9.3f %9.3f %9.3f %9.3f\n", f, t.n, sec(t.running), sec(t.runnable), sec(t.waiting), sec(t.syscall))
	}
}

func sec(ns int64) float64 { return float64(ns) / 1e9 }
